"""Tests for rich-text sanitising, link checks and the plain-text rendering of HTML."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commsapp.services.html_sanitize import (
    RICH_TEXT_TAGS,
    html_to_text,
    is_safe_link,
    sanitize_rich_text,
    strip_invalid_characters,
)
from tests.html_tags import parsed_tags

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<svg><a xlink:href='javascript:alert(1)'><text>x</text></a></svg>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    '<a href="java\x00script:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105'
    "&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040"
    '&#0000049&#0000041">x</a>',
    '<a href="javascript&colon;alert(1)">x</a>',
    '<a href="  &#14;javascript:alert(1)">x</a>',
    '<A HREF="JAVASCRIPT:alert(1)" ONMOUSEOVER="alert(1)">x</A>',
    '<a href="https://ok.example" onmouseover="alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="VBScript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "<body onload=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<p style="width:expression(alert(1))">x</p>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<scr<script>ipt>alert(1)</script>",
    '<form action="javascript:alert(1)"><button>x</button></form>',
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<link rel="stylesheet" href="javascript:alert(1)">',
    "<style>@import 'javascript:alert(1)';</style>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<img """><script>alert(1)</script>">',
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    "<xss onafterscriptexecute=alert(1)><script>1</script>",
    "<p onclick=alert(1)>x</p>",
    "<h2 onmouseover=alert(1)>x</h2>",
    '<blockquote cite="javascript:alert(1)">x</blockquote>',
    '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
    "<video><source onerror=alert(1)></video>",
    "<template><img src=x onerror=alert(1)></template>",
    '<a href="https://ok.example" style="color:red" class="x" id="y" target="_top">x</a>',
]

FORBIDDEN_TAGS = {
    "script",
    "iframe",
    "svg",
    "img",
    "style",
    "object",
    "embed",
    "form",
    "base",
    "meta",
    "link",
    "input",
    "body",
    "math",
    "template",
}


def assert_harmless(html: str) -> None:
    """Only allowed tags, no event handlers, no style, and only safe link targets."""
    for tag, attrs in parsed_tags(html):
        assert tag in RICH_TEXT_TAGS, tag
        assert tag not in FORBIDDEN_TAGS, tag
        assert not any(name.startswith("on") for name in attrs), attrs
        if tag == "a":
            assert set(attrs) <= {"href", "rel"}, attrs
            assert attrs["rel"] == "noopener noreferrer"
            if "href" in attrs:
                assert is_safe_link(attrs["href"]), attrs["href"]
        else:
            assert attrs == {}, (tag, attrs)
    lowered = html.lower()
    for scheme in ("javascript:", "vbscript:", "data:"):
        assert f'="{scheme}' not in lowered


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_payload_is_neutralised(payload):
    """No script, event handler, dangerous tag or dangerous URL survives sanitising."""
    assert_harmless(sanitize_rich_text(payload))


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_payload_wrapped_in_allowed_markup_is_neutralised(payload):
    """Payloads stay harmless when nested inside allowed tags."""
    assert_harmless(sanitize_rich_text(f"<p><strong>Hi</strong> {payload}</p><ul><li>x</li></ul>"))


def test_payload_list_is_long_enough():
    """The payload list covers at least the 25 cheat-sheet cases agreed on."""
    assert len(XSS_PAYLOADS) >= 25


def test_script_and_style_content_is_dropped_not_shown():
    """The code inside script and style does not turn into visible text."""
    cleaned = sanitize_rich_text("<p>a</p><script>alert(1)</script><style>p{color:red}</style>b")
    assert cleaned == "<p>a</p>b"


def test_allowed_formatting_survives():
    """Paragraphs, emphasis, headings, lists, quotes and line breaks are kept as they are."""
    html = (
        "<h2>Title</h2><h3>Sub</h3>"
        "<p>Hi <strong>bold</strong> <b>b</b> <em>em</em> <i>i</i> <u>u</u> <s>s</s><br>next</p>"
        "<ul><li>one</li></ul><ol><li>two</li></ol><blockquote>quote</blockquote>"
    )
    assert sanitize_rich_text(html) == html


def test_disallowed_tags_lose_the_tag_but_keep_the_text():
    """A div or span is unwrapped so the studio's words are not lost."""
    assert sanitize_rich_text('<div class="x"><span style="color:red">Hello</span></div>') == (
        "Hello"
    )


@pytest.mark.parametrize(
    "href",
    [
        "https://studio.example/book?a=1&amp;b=2",
        "http://studio.example/",
        "mailto:hi@studio.example",
    ],
)
def test_http_https_and_mailto_links_survive(href):
    """Safe links keep their target and gain rel=noopener noreferrer."""
    assert sanitize_rich_text(f'<a href="{href}">Book</a>') == (
        f'<a href="{href}" rel="noopener noreferrer">Book</a>'
    )


def test_link_with_a_variable_placeholder_is_kept_for_filling_later():
    """`href="{{booking_link}}"` survives so the variable can be filled before the final pass."""
    assert sanitize_rich_text('<a href="{{booking_link}}">Book</a>') == (
        '<a href="{{booking_link}}" rel="noopener noreferrer">Book</a>'
    )


@pytest.mark.parametrize(
    "href", ["/book", "//evil.example/x", "book.html", "ftp://files.example/x"]
)
def test_relative_and_other_scheme_links_lose_their_target(href):
    """Email has no base URL, so only absolute web and mail links keep an href."""
    assert sanitize_rich_text(f'<a href="{href}">Book</a>') == (
        '<a rel="noopener noreferrer">Book</a>'
    )


def test_control_characters_and_lone_surrogates_are_dropped():
    """Pasted control characters and broken surrogates are removed instead of failing."""
    assert sanitize_rich_text("<p>a\x0bb\x00c\ud800d\uffff</p>") == "<p>abcd</p>"


def test_tabs_and_line_breaks_are_not_invalid_characters():
    """Ordinary whitespace is kept."""
    assert strip_invalid_characters("a\tb\nc\r\nd\x1fe") == "a\tb\nc\r\nde"


def test_text_is_escaped():
    """Stray angle brackets and ampersands in text come out as entities."""
    assert sanitize_rich_text("a < b & c > d") == "a &lt; b &amp; c &gt; d"


@given(st.text(alphabet=st.sampled_from(list("<>/=\"' abpscrihtonlejv:&#;")), max_size=60))
def test_sanitising_twice_changes_nothing(html):
    """Sanitised HTML is a fixed point, so sanitising at save and at send agree."""
    once = sanitize_rich_text(html)
    assert sanitize_rich_text(once) == once


@pytest.mark.parametrize(
    "url",
    [
        "https://studio.example",
        "http://studio.example/path?q=1#top",
        "HTTPS://STUDIO.EXAMPLE/",
        "https://studio.example:8443/x",
        "https://127.0.0.1/x",
        "mailto:hi@studio.example",
        "mailto:hi@studio.example?subject=Hello",
    ],
)
def test_clean_http_https_and_mailto_links_are_safe(url):
    """Ordinary absolute web and mail links pass."""
    assert is_safe_link(url)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "\x01javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "java\x00script:alert(1)",
        "&#106;avascript:alert(1)",
        "javascript&colon;alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "data:image/png;base64,iVBORw0KGgo=",
        "ftp://files.example/x",
        "file:///etc/passwd",
        "//studio.example/x",
        "/relative/path",
        "studio.example",
        "https://",
        "https:///path",
        "https:\\\\evil.example",
        "https://studio.example\\@evil.example",
        "https://stu dio.example",
        " https://studio.example",
        "https://studio.example\n",
        "https://studio.example\u00a0",
        "https://studio.example:99999/",
        "https://studio.example:0/",
        "https://[::1/",
        "mailto:",
        "{{booking_link}}",
    ],
)
def test_anything_but_a_clean_web_or_mail_link_is_unsafe(url):
    """Script schemes, obfuscations, relative and malformed URLs are refused."""
    assert not is_safe_link(url)


def test_mailto_can_be_refused():
    """Image URLs pass allow_mailto=False, which refuses mail links."""
    assert not is_safe_link("mailto:hi@studio.example", allow_mailto=False)
    assert is_safe_link("https://studio.example/a.png", allow_mailto=False)


def test_text_keeps_paragraphs_and_line_breaks():
    """Block elements become blank lines and <br> a line break."""
    html = "<h2>Hello</h2><p>First line<br>second line</p><p>Next paragraph</p>"
    assert html_to_text(html) == "Hello\n\nFirst line\nsecond line\n\nNext paragraph"


def test_text_prefixes_list_items():
    """List items become `- ` lines."""
    assert html_to_text("<p>Bring:</p><ul><li>a mat</li><li>water</li></ul><p>Thanks</p>") == (
        "Bring:\n\n- a mat\n- water\n\nThanks"
    )


def test_text_shows_link_targets_after_their_text():
    """A link reads `text (url)`, since the reader cannot click the words."""
    html = '<p>Please <a href="https://studio.example/book">book here</a>.</p>'
    assert html_to_text(html) == "Please book here (https://studio.example/book)."


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ('<a href="https://studio.example">https://studio.example</a>', "https://studio.example"),
        ('<a href="mailto:hi@studio.example">hi@studio.example</a>', "hi@studio.example"),
    ],
)
def test_text_does_not_repeat_a_link_that_is_its_own_text(html, text):
    """A bare URL or address is written once."""
    assert html_to_text(html) == text


def test_text_unescapes_entities_and_collapses_whitespace():
    """Entities become characters and source indentation disappears."""
    html = "<p>\n   Caf&eacute; &amp; yoga&nbsp;&lt;3\n   today  </p>"
    assert html_to_text(html) == "Café & yoga <3 today"


def test_text_skips_script_and_style_content():
    """Code is not text."""
    assert html_to_text("<style>p{}</style><p>Hi</p><script>x()</script>") == "Hi"


def test_text_of_empty_html_is_empty():
    """Nothing in, nothing out."""
    assert html_to_text("") == ""
