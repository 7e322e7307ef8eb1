"""Reading HTML in tests the way a browser-like parser sees it."""

from html.parser import HTMLParser


class _TagCollector(HTMLParser):
    """Every start tag in a document with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parsed_tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """The start tags of `html`, as a browser-like parser sees them."""
    collector = _TagCollector()
    collector.feed(html)
    collector.close()
    return collector.tags
