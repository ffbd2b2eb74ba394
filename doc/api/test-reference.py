#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Tests of the API reference (doc/api.md).

usage:
  test-reference.py built OUTDIR SYM...
      The reference the build made (OUTDIR/html, OUTDIR/man3): every
      function of the version scripts has a man page that resolves to a
      page describing it, and an entry in the HTML.
  test-reference.py defects BUILD_REFERENCE_PY [ITS ARGUMENTS...]
      The checks can fail: build-reference.py runs on copies of the
      headers, each with one defect, and must fail naming it; on the
      unchanged copy it must pass.

Prints TAP.
"""

import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

# The TAP helpers the tests' Python scripts share.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests"))
import tap  # noqa: E402

ok = tap.ok


def sym_functions(path):
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    return re.findall(r"^\s*([A-Za-z_]\w*)\s*;", text, re.M)


# --- built ------------------------------------------------------------------

def test_built(outdir, syms):
    man3 = os.path.join(outdir, "man3")
    html = os.path.join(outdir, "html")
    pages = set(os.listdir(man3)) if os.path.isdir(man3) else set()
    ok(pages, "man3 has pages", man3)
    html_text = ""
    for path in glob.glob(os.path.join(html, "*.html")):
        with open(path, encoding="utf-8", errors="replace") as f:
            html_text += f.read()
    ok(html_text, "html has pages", html)
    functions = []
    for sym in syms:
        functions += sym_functions(sym)
    ok(functions, "the version scripts list functions", " ".join(syms))
    missing_man = []
    missing_html = []
    for name in functions:
        page = os.path.join(man3, name + ".3")
        text = ""
        if os.path.exists(page):
            with open(page, encoding="utf-8") as f:
                text = f.read()
            m = re.match(r"\.so man3/(\S+)", text)
            if m:
                target = os.path.join(man3, m.group(1))
                text = ""
                if os.path.exists(target):
                    with open(target, encoding="utf-8") as f:
                        text = f.read()
        # The page documents the function: its name as a heading
        # (.SS "int name (...)") of the page.
        if not re.search(r'^\.SS ".*\b%s \(' % re.escape(name), text, re.M):
            missing_man.append(name)
        if not re.search(r'\b%s\b' % re.escape(name), html_text):
            missing_html.append(name)
    ok(not missing_man, "every exported function has a man page",
       "no page or no entry: " + " ".join(missing_man))
    ok(not missing_html, "every exported function is in the HTML",
       "missing: " + " ".join(missing_html))
    # No page named after a struct member (data.3, size.3): only library
    # names and the header pages.
    stray = [p for p in pages
             if not re.match(r"^(dms_|Dms|DMS_|dmaspace_)", p)]
    ok(not stray, "man3 holds only the library's names",
       "stray pages: " + " ".join(sorted(stray)))


# --- defects ----------------------------------------------------------------

def option(args, name):
    return [args[i + 1] for i, a in enumerate(args) if a == name]


def without(args, name):
    out = []
    skip = False
    for a in args:
        if skip:
            skip = False
        elif a == name:
            skip = True
        else:
            out.append(a)
    return out


def first_header_with(incdir, pattern):
    """(path, match) of the first header whose text matches pattern."""
    for path in sorted(glob.glob(os.path.join(incdir, "dmaspace", "*.h"))):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        m = re.search(pattern, text, re.M)
        if m:
            return path, m
    return None, None


def replace_match(path, m, group, new):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = text[:m.start(group)] + new + text[m.end(group):]
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def doc_comment_of(name):
    return r"(/\*\*\n \* %s:\n(?: \*.*\n)*? \*/\n)DMS_PUBLIC" % name


# Each defect: (name, pattern in some header, group to replace, new text,
# what the failure must mention). The patterns name symbols that are
# central to the API; if one disappears, this test says so rather than
# passing without testing.
DEFECTS = [
    ("undocumented function: the doc comment of dms_space_map removed",
     doc_comment_of("dms_space_map"), 1, "", "dms_space_map"),
    ("undocumented macro: the comment above DMS_SIZE_ALL removed",
     r"(/\*[^*][^\n]*\*/\n)#define DMS_SIZE_ALL\b", 1, "", "DMS_SIZE_ALL"),
    ("undocumented struct member: DmsSpaceStats.bad_unmaps",
     r"uint64_t bad_unmaps;( +/\*[^\n]*\*/)", 1, "", "bad_unmaps"),
    ("undocumented enum value: DMS_ENDIAN_BIG",
     r"DMS_ENDIAN_BIG = 1,( +/\*[^\n]*\*/)", 1, "", "DMS_ENDIAN_BIG"),
    ("undocumented type: the doc comment of DmsMapClient removed",
     r"(/\*\*\n \* DmsMapClient:\n(?: \*.*\n)*? \*/\n)typedef", 1, "",
     "DmsMapClient"),
    ("broken reference: dms_space_unmap() misspelt in a comment",
     r"/\*\*\n \* dms_space_map:\n(?: \*.*\n)*? \* .*(dms_space_unmap)\(\)",
     1, "dms_space_unmapp", "dms_space_unmapp"),
    ("broken reference: a DMS_ constant misspelt in a comment",
     r"/\*\*\n \* dms_space_check:\n(?: \*.*\n)*? \* .*(DMS_DIR_TO_DEVICE)",
     1, "DMS_DIR_TO_DEVICES", "DMS_DIR_TO_DEVICES"),
    ("broken reference: a field of DmsMessageOps that does not exist",
     r"/\*\*\n \* DmsAccessSizes:\n(?: \*.*\n)*? \* .*DmsMessageOps\.(valid)",
     1, "validity", "validity"),
    ("a parameter the function does not have: @addr of dms_space_map",
     r"/\*\*\n \* dms_space_map:\n \* @space: .*\n \* @(addr):", 1,
     "address", "address"),
    ("incomplete: @addr of dms_space_map no longer documented",
     r"/\*\*\n \* dms_space_map:\n \* @space: .*\n( \* @addr: .*\n)", 1, "",
     "addr"),
    ("a comment naming another function than the one it precedes",
     r"/\*\*\n \* (dms_space_map):", 1, "dms_space_mop", "dms_space_mop"),
]


def run(script, args, incdir, extra=()):
    cmd = [sys.executable, script] + args + ["--include", incdir,
                                             "--check-only"] + list(extra)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    return proc.returncode, proc.stdout


def test_defects(script, args):
    includes = option(args, "--include")
    base_args = without(args, "--include")
    work = tempfile.mkdtemp(prefix="dms-docs-test.")
    try:
        # One include dir with every header, the source's and the build's.
        clean = os.path.join(work, "clean")
        os.makedirs(os.path.join(clean, "dmaspace"))
        for inc in includes:
            for h in glob.glob(os.path.join(inc, "dmaspace", "*.h")):
                shutil.copy(h, os.path.join(clean, "dmaspace"))
        outdir = os.path.join(work, "out")
        rc, out = run(script, base_args + ["--outdir", outdir], clean)
        ok(rc == 0, "the unchanged headers pass", out)

        def one(k):
            name, pattern, group, new, mention = DEFECTS[k]
            copy = os.path.join(work, "case%d" % k)
            shutil.copytree(clean, copy)
            path, m = first_header_with(copy, pattern)
            if not m:
                return (False, name, "no header matches %r: the headers "
                        "changed, update this test" % pattern)
            replace_match(path, m, group, new)
            rc, out = run(script, base_args + [
                "--outdir", os.path.join(work, "out%d" % k)], copy)
            return (rc != 0 and mention in out, name,
                    "exit %d, output:\n%s" % (rc, out))

        # Two at a time: Doxygen is single-threaded, and mostly waits.
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            for result in pool.map(one, range(len(DEFECTS))):
                ok(*result)

        # A version script exporting a function the headers do not
        # document.
        sym = os.path.join(work, "extra.sym")
        with open(sym, "w", encoding="utf-8") as f:
            f.write("DMASPACE_TEST {\nglobal:\n    dms_not_documented;\n"
                    "local:\n    *;\n};\n")
        rc, out = run(script, base_args + ["--outdir", outdir], clean,
                      ["--sym", sym])
        ok(rc != 0 and "dms_not_documented" in out,
           "an exported function missing from the reference",
           "exit %d, output:\n%s" % (rc, out))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "built":
        test_built(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) >= 3 and sys.argv[1] == "defects":
        test_defects(sys.argv[2], sys.argv[3:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return tap.report()


if __name__ == "__main__":
    sys.exit(main())
