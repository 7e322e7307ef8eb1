"""Untrusted HTML made safe for email: rich-text sanitising, link checks and a plain-text rendering."""

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import nh3

from commsapp.services.templating import VARIABLE

RICH_TEXT_TAGS = frozenset(
    {"p", "br", "strong", "b", "em", "i", "u", "s", "a", "ul", "ol", "li", "h2", "h3", "blockquote"}
)
RICH_TEXT_ATTRIBUTES = {"a": {"href"}}
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
# Tags whose content is code or chrome rather than text; the others only lose their tags.
DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "template", "noscript", "title", "iframe", "object", "svg", "math"}
)

# Whitespace (Unicode included), C0/C1 controls and backslashes: browsers skip or rewrite
# them while parsing a URL, which is how `java\tscript:` and `https:\\evil` get through.
_UNCLEAN_URL_CHAR = re.compile(r"[\s\x00-\x1f\x7f-\x9f\\]")

# Characters XML forbids and HTML treats as errors. Text pasted from Word carries vertical
# tabs, and a JSON body can carry lone surrogates, which nh3 cannot even encode.
_INVALID_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "ul",
        "ol",
        "table",
        "tr",
        "pre",
        "hr",
        "section",
        "header",
        "footer",
    ]
)
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title"})


def sanitize_rich_text(html: str) -> str:
    """`html` reduced to basic formatting and http, https or mailto links, with nothing that runs."""
    return nh3.clean(
        strip_invalid_characters(html),
        tags=set(RICH_TEXT_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes=RICH_TEXT_ATTRIBUTES,
        attribute_filter=_keep_safe_href,
        url_schemes=set(LINK_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def strip_invalid_characters(text: str) -> str:
    """`text` without control characters (tab and line breaks aside), lone surrogates or non-characters."""
    return _INVALID_CHARACTER.sub("", text)


def is_safe_link(url: str, *, allow_mailto: bool = True) -> bool:
    """True only for a clean absolute http(s) URL with a host, or a mailto: address when allowed."""
    if not url or _UNCLEAN_URL_CHAR.search(url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when malformed or out of range
    except ValueError:
        return False
    if parts.scheme in {"http", "https"}:
        return bool(parts.hostname) and port != 0
    if parts.scheme == "mailto":
        return allow_mailto and bool(parts.path)
    return False


def _keep_safe_href(tag: str, attribute: str, value: str) -> str | None:
    if attribute != "href" or is_safe_link(value):
        return value
    # A lone `{{booking_link}}` must survive until the variable is filled; the sending
    # path sanitises again after filling, so the real URL is checked then.
    return value if VARIABLE.fullmatch(value) else None


def html_to_text(html: str) -> str:
    """A readable plain-text version of `html`: paragraphs, `- ` list items and `text (url)` links."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


class _TextExtractor(HTMLParser):
    """Collects text with line-break markers; whitespace is tidied afterwards."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0
        self._link_href: str | None = None
        self._link_start = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
        elif tag == "a":
            self._link_href = dict(attrs).get("href")
            self._link_start = len(self.parts)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
        elif tag == "a" and self._link_href:
            href = self._link_href.strip()
            label = " ".join("".join(self.parts[self._link_start :]).split())
            if label not in {href, href.removeprefix("mailto:")}:
                self.parts.append(f" ({href})")
            self._link_href = None

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            # Source line breaks are only whitespace in HTML; real breaks come from tags.
            self.parts.append(re.sub(r"\s+", " ", data))
