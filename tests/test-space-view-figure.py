#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""doc/space-view.svg tells the truth.

usage: test-space-view-figure.py check SVG
       test-space-view-figure.py extract SVG FIGURE

The SVG carries what it draws in data-* attributes: regions (data-kind,
data-name, data-parent, data-offset, data-size, data-priority, and for
aliases data-target and data-target-offset) and the rows of the view
(data-first, data-last, data-region, data-region-offset).

check: the picture is well-formed XML, its boxes are drawn to the scale it
claims and its labels say what the attributes say. Prints TAP.

extract: writes the tree and the view as FIGURE, for the test
space-view-figure (tests/space-view-figure.c), which builds the tree with
the public API and fails unless the library renders the view drawn.
"""

import re
import sys
import xml.etree.ElementTree as ET

import tap

SVG = "{http://www.w3.org/2000/svg}"
TOP = 90  # y of address 0
BYTES_PER_PX = 128

ok = tap.ok


def num(text):
    return int(text, 0) if text else None


def texts(group):
    return " ".join("".join(t.itertext()) for t in group.iter(SVG + "text"))


def first_rect(group):
    return group.find(SVG + "rect")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "check":
        return check(sys.argv[2], None)
    if len(sys.argv) == 4 and sys.argv[1] == "extract":
        return check(sys.argv[2], sys.argv[3])
    sys.stderr.write(__doc__)
    return 2


def check(svg, figure):
    try:
        root = ET.parse(svg).getroot()
    except ET.ParseError as e:
        ok(False, "the SVG is well-formed XML", str(e))
        return tap.report()
    ok(root.tag == SVG + "svg", "the SVG is well-formed XML with an <svg> root")

    regions = [g for g in root.iter(SVG + "g") if g.get("data-kind")]
    rows = [g for g in root.iter(SVG + "g") if g.get("data-first")]
    ok(regions and regions[0].get("data-parent") == "",
       "the picture has a tree whose first region is the root",
       "regions: %d" % len(regions))
    ok(rows, "the picture has a view")
    if not regions or not rows:
        return tap.report()

    # The tree as drawn: absolute addresses, drawn to scale, labelled.
    by_name = {}
    lines = []
    for g in regions:
        name = g.get("data-name")
        parent = g.get("data-parent")
        offset = num(g.get("data-offset"))
        size = num(g.get("data-size"))
        base = 0
        if parent:
            ok(parent in by_name, "%s: its parent %s is drawn before it"
               % (name, parent))
            base = by_name.get(parent, 0) + offset
        by_name[name] = base
        ok(re.search(r"\b%s\b" % re.escape(name), texts(g)),
           "%s: the box is labelled with its name" % name, texts(g))
        if parent:
            rect = first_rect(g)
            want_y = TOP + base / BYTES_PER_PX
            want_h = size / BYTES_PER_PX
            ok(rect is not None and float(rect.get("y")) == want_y and
               float(rect.get("height")) == want_h,
               "%s: drawn to scale at 0x%04X..0x%04X" % (name, base,
                                                        base + size - 1),
               "want y=%g height=%g, rect %s" % (
                   want_y, want_h, rect.attrib if rect is not None else None))
        line = "%s %s %s 0x%x 0x%x %d" % (
            g.get("data-kind"), name, parent or "-", offset, size,
            int(g.get("data-priority")))
        if g.get("data-kind") == "alias":
            line += " %s 0x%x" % (g.get("data-target"),
                                  num(g.get("data-target-offset")))
        lines.append(line)

    # The view as drawn.
    drawn = []
    for g in rows:
        first, last = num(g.get("data-first")), num(g.get("data-last"))
        region = g.get("data-region") or "-"
        offset = num(g.get("data-region-offset"))
        drawn.append("0x%04X 0x%04X %s %s" % (
            first, last, region, "-" if offset is None else "0x%04X" % offset))
        label = texts(g)
        want = ["0x%04X-0x%04X" % (first, last)]
        want += [region, "+0x%04X" % offset] if region != "-" else ["nothing"]
        ok(all(w in label for w in want),
           "view row 0x%04X-0x%04X: the label says %s" % (first, last,
                                                          " ".join(want)),
           label)
        rect = first_rect(g)
        ok(rect is not None and
           float(rect.get("y")) == TOP + first / BYTES_PER_PX and
           float(rect.get("height")) == (last - first + 1) / BYTES_PER_PX,
           "view row 0x%04X-0x%04X: drawn to scale" % (first, last),
           str(rect.attrib if rect is not None else None))

    # The view covers the root, row after row.
    expect = 0
    for g in rows:
        first, last = num(g.get("data-first")), num(g.get("data-last"))
        ok(first == expect and last >= first,
           "view row 0x%04X-0x%04X follows the row before" % (first, last))
        expect = last + 1
    root_size = num(regions[0].get("data-size"))
    ok(expect == root_size, "the view ends where the root ends",
       "view ends at 0x%X, root size 0x%X" % (expect, root_size))

    if figure is None:
        return tap.report()
    # For the C test: nothing to print, only the file (or the failures).
    if tap.failed():
        return tap.report()
    with open(figure, "w", encoding="utf-8") as f:
        f.write("# from %s\n" % svg)
        f.write("".join("region %s\n" % line for line in lines))
        f.write("".join("view %s\n" % line for line in drawn))
    return 0


if __name__ == "__main__":
    sys.exit(main())
