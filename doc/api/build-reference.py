#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Builds the API reference (HTML and man(3) pages) with Doxygen, and fails
on anything less than a complete one:

  - any Doxygen warning: an undocumented public function, type, member,
    enum value or macro; a comment that documents a parameter the function
    does not have, or some parameters and not others; a reference
    (dms_x(), DmsType, DmsType.field, DMS_MACRO) to a name that does not
    exist; a gtk-doc comment naming another symbol than the one it
    precedes (see gtkdoc-filter.py);
  - a function of a version script (lib/libdmaspace.sym, ...) missing from
    the reference or without its own man page.

The headers are found when it runs, not listed: every *.h of the source's
include/dmaspace/ and of the build's (generated ones such as version.h).

usage: build-reference.py --doxygen DOXYGEN --outdir DIR
           --include SRC_INCLUDE [--include BUILD_INCLUDE ...]
           [--sym LIBDMASPACE.SYM ...] [--sym-dir LIB_DIR ...]
           [--version VERSION] [--check-only]

Writes DIR/html/ and DIR/man3/ (not with --check-only, which runs the
checks alone). Exit status 0 if the
reference is complete, 1 with the reasons on stderr if not.
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))


def headers(include_dirs):
    """Every public header, each path once, sorted by name."""
    found = {}
    for inc in include_dirs:
        for path in sorted(glob.glob(os.path.join(inc, "dmaspace", "*.h"))):
            found.setdefault(os.path.basename(path), os.path.abspath(path))
    return [found[name] for name in sorted(found)]


def quote(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sym_functions(path):
    """The names a linker version script exports."""
    names = []
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    for m in re.finditer(r"^\s*([A-Za-z_]\w*)\s*;", text, re.M):
        names.append(m.group(1))
    return names


def described(element):
    """True if a Doxygen XML element has a brief or detailed description."""
    for tag in ("briefdescription", "detaileddescription"):
        d = element.find(tag)
        if d is not None and "".join(d.itertext()).strip():
            return True
    return False


class Reference:
    """What the Doxygen XML output documents."""

    def __init__(self, xmldir):
        self.files = []  # names of the header pages ("space.h")
        self.structs = []  # struct and union names
        self.file_members = {}  # name -> kind, at file scope
        self.undocumented = []  # what Doxygen itself does not warn about
        index = ET.parse(os.path.join(xmldir, "index.xml")).getroot()
        for compound in index.iter("compound"):
            kind = compound.get("kind")
            if kind not in ("file", "struct", "union"):
                continue
            path = os.path.join(xmldir, compound.get("refid") + ".xml")
            for cdef in ET.parse(path).getroot().iter("compounddef"):
                name = cdef.findtext("compoundname")
                if kind == "file":
                    if name.endswith(".md"):
                        continue
                    self.files.append(name)
                else:
                    self.structs.append(name)
                for member in cdef.iter("memberdef"):
                    mname = member.findtext("name")
                    mkind = member.get("kind")
                    if kind == "file":
                        self.file_members[mname] = mkind
                    # Doxygen warns about undocumented members, but not
                    # about the values of a documented enum.
                    for value in member.iter("enumvalue"):
                        vname = value.findtext("name")
                        if kind == "file":
                            self.file_members[vname] = "enumvalue"
                        if not described(value):
                            self.undocumented.append(
                                "%s: enum value %s of %s is not documented"
                                % (name, vname, mname))


def man_pages(mandir, ref):
    """Doxygen's man pages, made fit to install into man3/: header pages
    named dmaspace_NAME.h.3 (not types.h.3, a name other packages may
    use), one page (a .so link) per function, type, macro and enum value,
    none for struct members (data.3, size.3...). Returns the problems."""
    problems = []
    renamed = {}
    for name in ref.files:
        base = os.path.basename(name)
        page = os.path.join(mandir, base + ".3")
        if not os.path.exists(page):
            problems.append("no man page for %s" % name)
            continue
        renamed[base + ".3"] = "dmaspace_%s.3" % base
        os.rename(page, os.path.join(mandir, renamed[base + ".3"]))
    keep = set(renamed.values())
    keep.update(n + ".3" for n in ref.structs)
    keep.update(n + ".3" for n in ref.file_members)
    for page in sorted(os.listdir(mandir)):
        path = os.path.join(mandir, page)
        if page not in keep:
            os.remove(path)
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        m = re.match(r"\.so man3/(\S+)\n?$", text)
        if m:
            target = renamed.get(m.group(1), m.group(1))
            if target not in keep:
                problems.append("man page %s links to a missing %s"
                                % (page, target))
            with open(path, "w", encoding="utf-8") as f:
                f.write(".so man3/%s\n" % target)
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--doxygen", required=True)
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--include", action="append", required=True)
    ap.add_argument("--sym", action="append", default=[])
    ap.add_argument("--sym-dir", action="append", default=[],
                    help="every *.sym below this directory, too")
    ap.add_argument("--check-only", action="store_true",
                    help="no HTML or man pages: only the checks")
    ap.add_argument("--version", default="")
    args = ap.parse_args()

    outdir = os.path.abspath(args.outdir)
    work = os.path.join(outdir, "doxygen.tmp")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    inputs = headers(args.include)
    if not inputs:
        sys.stderr.write("no header in %s\n" % " ".join(
            os.path.join(i, "dmaspace") for i in args.include))
        return 1
    inputs.append(os.path.join(HERE, "index.md"))
    strip = [os.path.abspath(i) + os.sep for i in args.include]
    strip.append(HERE + os.sep)

    with open(os.path.join(HERE, "Doxyfile"), encoding="utf-8") as f:
        config = f.read()
    log = os.path.join(work, "warnings.log")
    filter_cmd = "%s %s" % (sys.executable,
                            os.path.join(HERE, "gtkdoc-filter.py"))
    config += "\n# --- set by build-reference.py\n"
    config += "PROJECT_NUMBER = %s\n" % quote(args.version)
    config += "OUTPUT_DIRECTORY = %s\n" % quote(work)
    config += "INPUT = %s\n" % " ".join(quote(p) for p in inputs)
    config += "STRIP_FROM_PATH = %s\n" % " ".join(quote(p) for p in strip)
    config += "STRIP_FROM_INC_PATH = %s\n" % " ".join(
        quote(os.path.abspath(i)) for i in args.include)
    config += "INPUT_FILTER = %s\n" % quote(filter_cmd)
    config += "FILTER_PATTERNS = %s\n" % quote("*.h=" + filter_cmd)
    config += "WARN_LOGFILE = %s\n" % quote(log)
    if args.check_only:
        config += "GENERATE_HTML = NO\nGENERATE_MAN = NO\n"
    syms = list(args.sym)
    for d in args.sym_dir:
        syms += sorted(glob.glob(os.path.join(d, "**", "*.sym"),
                                 recursive=True))

    proc = subprocess.run([args.doxygen, "-"], input=config, text=True,
                          cwd=work, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    problems = []
    warnings = ""
    if os.path.exists(log):
        with open(log, encoding="utf-8", errors="replace") as f:
            warnings = f.read().strip()
    if proc.returncode != 0 or warnings:
        # Doxygen repeats the warnings of the log on its output.
        problems.append("doxygen (exit %d):\n%s" % (
            proc.returncode, warnings or proc.stdout.strip()))

    mandir = os.path.join(work, "man", "man3")
    if not problems:
        ref = Reference(os.path.join(work, "xml"))
        problems += ref.undocumented
        if not args.check_only:
            problems += man_pages(mandir, ref)
        functions = {name for name, kind in ref.file_members.items()
                     if kind == "function"}
        for sym in dict.fromkeys(os.path.abspath(s) for s in syms):
            for name in sym_functions(sym):
                if name not in functions:
                    problems.append("%s: %s is exported but not in the "
                                    "API reference" % (sym, name))
                elif not args.check_only and \
                        not os.path.exists(os.path.join(mandir, name + ".3")):
                    problems.append("%s: %s has no man page" % (sym, name))

    if problems:
        sys.stderr.write("API reference incomplete:\n")
        for p in problems:
            sys.stderr.write("  " + p.replace("\n", "\n    ") + "\n")
        return 1

    if args.check_only:
        shutil.rmtree(work, ignore_errors=True)
        return 0
    # Publish: replace the previous outputs only when this one is good.
    for name, src in (("html", os.path.join(work, "html")),
                      ("man3", mandir)):
        dst = os.path.join(outdir, name)
        if os.path.isdir(dst):
            shutil.rmtree(dst)
        elif os.path.exists(dst):
            os.remove(dst)
        shutil.move(src, dst)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
