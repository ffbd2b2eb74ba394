/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fixture of the SG engine tests (test-dma-engine*.c): a space of RAM,
 * a hole and a bulk message region, a device with a linear "disk" whose
 * I/O function records each batch and can fail, fall short, stay pending
 * or cancel, and helpers that run a request on the fixture's context.
 *
 * Every test drives the request's GMainContext by hand, so the state a
 * cancellation hits is known exactly. The teardown checks that no bounce
 * budget is still lent.
 */
#ifndef TEST_ENGINE_FIXTURE_H
#define TEST_ENGINE_FIXTURE_H

#include "tc.h"

/*
 * The space:
 *   [0x10000, 0x20000)   RAM
 *   [0x20000, 0x30000)   nothing
 *   [0x40000, 0x50000)   bulk message region
 */
#define RAM_BASE 0x10000u
#define RAM_SIZE 0x10000u
#define HOLE_BASE 0x20000u
#define MSG_BASE 0x40000u
#define MSG_SIZE 0x10000u
#define SEED 5

/* ---- the device side: a linear "disk" and a recording I/O function ---- */

typedef struct Dev {
    uint8_t disk[0x20000];
    GMainContext *ctx;
    /* behaviour */
    bool async;        /* leave the batch pending for the test */
    uint64_t fail_at;  /* fail once this many bytes were moved... */
    int fail_error;    /* ...with this error (0 = never) */
    uint64_t short_at; /* stop here without error (0 = never) */
    size_t overclaim;  /* report this many bytes more than moved */
    bool cancel_in_io; /* dms_dma_cancel() from the I/O function */
    int cancel_in_io_result;
    bool cancel_in_complete;
    int cancel_in_complete_result;
    DmsSgList *add_in_complete; /* try dms_sglist_add() there */
    int add_in_complete_result;
    /* records */
    unsigned io_calls;
    uint64_t offsets[256];
    size_t batch_lens[256];
    unsigned iovcnts[256];
    bool io_on_ctx, complete_on_ctx;
    DmsDmaRequest *pending;
    size_t pending_len;
    unsigned completions;
    uint64_t transferred;
    int result;
    DmsDirection dir;
} Dev;

void dev_io(DmsDmaRequest *req, uint64_t offset, const DmsIovec *iov,
            unsigned iovcnt, void *data);
void dev_complete(DmsDmaRequest *req, uint64_t transferred, int result,
                  void *data);

/* ---- the fixture ---- */

typedef struct Fix {
    uint8_t ram[RAM_SIZE];
    MemDev *bulk;       /* its memory holds memdev_pattern(i, SEED) */
    DmsSgList *sg;      /* from params_of(), or NULL */
    DmsDmaRequest *req; /* from submit(), or NULL */
    Dev dev;
    DmsRegion *root;
    DmsSpace *space;
    GMainContext *ctx;
    void *held; /* from hold_budget(), or NULL */
    size_t held_len;
} Fix;

int fix_setup(void **state);
int fix_teardown(void **state);
/* A cmocka test that runs on the fixture. */
#define ENGINE_TEST(name)                                                     \
    cmocka_unit_test_setup_teardown(name, fix_setup, fix_teardown)

/* Runs the context until nothing is ready to dispatch. */
void drain(Fix *f);
DmsSpaceStats stats(Fix *f);
DmsSgList *list_of(Fix *f, const uint64_t (*entries)[2], size_t n);
DmsDmaParams params_for(Fix *f, DmsSgList *sg, DmsDirection dir);
/*
 * Params for a request of @dir over a new list of @n (addr, len) @entries,
 * which the fixture keeps (and drops at teardown) as f->sg.
 */
DmsDmaParams params_of(Fix *f, DmsDirection dir, const uint64_t (*entries)[2],
                       size_t n);
/*
 * params_of() over @n entries of @len bytes, the i-th at @base + i *
 * @stride (@stride may be negative).
 */
DmsDmaParams params_strided(Fix *f, DmsDirection dir, uint64_t base,
                            int64_t stride, uint64_t len, size_t n);
/* params_of() with the entries given inline: PARAMS(f, dir, {a, l}...). */
#define PARAMS(f, dir, ...)                                                   \
    params_of((f), (dir), (const uint64_t[][2]){__VA_ARGS__},                 \
              sizeof((const uint64_t[][2]){__VA_ARGS__}) /                    \
                  sizeof(uint64_t[2]))
/* Submits @p, which must be accepted; the fixture drops the request at
 * teardown. */
DmsDmaRequest *submit(Fix *f, const DmsDmaParams *p);
/* Submits, runs to the end, and checks the completion ran exactly once. */
void run_request(Fix *f, const DmsDmaParams *p);
/*
 * Sets the bounce limit to @limit and maps @held bytes of it (to-device,
 * away from the tests' addresses), as another user of the space would,
 * until release_budget() gives them back.
 */
void hold_budget(Fix *f, size_t limit, size_t held);
void release_budget(Fix *f);
/* The request completed once, with @result after @transferred bytes. */
void assert_completed(Fix *f, int result, uint64_t transferred);
/* The request ended with @result after @transferred bytes in @io_calls. */
void assert_outcome(Fix *f, int result, uint64_t transferred,
                    unsigned io_calls);
/*
 * The request completed once, cancelled, after @transferred bytes in
 * @io_calls, and no bounce budget is left lent.
 */
void assert_cancelled(Fix *f, uint64_t transferred, unsigned io_calls);
/* The bytes the list describes, gathered from the fixture's memory. */
void gather(Fix *f, DmsSgList *sg, uint8_t *out);

#endif /* TEST_ENGINE_FIXTURE_H */
