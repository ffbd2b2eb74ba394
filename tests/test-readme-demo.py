#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""README.md's demo table shows the rows remote-dma-demo prints.

The full demo takes a minute, too long for the suite; what can drift is
checked without running it: the table's two header lines are the ones
examples/remote-dma/device.c prints, its rows are the sizes of
full_sizes[] in examples/remote-dma/main.c, in order and formatted as the
demo formats them, and each row's message counts are the exact ones
(1 whole-run message; ceil(size / 8) 8-byte messages).

usage: test-readme-demo.py SOURCE_DIR
"""
import re
import sys

src = sys.argv[1]
failures = []

readme = open(f"{src}/README.md").read()
m = re.search(r"## Demo[^\n]*\n.*?```\n(.*?)```", readme, re.S)
if not m:
    sys.exit("README.md has no code block under its Demo heading")
lines = m.group(1).splitlines()
header, rows = lines[:2], lines[2:]

want_header = [
    "%-10s %21s %23s %8s %15s" % ("", "messages per transfer",
                                  "throughput (MiB/s)", "", "transfers"),
    "%-10s %10s %10s %11s %11s %8s %7s %7s" % (
        "size", "whole-run", "8-byte", "whole-run", "8-byte", "ratio",
        "whole", "8-byte"),
]
device = open(f"{src}/examples/remote-dma/device.c").read()
for text in ("messages per transfer", "throughput (MiB/s)", "whole-run"):
    if text not in device:
        failures.append(f"device.c no longer prints '{text}': update this test")
for got, want in zip(header, want_header):
    if got.rstrip() != want.rstrip():
        failures.append(f"header line {got!r} is not the demo's {want!r}")


def size_text(size):
    if size >= 1 << 20 and size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size >> 10} KiB"
    return f"{size} B"


main = open(f"{src}/examples/remote-dma/main.c").read()
m = re.search(r"full_sizes\[\]\s*=\s*\{([^}]*)\}", main)
if not m:
    sys.exit("examples/remote-dma/main.c has no full_sizes[]")
sizes = [int(x, 0) for x in re.findall(r"0x[0-9a-fA-F]+|\d+", m.group(1))]
sizes = [s for s in sizes if s]  # the 0 ends the list

labels = [re.match(r"(\d+ (?:B|KiB|MiB))", r).group(1) for r in rows
          if re.match(r"\d+ (?:B|KiB|MiB)", r)]
if labels != [size_text(s) for s in sizes]:
    failures.append(f"README rows {labels} are not the demo's sizes "
                    f"{[size_text(s) for s in sizes]}")
for row, size in zip(rows, sizes):
    cols = row[10:].split()
    if len(cols) < 2 or cols[0] != "1" or cols[1] != str(-(-size // 8)):
        failures.append(f"row {row!r}: message counts are not 1 and "
                        f"{-(-size // 8)}")

if failures:
    sys.exit("\n".join(failures))
print(f"ok: README's demo table has the demo's {len(sizes)} rows")
