/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Schedule points: DMS_SCHED_POINT() marks a step of a lifetime or
 * wake-up protocol (doc/design.md) where another thread's step could
 * fall in between. In a normal build it expands to nothing. Built with
 * -Dsched_points=true (the ASan and TSan stages of tests/run-all.sh) it
 * yields or spins for a short random time, so that a race window of a
 * few instructions stays open for thousands of the other thread's
 * instructions and the stress tests hit it in seconds, not in days.
 *
 * Each point names its protocol step in a comment; tests/model/ has the
 * Promela models of the same steps (doc/testing.md, "Models").
 * DMS_SCHED_POINTS=0 in the environment turns the delays off in such a
 * build (to measure what they buy).
 */
#ifndef DMS_SCHED_POINT_H
#define DMS_SCHED_POINT_H

#ifdef DMS_SCHED_POINTS
void dms__sched_point(void);
#define DMS_SCHED_POINT() dms__sched_point()
#else
#define DMS_SCHED_POINT() ((void)0)
#endif

#endif /* DMS_SCHED_POINT_H */
