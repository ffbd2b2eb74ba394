#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Doxygen INPUT_FILTER: the gtk-doc comments of include/dmaspace/*.h
turned into Doxygen commands, so the headers stay written in one style.

usage: gtkdoc-filter.py HEADER      (prints the filtered header)

What it rewrites (everything else passes through unchanged, line for line,
so Doxygen's warnings keep pointing at the right lines of the header):

  /**                              /**
   * dms_x_y:                       * @param[out] ret <em>(out)</em> text
   * @ret: (out): text              * @returns text
   *                                * ...
   * Returns: text                  */
   */

  - "@arg: (annotations): text" becomes \\param with the direction Doxygen
    knows ([in,out], [out]) and every annotation kept visible;
  - "Returns:" becomes \\returns, "Since:" \\since, "Deprecated:" \\deprecated;
  - the @field lines of a struct's or enum's comment document its members;
  - in running text, @arg becomes \\p arg, and references to the library's
    own names (dms_x(), DmsType, DmsType.field, #DmsType, DMS_MACRO)
    become \\ref commands, so a reference to a name that does not exist is
    a Doxygen warning (and the build fails on warnings);
  - the comment naming a different symbol than the declaration after it
    becomes a warning too;
  - the plain comment at the top of a header documents the file (\\file);
  - a plain comment directly above a run of declarations or #defines (no
    blank line between) documents each of them, as the header's reader
    sees it; a comment after a #define, struct member or enum value on the
    same line documents that one.

Only the Python standard library is used.
"""

import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


class Item:
    """One top-level piece of the header: a comment, a preprocessor line,
    a declaration or definition, or blank space."""

    def __init__(self, kind, start, end):
        self.kind = kind  # 'comment', 'pp', 'decl', 'space'
        self.start = start
        self.end = end


def scan(text):
    """Splits text into top-level items. Comments inside a declaration stay
    part of it (they are handled by the member pass)."""
    items = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\n":
            j = i
            while j < n and text[j] in " \t\n":
                j += 1
            items.append(Item("space", i, j))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            items.append(Item("comment", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            items.append(Item("comment", i, j))
            i = j
        elif c == "#":
            j = i
            while j < n:
                if text[j] == "\n" and text[j - 1] != "\\":
                    break
                if text.startswith("/*", j):
                    # A comment after the directive is its own item.
                    break
                j += 1
            # Trailing blanks belong to the space item.
            k = j
            while k > i and text[k - 1] in " \t":
                k -= 1
            items.append(Item("pp", i, k))
            i = k
        else:
            j = end_of_declaration(text, i)
            items.append(Item("decl", i, j))
            i = j
    return items


def skip_literal(text, i):
    """text[i] opens a string or character literal: index after it."""
    quote = text[i]
    i += 1
    while i < len(text) and text[i] != quote:
        i += 2 if text[i] == "\\" else 1
    return i + 1


def end_of_declaration(text, i):
    """End of the declaration or definition starting at i: after the ';'
    at depth 0, or after the '}' closing a function body, or at a line
    starting with '#' when outside any bracket (extern "C" {)."""
    depth = 0
    n = len(text)
    function_body = False
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c in "\"'":
            i = skip_literal(text, i)
            continue
        if c in "([{":
            if c == "{" and depth == 0:
                if is_linkage_block(text, i):
                    return i + 1
                # A function body ends the definition; a struct or enum
                # body is followed by its declarators and a ';'.
                function_body = strip_comments(text[:i]).rstrip() \
                    .endswith(")")
            depth += 1
        elif c in ")]}":
            depth -= 1
            if c == "}" and depth == 0 and function_body:
                return i + 1
            if depth < 0:
                return i + 1
        elif c == ";" and depth == 0:
            return i + 1
        elif c == "\n" and depth == 0 and text[i + 1:i + 2] == "#":
            return i
        i += 1
    return n


def is_linkage_block(text, i):
    line_start = text.rfind("\n", 0, i) + 1
    return text[line_start:i].strip().startswith("extern")


# --- what a declaration declares ------------------------------------------

def strip_comments(code):
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.S)
    return re.sub(r"//[^\n]*", " ", code)


def declared(code):
    """(kind, name) of a declaration, #define or definition."""
    code = strip_comments(code).strip()
    m = re.match(r"#\s*define\s+(" + IDENT + r")", code)
    if m:
        return "macro", m.group(1)
    if code.startswith("#"):
        return "pp", None
    m = re.match(r"typedef\s+(struct|enum|union)\s+(" + IDENT +
                 r")?\s*\{.*\}\s*(" + IDENT + r")\s*;", code, re.S)
    if m:
        return m.group(1), m.group(3)
    m = re.match(r"(struct|enum|union)\s+(" + IDENT + r")\s*\{", code)
    if m:
        return m.group(1), m.group(2)
    m = re.match(r"typedef\s[^;(]*\(\s*\*\s*(" + IDENT + r")\s*\)", code)
    if m:
        return "callback", m.group(1)
    m = re.match(r"typedef\s.*?(" + IDENT + r")\s*;$", code, re.S)
    if m:
        return "typedef", m.group(1)
    m = re.search(r"(" + IDENT + r")\s*\(", code)
    if m and not code.startswith("typedef"):
        return "function", m.group(1)
    return "other", None


def members(code, start, kind):
    """(name, end offset) of each member of a struct/enum body in code,
    offsets relative to start."""
    open_ = code.find("{")
    close = code.rfind("}")
    out = []
    body = code[open_ + 1:close]
    base = start + open_ + 1
    depth = 0
    seg_start = 0
    i = 0
    sep = "," if kind == "enum" else ";"
    while i <= len(body):
        if i < len(body) and body.startswith("/*", i):
            j = body.find("*/", i + 2)
            i = len(body) if j < 0 else j + 2
            continue
        c = body[i] if i < len(body) else sep
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == sep and depth == 0 or i == len(body):
            seg = strip_comments(body[seg_start:i]).strip()
            if seg:
                if kind == "enum":
                    m = re.match(IDENT, seg)
                    name = m.group(0) if m else None
                else:
                    m = re.search(r"\(\s*\*\s*(" + IDENT + r")\s*\)", seg)
                    if not m:
                        m = re.search(r"(" + IDENT + r")\s*(\[[^]]*\]\s*)*"
                                      r"(:\s*\d+\s*)?$", seg)
                    name = m.group(1) if m else None
                # The end: after the separator (enum's last value may have
                # none).
                end = base + i + (1 if i < len(body) else 0)
                if i == len(body):
                    end = base + seg_start + len(body[seg_start:].rstrip())
                out.append((name, end))
            seg_start = i + 1
        i += 1
    return out


# --- text of comments -------------------------------------------------------

def comment_lines(comment):
    """The lines of a block comment without the /*, */ and leading ' * '."""
    body = comment
    body = re.sub(r"^/\*\*?", "", body)
    body = re.sub(r"\*/$", "", body)
    lines = body.split("\n")
    out = []
    for line in lines:
        line = re.sub(r"^\s*\* ?", "", line, count=1)
        out.append(line.rstrip())
    return out


def refs(text, params=(), placeholders=True):
    """Running text to Doxygen: @arg, references to the library's names.
    Code spans (`...`) and quoted text ("...") are left alone, but for the
    @ of a parameter name."""
    parts = re.split(r"(`[^`]*`|\"[^\"\n]*\")", text)
    out = []
    for k, part in enumerate(parts):
        if k % 2 == 1:
            # Doxygen prints quoted text as it is: no commands in there.
            if part.startswith('"'):
                part = re.sub(r"(?<![\w@])@(" + IDENT + r")", r"\1", part)
            out.append(part)
            continue
        p = part
        # Words Doxygen would take for HTML tags or commands.
        p = re.sub(r"<(?=[A-Za-z/!])", r"\\<", p)
        p = re.sub(r"%(" + IDENT + r")", r"\1", p)
        p = re.sub(r"(?<![\w@])@(" + IDENT + r")",
                   lambda m: "\\p " + m.group(1), p)
        # gtk-doc's #Type is a reference to a type.
        p = re.sub(r"#(Dms[A-Z]\w*)", r"\1", p)
        p = re.sub(r"(?<![\w\\])#(?=\w)", r"\\#", p)
        p = re.sub(r"(?<![\w\\\"])(Dms[A-Z][A-Za-z0-9]*)\.(" + IDENT + ")",
                   lambda m: '\\ref %s::%s "%s.%s"' % (m.group(1), m.group(2),
                                                      m.group(1), m.group(2)),
                   p)
        p = re.sub(r"(?<![\w\\\":])(Dms[A-Z][A-Za-z0-9]*)\b(?![\".:])",
                   r'\\ref \1 "\1"', p)
        p = re.sub(r"(?<![\w\\\"])(dms_\w+)\(\)",
                   lambda m: '\\ref %s "%s()"' % (m.group(1), m.group(1)), p)
        p = re.sub(r"(?<![\w\\\"])(DMS_[A-Z0-9_]*[A-Z0-9])\b(?![_*])",
                   r'\\ref \1 "\1"', p)
        out.append(p)
    return "".join(out)


def text_lines(lines):
    """Comment lines to Doxygen: refs() on each, and a run of lines
    indented by two or more spaces (a table of error codes, say) kept
    as written, unless it continues an item of a "- " list."""
    out = []
    in_list = False
    k = 0
    while k < len(lines):
        line = lines[k]
        if line.strip() == "":
            in_list = False
        elif re.match(r"^\s{0,3}[-*] ", line):
            in_list = True
        elif not in_list and line.startswith("  "):
            j = k
            while j < len(lines) and lines[j].startswith("  "):
                j += 1
            # On the lines around it, so that line numbers stay.
            if out:
                out[-1] += " \\verbatim"
            else:
                out.append("\\verbatim")
            out.extend(lines[k:j])
            out[-1] += " \\endverbatim"
            k = j
            continue
        out.append(refs(line))
        k += 1
    return out


DIRECTIONS = {"out": "[out]", "inout": "[in,out]", "in": "[in]"}


def split_annotations(text):
    """'(out) (optional): rest' -> (['out', 'optional'], 'rest')."""
    anns = []
    m = re.match(r"^((?:\([a-z][a-z -]*\)\s*)+):?\s*", text)
    if m:
        anns = re.findall(r"\(([a-z][a-z -]*)\)", m.group(1))
        text = text[m.end():]
    return anns, text


def visible(anns):
    return " ".join("<em>(%s)</em>" % a for a in anns)


class GtkDoc:
    """A parsed gtk-doc comment."""

    def __init__(self, lines):
        self.name = None
        self.params = []  # (name, annotations, text)
        self.body = []
        self.tags = []  # (command, annotations, text)
        m = re.match(r"^(" + IDENT + r"):\s*(.*)$", lines[0].strip()) \
            if lines else None
        self.name = m.group(1) if m else None
        rest = lines[1:]
        k = 0
        cur = None
        while k < len(rest):
            line = rest[k]
            pm = re.match(r"^@(" + IDENT + r"|\.\.\.):\s*(.*)$", line)
            if pm:
                anns, text = split_annotations(pm.group(2))
                cur = [pm.group(1), anns, text]
                self.params.append(cur)
            elif line.strip() == "":
                if self.params or k > 0:
                    k += 1
                    break
            elif cur is not None and line.startswith(" "):
                cur[2] += " " + line.strip()
            else:
                break
            k += 1
        body = rest[k:]
        tag = None
        for line in body:
            tm = re.match(r"^(Returns|Since|Deprecated):\s*(.*)$", line)
            if tm:
                anns, text = split_annotations(tm.group(2))
                tag = [tm.group(1), anns, text]
                self.tags.append(tag)
            elif tag is not None and line.strip() != "":
                tag[2] += " " + line.strip()
            else:
                tag = None
                self.body.append(line)
        while self.body and self.body[-1] == "":
            self.body.pop()
        while self.body and self.body[0] == "":
            self.body.pop(0)


def doxygen_block(doc, kind, lines_count, declared_name):
    """A Doxygen comment of lines_count lines (when it fits) for doc. The
    @fields of a struct or enum are not in it: member_docs() puts them at
    the members."""
    out = []
    if declared_name is not None and doc.name != declared_name:
        out.append("\\warning \\ref gtkdoc_comment_names_%s_but_declares_%s"
                   % (doc.name, declared_name))
    if kind in ("function", "callback", "macro"):
        for name, anns, text in doc.params:
            direction = ""
            for a in anns:
                d = DIRECTIONS.get(a.split()[0])
                if d:
                    direction = d
            if name == "...":
                out.append("\\param ... %s" % refs(text))
                continue
            out.append("\\param%s %s %s %s" % (direction, name, visible(anns),
                                              refs(text)))
    if doc.body:
        out.append("")
        out.extend(text_lines(doc.body))
    for tag, anns, text in doc.tags:
        cmd = {"Returns": "\\returns", "Since": "\\since",
               "Deprecated": "\\deprecated"}[tag]
        out.append("")
        out.append("%s %s %s" % (cmd, visible(anns), refs(text)))
    return render_block(out, lines_count)


def render_block(out, lines_count):
    """A /** ... */ block of at least lines_count lines (padded), so that
    the lines after it keep their numbers whenever that is possible."""
    while len(out) + 2 < lines_count:
        out.append("")
    if len(out) + 2 > lines_count and out and out[-1] == "":
        out.pop()
    text = "/**\n" + "\n".join(" * " + line if line else " *"
                               for line in out) + "\n */"
    return text


def plain_to_doc(comment, trailing=False):
    lines = comment_lines(comment)
    while lines and lines[0].strip() == "":
        lines.pop(0)
    while lines and lines[-1].strip() == "":
        lines.pop()
    if trailing:
        text = [refs(line.strip()) for line in lines]
    else:
        text = text_lines(lines)
    if trailing:
        return "/**< " + " ".join(text) + " */"
    if "\n" not in comment:
        return "/** " + " ".join(t.strip() for t in text) + " */"
    return render_block(text, comment.count("\n") + 1)


def filter_header(text):
    items = scan(text)
    edits = {}  # start -> (end, replacement)
    inserts = []  # (offset, text)
    file_doc_done = False
    file_type = None
    saw_code = False

    def next_code(k):
        """Index of the next non-space item after k, and whether a blank
        line came between."""
        blank = False
        j = k + 1
        while j < len(items) and items[j].kind == "space":
            if text.count("\n", items[j].start, items[j].end) > 1:
                blank = True
            j += 1
        return j, blank

    def same_line_before(k):
        """The item ends a line that also holds code: a trailing comment."""
        it = items[k]
        line_start = text.rfind("\n", 0, it.start) + 1
        return text[line_start:it.start].strip() != ""

    def run_after(k):
        """Items of the run of declarations that directly follow item k."""
        run = []
        j, blank = next_code(k)
        if blank:
            return run
        while j < len(items) and items[j].kind in ("decl", "pp"):
            kind, _ = declared(text[items[j].start:items[j].end])
            if kind in ("pp", "other"):
                break
            run.append(j)
            j2, blank = next_code(j)
            # A trailing comment belongs to the item before it.
            if j2 < len(items) and items[j2].kind == "comment" and \
                    same_line_before(j2):
                j2, blank = next_code(j2)
            if blank:
                break
            j = j2
        return run

    k = 0
    while k < len(items):
        it = items[k]
        chunk = text[it.start:it.end]
        if it.kind == "comment":
            is_doc = chunk.startswith("/**") and not chunk.startswith("/***")
            if same_line_before(k):
                # A comment after a #define on the same line documents it;
                # members' trailing comments are handled with their body.
                prev = k - 1
                while prev >= 0 and items[prev].kind == "space":
                    prev -= 1
                if prev >= 0 and items[prev].kind == "pp" and \
                        declared(text[items[prev].start:items[prev].end])[0] \
                        == "macro" and not is_doc:
                    edits[it.start] = (it.end, plain_to_doc(chunk, True))
            elif is_doc:
                lines = comment_lines(chunk)
                while lines and lines[0].strip() == "":
                    lines.pop(0)
                if lines and re.match(r"^" + IDENT + r":(\s|$)",
                                      lines[0].strip()):
                    doc = GtkDoc(lines)
                    j, _ = next_code(k)
                    kind, name = ("other", None)
                    if j < len(items):
                        kind, name = declared(text[items[j].start:
                                                   items[j].end])
                    if kind not in ("function", "callback", "macro", "struct",
                                    "enum", "union", "typedef"):
                        name = None
                    edits[it.start] = (it.end, doxygen_block(
                        doc, kind, chunk.count("\n") + 1, name))
                    if kind in ("struct", "enum", "union") and doc.params:
                        member_docs(text, items[j], kind, doc, inserts)
            elif chunk.startswith("/*") and not chunk.startswith("/* SPDX"):
                if not file_doc_done and not saw_code:
                    lines = comment_lines(chunk)
                    file_type = file_comment_type(lines)
                    edits[it.start] = (it.end, "/** \\file\n" + "\n".join(
                        " * " + line if line else " *"
                        for line in text_lines(lines[1:])) + "/")
                    file_doc_done = True
                else:
                    run = run_after(k)
                    if run:
                        doc = plain_to_doc(chunk)
                        for j in run:
                            if j == run[0]:
                                edits[it.start] = (it.end, doc)
                            else:
                                inserts.append((items[j].start,
                                                flatten(doc) + " "))
        elif it.kind == "decl":
            saw_code = True
            kind, name = declared(chunk)
            # Export macros (DMS_PUBLIC, a module's DMS_VFU_PUBLIC) are
            # not part of what a reader calls.
            m = re.match(r"DMS_[A-Z0-9_]*PUBLIC\b", chunk)
            if m:
                edits[it.start] = (it.start + m.end(), "")
            prev = k - 1
            while prev >= 0 and items[prev].kind == "space":
                prev -= 1
            if kind == "typedef" and file_type and name == file_type[0] and \
                    (prev < 0 or items[prev].kind != "comment"):
                # "DmsRegion: a range of ..." at the top of region.h
                # documents the type the header is about.
                inserts.append((it.start, "/** %s */ " % refs(file_type[1])))
            if kind in ("struct", "enum", "union"):
                trailing_member_docs(text, it, inserts, edits)
        k += 1

    # Apply: edits replace ranges, inserts add text at offsets.
    pieces = []
    pos = 0
    events = sorted([(s, 1, e, r) for s, (e, r) in edits.items()] +
                    [(o, 0, o, t) for o, t in inserts])
    for start, _, end, repl in events:
        if start < pos:
            continue
        pieces.append(text[pos:start])
        pieces.append(repl)
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def file_comment_type(lines):
    """("DmsRegion", first paragraph) if the file comment starts with
    "DmsRegion: ...", else None."""
    paragraph = []
    for line in lines:
        if line.strip() == "":
            if paragraph:
                break
            continue
        paragraph.append(line.strip())
    m = re.match(r"^(Dms[A-Z]\w*): (.*)$", " ".join(paragraph))
    if not m:
        return None
    return m.group(1), m.group(2)[:1].upper() + m.group(2)[1:]


def flatten(block):
    """A block comment on one line (an inserted copy must not shift the
    line numbers of what follows)."""
    words = []
    for line in comment_lines(block):
        if line.strip():
            words.append(line.strip())
        elif words and words[-1] != "<p>":
            words.append("<p>")  # keep the paragraphs
    while words and words[-1] == "<p>":
        words.pop()
    return "/** " + " ".join(words) + " */"


def member_docs(text, item, kind, doc, inserts):
    code = text[item.start:item.end]
    found = {name: end for name, end in members(code, item.start, kind)}
    for name, anns, mtext in doc.params:
        words = refs(mtext)
        if anns:
            words = visible(anns) + " " + words
        if name in found:
            inserts.append((found[name], " /**< " + words + " */"))
        else:
            inserts.append((item.start, "/** \\ref gtkdoc_comment_of_%s_names"
                            "_no_member_%s */ " % (doc.name, name)))


def trailing_member_docs(text, item, inserts, edits):
    """Plain comments after a member on the same line document it."""
    code = text[item.start:item.end]
    for m in re.finditer(r"/\*(?!\*)(.*?)\*/", code, re.S):
        start = item.start + m.start()
        line_start = text.rfind("\n", 0, start) + 1
        if text[line_start:start].strip() == "":
            continue
        edits[start] = (item.start + m.end(),
                        "/**< " + refs(" ".join(m.group(1).split())) + " */")


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: gtkdoc-filter.py HEADER\n")
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    sys.stdout.write(filter_header(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
