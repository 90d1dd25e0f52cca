"""Untrusted text (model answers, judge replies, question text, names and values read from run
files) as markdown that shows exactly what was written and makes the browser load nothing.

Streamlit renders markdown (GitHub-flavoured, plus its own `:color[...]`, `$math$`, emoji) in
almost every element. Guessing which parts of a text are code with a regex disagrees with the
renderer at the edges (an escaped backtick, a backtick in a fence's info string), and what the
guess leaves alone can then be a live image that fetches a URL. So the text is parsed with a
CommonMark parser (markdown-it-py) and written back out: the structure it finds (headings, lists,
emphasis, tables, code) is re-emitted by us, and every character of prose is backslash-escaped
(CommonMark lets any ASCII punctuation be escaped, and then it is plain text). Links, images,
autolinks, raw HTML, entities and reference definitions are switched off in the parser, so they
arrive as prose and show literally. Code goes out in a fence or span longer than any backtick
run inside it, so it cannot end early.

`plain` is for a short piece of text (a model or judge name, an error message that quotes a
file) inside our own markdown; `safe_markdown` for a whole answer, formatting kept."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")
_LANG = re.compile(r"[^\w+#.-]")
# GitHub-flavoured markdown turns bare URLs and e-mail addresses in text into links, after the
# escapes are resolved; a word joiner (invisible) after "://", after "www" and before "@" keeps
# them text. (The raw-text view, st.code, shows the URL without it, for copying.)
_BARE_LINK = re.compile(r"(\\:\\/\\/)|(?<![^\W_])(www)(?=\\\.)|(\\@)", re.I)
_JOINER = "\u2060"
_PARSER = (
    MarkdownIt("commonmark")
    .enable(["table", "strikethrough"])
    .disable(["link", "image", "autolink", "html_inline", "html_block", "reference", "entity"])
)


def plain(text: object) -> str:
    """`text` as markdown that renders as exactly these characters (lines kept)."""
    text = "" if text is None else str(text)
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    return "\\\n".join(_lead(_escape(line)) for line in lines)


def _escape(text: str) -> str:
    """Every ASCII punctuation character backslash-escaped; bare links broken (see _BARE_LINK)."""
    escaped = _PUNCT.sub(r"\\\1", text)
    return _BARE_LINK.sub(_break_link, escaped)


def _break_link(match: re.Match[str]) -> str:
    scheme, www, at = match.groups()
    return scheme + _JOINER if scheme else www + _JOINER if www else _JOINER + at


def _lead(line: str) -> str:
    # Leading spaces would start an indented code block (showing our backslashes); no-break
    # spaces keep the indent without being markdown whitespace.
    stripped = line.lstrip(" \t")
    return "\u00a0" * (len(line) - len(stripped)) + stripped


def safe_markdown(text: object) -> str:
    """`text` as markdown that renders no HTML and loads nothing, formatting and code kept."""
    text = "" if text is None else str(text)
    tree = SyntaxTreeNode(_PARSER.parse(text))
    return _blocks(tree.children, "\n\n")


def _blocks(nodes: list[SyntaxTreeNode], sep: str) -> str:
    return sep.join(part for part in (_block(n) for n in nodes) if part != "")


def _block(node: SyntaxTreeNode) -> str:
    kind = node.type
    if kind == "paragraph":
        return _inline(node.children)
    if kind == "heading":
        return "#" * int(node.tag[1]) + " " + _inline(node.children)
    if kind in ("fence", "code_block"):
        return _fence(node.content, node.info if kind == "fence" else "")
    if kind == "hr":
        return "---"
    if kind == "blockquote":
        inner = _blocks(node.children, "\n\n")
        return "\n".join(">" + (" " + line if line else "") for line in inner.split("\n"))
    if kind in ("bullet_list", "ordered_list"):
        return _list(node)
    if kind == "table":
        return _table(node)
    # Anything else the parser may produce: its text, escaped.
    return plain(node.content)


def _list(node: SyntaxTreeNode) -> str:
    tight = any(p.type == "paragraph" and p.hidden for item in node.children for p in item.children)
    start = int(node.attrs.get("start", 1)) if node.type == "ordered_list" else 0
    delim = node.markup or ("." if start else "-")
    items = []
    for i, item in enumerate(node.children):
        marker = f"{start + i}{delim} " if node.type == "ordered_list" else f"{delim} "
        body = _blocks(item.children, "\n" if tight else "\n\n")
        pad = " " * len(marker)
        lines = body.split("\n")
        items.append("\n".join([marker + lines[0]] + [pad + line if line else "" for line in lines[1:]]))
    return ("\n" if tight else "\n\n").join(items)


def _table(node: SyntaxTreeNode) -> str:
    rows, aligns = [], []
    for section in node.children:
        for row in section.children:
            rows.append([_inline(cell.children, in_table=True) for cell in row.children])
            if section.type == "thead":
                aligns = [str(cell.attrs.get("style", "")) for cell in row.children]
    if not rows:
        return ""
    rule = [{"text-align:left": ":--", "text-align:right": "--:", "text-align:center": ":-:"}.get(a, "---") for a in aligns]
    lines = [rows[0], rule, *rows[1:]]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _fence(code: str, info: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    language = _LANG.sub("", info.split()[0]) if info.strip() else ""
    return f"{fence}{language}\n{code}{'' if code.endswith(chr(10)) or not code else chr(10)}{fence}"


def _inline(nodes: list[SyntaxTreeNode], in_table: bool = False) -> str:
    out = []
    for node in nodes:
        kind = node.type
        if kind == "inline":
            out.append(_inline(node.children, in_table))
        elif kind == "text":
            out.append(_escape(node.content))
        elif kind == "softbreak":
            out.append("\n")
        elif kind == "hardbreak":
            out.append("\\\n")
        elif kind == "code_inline":
            out.append(_span(node.content, in_table))
        elif kind in ("em", "strong", "s"):
            mark = {"em": "*", "strong": "**", "s": "~~"}[kind]
            out.append(mark + _inline(node.children, in_table) + mark)
        else:
            out.append(_escape(node.content))
    return "".join(out)


def _span(code: str, in_table: bool) -> str:
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    ticks = "`" * (longest + 1)
    if in_table:  # a table cell ends at an unescaped pipe, even inside a code span
        code = code.replace("|", "\\|")
    pad = " " if code.startswith("`") or code.endswith("`") or (code.startswith(" ") and code.endswith(" ") and code.strip()) else ""
    return f"{ticks}{pad}{code}{pad}{ticks}"
