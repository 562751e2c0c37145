#!/usr/bin/env python3
# Copyright 2026 mrp_backflush authors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Generate README.rst from the readme/*.md fragments, OCA style.

OCA's oca-gen-addon-readme is not on PyPI, so this is a small stand-in with
the same layout: title, summary, table of contents, then the fragments, and
Credits. A Quick start section (readme/INSTALL.md) comes first, because the
README must open with the two commands. The converter knows the Markdown the
fragments use: paragraphs, headings, bullet and numbered lists (nested),
fenced code blocks, **bold**, *italic*/_italic_, `code`, [links](url) and
images alone on their line, ``![alt](../static/description/x.png){width=360}``
(the path relative to readme/, the width optional, Pandoc's syntax).

    python3 scripts/gen_readme.py          # write README.rst
    python3 scripts/gen_readme.py --check  # exit 1 if README.rst is stale
"""

import argparse
import ast
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 88
MODULE = "mrp_backflush"

# (fragment, section title); INSTALL is the Quick start, before the contents.
SECTIONS = [
    ("DESCRIPTION.md", "Description"),
    ("CONFIGURE.md", "Configuration"),
    ("USAGE.md", "Usage"),
    ("ROADMAP.md", "Known issues / Roadmap"),
    ("DEVELOP.md", "Development"),
]
HEADING_CHARS = {1: "=", 2: "-", 3: "~", 4: "^"}


# ---------------------------------------------------------------------------
# Markdown -> reStructuredText
# ---------------------------------------------------------------------------
NBSP = "\x00"  # keeps a literal on one line while wrapping


def _inline(text):
    """Convert inline Markdown to reStructuredText."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for n, part in enumerate(parts):
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            literal = "``%s``" % part[1:-1].replace(" ", NBSP)
            # reST inline markup must be set apart by spaces or punctuation
            if out and re.search(r"\w$", out[-1]):
                literal = "\\ " + literal
            if n + 1 < len(parts) and re.match(r"\w", parts[n + 1]):
                literal += "\\ "
            out.append(literal)
            continue
        part = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"`\1 <\2>`__", part)
        part = re.sub(r"(?<![\w*])_([^_\s][^_]*?)_(?![\w])", r"*\1*", part)
        out.append(part)
    return "".join(out)


def _wrap(text, indent):
    return _fill(text, indent, indent)


def _fill(text, first, rest):
    return textwrap.fill(
        text,
        width=WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    ).replace(NBSP, " ")


_LIST_RE = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+(.*)$")
_HEADING_RE = re.compile(r"^(#{1,4})\s+(.*?)\s*#*\s*$")
_IMAGE_RE = re.compile(r"^!\[([^\]]*)\]\(\.\./([^)\s]+)\)(?:\{width=(\d+)\})?\s*$")


class _Converter:
    """Line-based Markdown to reST; ``#`` headings start at ``base_level``."""

    def __init__(self, md, base_level):
        self.lines = md.splitlines()
        self.base_level = base_level
        self.out = []
        self.para = []  # lines of the current paragraph
        self.item = None  # (reST indent, marker, [text lines]) of the current item
        self.list_stack = []  # Markdown indents of the open (nested) lists

    def flush_para(self):
        if self.para:
            text = _inline(" ".join(s.strip() for s in self.para))
            self.out += [_wrap(text, ""), ""]
            self.para = []

    def flush_item(self):
        if self.item:
            indent, marker, texts = self.item
            first = indent + marker + " "
            text = _inline(" ".join(t.strip() for t in texts))
            self.out.append(_fill(text, first, " " * len(first)))
            self.item = None

    def close_lists(self):
        self.flush_item()
        if self.list_stack:
            self.list_stack = []
            self.out.append("")

    def fence(self, i, lang):
        self.flush_para()
        self.close_lists()
        i += 1
        code = []
        while i < len(self.lines) and not self.lines[i].strip().startswith("```"):
            code.append(self.lines[i])
            i += 1
        self.out += [".. code-block:: %s" % (lang or "text"), ""]
        self.out += [("   " + c) if c.strip() else "" for c in code]
        self.out.append("")
        return i + 1  # after the closing fence

    def heading(self, hashes, title):
        self.flush_para()
        self.close_lists()
        level = min(self.base_level + len(hashes) - 1, 4)
        title = _inline(title)
        self.out += [title, HEADING_CHARS[level] * len(title), ""]

    def image(self, alt, path, width):
        self.flush_para()
        self.close_lists()
        self.out += [".. image:: " + path, "   :alt: " + alt]
        if width:
            self.out.append("   :width: %spx" % width)
        self.out.append("")

    def list_item(self, md_indent, marker, text):
        self.flush_para()
        self.flush_item()
        marker = "-" if marker in "-*+" else marker.rstrip(").") + "."
        kind = marker == "-"
        stack = self.list_stack  # [md indent, reST indent, bullet?, text column]
        while stack and md_indent < stack[-1][0]:
            stack.pop()
            self.out.append("")
        if stack and md_indent == stack[-1][0] and kind != stack[-1][2]:
            stack.pop()  # another kind of list at the same level: a new list
            self.out.append("")
        if not stack or md_indent > stack[-1][0]:
            if stack:
                self.out.append("")  # reST wants a blank line before a sublist
            # a sublist is indented to the text of its parent item
            stack.append([md_indent, stack[-1][3] if stack else 0, kind, 0])
        indent = " " * stack[-1][1]
        stack[-1][3] = len(indent) + len(marker) + 1
        self.item = (indent, marker, [text])

    def blank(self, i):
        self.flush_para()
        # a blank line ends a list unless an item or an indented line follows
        nxt = next((ln for ln in self.lines[i + 1 :] if ln.strip()), "")
        if self.list_stack and not _LIST_RE.match(nxt) and not nxt.startswith(" "):
            self.close_lists()

    def text(self, line):
        if self.item and line.startswith(" "):
            self.item[2].append(line.strip())
            return
        if self.list_stack:
            self.close_lists()
        self.para.append(line)

    def convert(self):
        i = 0
        while i < len(self.lines):
            line = self.lines[i]
            fence = re.match(r"^\s*```\s*(\w*)\s*$", line)
            heading = _HEADING_RE.match(line)
            listed = _LIST_RE.match(line)
            image = _IMAGE_RE.match(line)
            if fence:
                i = self.fence(i, fence.group(1))
                continue
            if heading:
                self.heading(heading.group(1), heading.group(2))
            elif image:
                self.image(*image.groups())
            elif listed:
                self.list_item(len(listed.group(1)), listed.group(2), listed.group(3))
            elif not line.strip():
                self.blank(i)
            else:
                self.text(line)
            i += 1
        self.flush_para()
        self.close_lists()
        while self.out and not self.out[-1]:
            self.out.pop()
        return "\n".join(self.out) + "\n"


def md_to_rst(md, base_level=2):
    """Convert a Markdown fragment; its ``#`` headings start at ``base_level``."""
    return _Converter(md, base_level).convert()


# ---------------------------------------------------------------------------
# README layout
# ---------------------------------------------------------------------------
def _section(title, body, char="="):
    return "%s\n%s\n\n%s" % (title, char * len(title), body)


def build(root=ROOT):
    manifest = ast.literal_eval((root / "__manifest__.py").read_text(encoding="utf-8"))
    readme = root / "readme"
    name = manifest["name"]
    parts = [
        ".. !! This file is generated by scripts/gen_readme.py from readme/*.md.\n"
        "   Edit the fragments, then run: python3 scripts/gen_readme.py\n",
        "%s\n%s\n%s\n" % ("=" * len(name), name, "=" * len(name)),
        "%s\n\n*Technical name:* ``%s`` *· version* ``%s`` *· license* %s\n"
        % (
            _wrap(manifest.get("summary", ""), ""),
            MODULE,
            manifest["version"],
            manifest.get("license", ""),
        ),
    ]
    install = readme / "INSTALL.md"
    if install.is_file():
        parts.append(_section("Quick start", md_to_rst(install.read_text("utf-8"))))
    parts.append("**Table of contents**\n\n.. contents::\n   :local:\n   :depth: 1\n")
    for fragment, title in SECTIONS:
        path = readme / fragment
        if path.is_file():
            parts.append(_section(title, md_to_rst(path.read_text("utf-8"))))
    credits = ["Authors\n-------\n\n* %s\n" % manifest.get("author", "")]
    contributors = readme / "CONTRIBUTORS.md"
    if contributors.is_file():
        credits.append(
            "Contributors\n------------\n\n"
            + md_to_rst(contributors.read_text("utf-8"), base_level=3)
        )
    extra = readme / "CREDITS.md"
    if extra.is_file():
        credits.append(
            "Other credits\n-------------\n\n"
            + md_to_rst(extra.read_text("utf-8"), base_level=3)
        )
    parts.append(_section("Credits", "\n".join(credits)))
    if manifest.get("website"):
        parts.append(
            "This module is maintained at `%s <%s>`__.\n"
            % (manifest["website"], manifest["website"])
        )
    return "\n".join(parts)


def check_rst(text):
    """Problems docutils reports (warnings and above); [] if none or no docutils."""
    try:
        import docutils.core
        import docutils.utils
    except ImportError:
        return []
    problems = []

    class Collect:
        def write(self, msg):
            problems.append(msg.strip())

    docutils.core.publish_doctree(
        text,
        settings_overrides={
            "report_level": docutils.utils.Reporter.WARNING_LEVEL,
            "halt_level": docutils.utils.Reporter.SEVERE_LEVEL + 1,
            "warning_stream": Collect(),
            "syntax_highlight": "none",
        },
    )
    return [p for p in problems if p]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if README.rst is not up to date"
    )
    args = parser.parse_args(argv)
    text = build()
    problems = check_rst(text)
    if problems:
        print("README.rst would not be valid reStructuredText:", file=sys.stderr)
        print("\n".join(problems), file=sys.stderr)
        return 1
    target = ROOT / "README.rst"
    if args.check:
        current = target.read_text("utf-8") if target.is_file() else ""
        if current != text:
            print(
                "README.rst is out of date: run python3 scripts/gen_readme.py",
                file=sys.stderr,
            )
            return 1
        print("README.rst is up to date.")
        return 0
    target.write_text(text, encoding="utf-8")
    print("Wrote %s" % target.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
