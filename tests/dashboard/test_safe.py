"""Untrusted text as markdown: HTML and images disarmed, code verbatim."""

from arena.dashboard.safe import safe_markdown


def test_html_is_escaped():
    assert safe_markdown("<script>alert(1)</script>") == "\\<script\\>alert(1)\\</script\\>"
    assert safe_markdown('<img src=x onerror="alert(1)">') == '\\<img src=x onerror="alert(1)"\\>'


def test_an_escaped_bracket_cannot_undo_ours():
    # "\<" in the input would otherwise become "\\<": a literal backslash, then live HTML.
    assert safe_markdown("\\<script>") == "\\<script\\>"


def test_images_do_not_load():
    assert safe_markdown("![x](http://tracker.example/p.png)") == "!\\[x](http://tracker.example/p.png)"


def test_code_is_kept_verbatim():
    text = "see `<b>` and\n```html\n<div>hi</div>\n```\nafter <i>"
    assert safe_markdown(text) == "see `<b>` and\n```html\n<div>hi</div>\n```\nafter \\<i\\>"


def test_unclosed_fence_is_code_to_the_end():
    assert safe_markdown("a\n```\n<script>") == "a\n```\n<script>"


def test_backtick_runs_of_other_lengths_do_not_close_a_span():
    # "`<img>``" is no code span in markdown, so the tag must be escaped.
    assert safe_markdown("`<img>`` x") == "`\\<img\\>`` x"


def test_none_and_numbers():
    assert safe_markdown(None) == ""
    assert safe_markdown(7.5) == "7.5"
