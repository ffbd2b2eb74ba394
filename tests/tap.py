# SPDX-License-Identifier: BSD-3-Clause
"""TAP output for the project's Python tests: record checks, then report.

    import tap
    tap.ok(cond, "name", "detail printed as a comment when it fails")
    sys.exit(tap.report())
"""

results = []


def ok(cond, name, detail=""):
    """Records one check; its detail is shown only if it failed."""
    results.append((bool(cond), name, detail))


def failed():
    """Whether any check recorded so far failed."""
    return any(not good for good, _, _ in results)


def report():
    """Prints the plan and one line per check; 1 if any failed, else 0."""
    print("1..%d" % len(results))
    for i, (good, name, detail) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if good else "not ok", i, name))
        if not good:
            for line in detail.strip().splitlines():
                print("# " + line)
    return 1 if failed() else 0
