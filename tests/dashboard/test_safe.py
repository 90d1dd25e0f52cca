"""Untrusted text as markdown: no HTML, no image or link, code verbatim, and every view routes
its untrusted text through the sanitiser.

The sanitised markdown is rendered here by a CommonMark renderer with everything switched on
(raw HTML, links, images, entities); the real browser check is test_xss_browser.py."""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from arena.dashboard.safe import plain, safe_markdown

RENDER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
URL = "http://127.0.0.1:9/p.png"
PAYLOADS = {
    # The reviewer's four: an escaped backtick before an image, a backtick in a fence's info string.
    "escaped backtick": f"Answer one \\`![a]({URL})` end",
    "backtick in info string": f"Answer two\n```x`y\n![b]({URL})",
    "model name": f"![c]({URL})",
    "csv cell": f"line 2: rating: expected a number, got '![d]({URL})'",
    "reference image": f"![x][1]\n\n[1]: {URL}",
    "reference link": f"[click][r]\n\n[r]: {URL} 'title'",
    "collapsed reference": f"![x][]\n\n[x]: <{URL}>",
    "inline link": f"[a]({URL})",
    "autolink": f"<{URL}>",
    "email autolink": "<someone@example.com>",
    "html image": f'<img src="{URL}">',
    "html block": f"<div>\n<img src={URL}>\n</div>",
    "script": "<script>alert(1)</script>",
    "entity tag": f"&lt;img src={URL}&gt;",
    "entity bang": f"&#33;[x]({URL})",
    "entity bracket": f"!&#91;x&#93;({URL})",
    "escaped bracket undone": f"\\![x]({URL}) and \\\\![y]({URL})",
    "nested backticks": f"``a`![n]({URL})`` then `![m]({URL})`` and ``` `![o]({URL})",
    "double backslash before span": f"\\\\`![p]({URL})`",
    "image in list": f"- item\n  ![q]({URL})\n\n> ![r]({URL})",
    "image in table": f"| a | b |\n|---|---|\n| ![s]({URL}) | `x|y` |",
    "image in heading": f"# ![t]({URL})\n\nSetext ![u]({URL})\n===",
    "image in emphasis": f"**![v]({URL})** _[w]({URL})_",
    "fence closed by longer fence": f"````\n```\n````\n![z]({URL})",
    "tilde fence": f"~~~ `x\n![t]({URL})\n~~~",
    "indented code then image": f"    ![k]({URL})\n![l]({URL})",
    "streamlit colour and math": f":red[![x]({URL})] $\\href{{{URL}}}{{x}}$",
}


def rendered(markdown: str) -> str:
    return RENDER.render(markdown)


def visible(markup: str) -> str:
    # Without the invisible word joiners safe.py puts in bare URLs.
    return html.unescape(re.sub(r"<[^>]+>", "", markup.replace("<br />", ""))).replace("\u2060", "")


@pytest.mark.parametrize("name", PAYLOADS)
def test_payload_renders_no_image_link_or_html(name: str):
    for sanitise in (safe_markdown, plain):
        markup = rendered(sanitise(PAYLOADS[name]))
        tags = set(re.findall(r"<([a-z0-9]+)", markup))
        assert not tags & {"img", "a", "script", "div", "iframe"}, (sanitise.__name__, markup)
        assert "http://127.0.0.1" not in re.sub(r">[^<]*<", "><", markup), markup  # the URL only as text


@pytest.mark.parametrize("name", PAYLOADS)
def test_plain_shows_exactly_the_text(name: str):
    text = PAYLOADS[name]
    lines = visible(rendered(plain(text))).strip("\n").split("\n")
    assert [line.strip() for line in lines] == [line.strip() for line in text.split("\n")]
    # Indents kept as no-break spaces (a paragraph's first line is trimmed by the renderer).
    assert all(line.startswith("\u00a0" * (len(o) - len(o.lstrip()))) for line, o in zip(lines[1:], text.split("\n")[1:]))


def test_payload_text_stays_visible():
    shown = visible(rendered(safe_markdown(PAYLOADS["escaped backtick"])))
    assert f"Answer one `![a]({URL})` end" in shown
    shown = visible(rendered(safe_markdown(PAYLOADS["reference image"])))
    assert "![x][1]" in shown and f"[1]: {URL}" in shown
    assert "<script>alert(1)</script>" in visible(rendered(safe_markdown(PAYLOADS["script"])))
    assert f"&lt;img src={URL}&gt;" in visible(rendered(safe_markdown(PAYLOADS["entity tag"])))


def test_formatting_and_code_are_kept():
    text = "# Title\n\n1. a **bold** `<b>`\n2. ~~old~~ *new*\n\n> quoted\n\n```html\n<div>hi</div>\n```\n\n| x | y |\n|:--|--:|\n| 1 | 2 |\n"
    markup = rendered(safe_markdown(text))
    for tag in ("<h1>", "<ol>", "<strong>bold</strong>", "<code>&lt;b&gt;</code>", "<s>old</s>", "<em>new</em>", "<blockquote>", "<table>"):
        assert tag in markup, markup
    assert '<code class="language-html">&lt;div&gt;hi&lt;/div&gt;\n</code>' in markup


def test_code_cannot_end_its_fence_or_span_early():
    code = "```\n![x](u)\n````"
    markup = rendered(safe_markdown(f"`````\n{code}\n`````\n"))
    assert f"<pre><code>{html.escape(code, quote=False)}\n</code></pre>" in markup
    markup = rendered(safe_markdown("`` a ` ![x](u) ``"))
    assert "<code>a ` ![x](u)</code>" in markup


def test_unclosed_fence_is_code_to_the_end():
    assert "<pre><code>&lt;script&gt;\n</code></pre>" in rendered(safe_markdown("a\n```\n<script>"))


def test_none_and_numbers():
    assert safe_markdown(None) == "" and plain(None) == ""
    assert visible(rendered(safe_markdown(7.5))).strip() == "7.5"


# Streamlit calls whose first argument is rendered as markdown.
MARKDOWN_CALLS = {"markdown", "caption", "error", "warning", "info", "success", "write", "title", "header", "subheader", "toast", "exception"}
SANITISERS = {"plain", "safe_markdown"}
VIEWS = sorted((Path(__file__).resolve().parents[2] / "arena" / "dashboard").glob("*.py"))


def _is_safe(node: ast.expr) -> bool:
    """A literal, a sanitiser's result, or an f-string/join of those."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SANITISERS:
        return True
    if isinstance(node, ast.JoinedStr):
        return all(_is_safe(v.value) if isinstance(v, ast.FormattedValue) else True for v in node.values)
    if isinstance(node, ast.BinOp):
        return _is_safe(node.left) and _is_safe(node.right)
    if isinstance(node, ast.BoolOp):
        return all(_is_safe(v) for v in node.values)
    if isinstance(node, ast.Name) and node.id in ("verdict", "head"):
        return True  # built above from literals and sanitised parts (checked by _is_safe on their assignments)
    return False


@pytest.mark.parametrize("path", VIEWS, ids=lambda p: p.name)
def test_every_markdown_element_gets_sanitised_text(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    unsafe = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MARKDOWN_CALLS and node.args:
            if not _is_safe(node.args[0]):
                unsafe.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id in ("verdict", "head") for t in targets) and not _is_safe(node.value):
                unsafe.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert not unsafe, "untrusted text into markdown without safe.plain/safe_markdown:\n" + "\n".join(unsafe)
