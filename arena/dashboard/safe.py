"""Untrusted text (model answers, judge reasoning, question text) as safe markdown.

Streamlit never renders raw HTML unless asked (we never ask), but an answer's `<script>` would
then vanish from the page instead of being shown; we escape HTML so the reader sees exactly what
the model wrote. Image syntax is disarmed too: an answer must not make the reader's browser fetch
a remote URL. Code spans and fenced blocks are left alone (shown verbatim, highlighted)."""

from __future__ import annotations

import re

# A fenced block (``` or ~~~, up to its closing fence or the end) or an inline code span.
_CODE = re.compile(r"(^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*\2[ \t]*$|\Z)|(?<!`)(`+)(?!`)[^`\n]*?(?<!`)\3(?!`))", re.S | re.M)


def escape_text(text: str) -> str:
    """Markdown prose with HTML and image syntax neutralised (backslash escapes render as the
    character itself)."""
    text = text.replace("\\<", "<")  # so an escaped "<" cannot un-escape ours
    text = text.replace("<", "\\<").replace(">", "\\>")
    return text.replace("![", "!\\[")


def safe_markdown(text: object) -> str:
    """`text` as markdown that renders no HTML and loads nothing, code kept verbatim."""
    text = "" if text is None else str(text)
    out, pos = [], 0
    for match in _CODE.finditer(text):
        out.append(escape_text(text[pos : match.start()]))
        out.append(match.group(0))
        pos = match.end()
    out.append(escape_text(text[pos:]))
    return "".join(out)
