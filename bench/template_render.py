"""Measure rendering of email templates (blocks -> MJML -> HTML): time and size per default, and at 200 blocks."""

import statistics
import sys
import time
from pathlib import Path

# The package is not necessarily installed in the venv, so import it from this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from commsapp.services.email_blocks import MAX_BLOCKS, render_email  # noqa: E402
from commsapp.services.template_catalogue import EVENTS, LANGUAGES, SAMPLE  # noqa: E402
from commsapp.services.template_editor import fill_blocks  # noqa: E402

ROUNDS = 30
HEADER = "Studio Sonnenschein"
FOOTER = (
    "Studio Sonnenschein<br>Lindenstraße 12, 10969 Berlin<br>"
    '<a href="https://studio.example/unsubscribe/abc">Unsubscribe from transactional emails</a>'
)
VALUES = {
    **{k: v for k, v in SAMPLE["en"].items() if isinstance(v, str)},
    "business_name": HEADER,
    "business_address": "Lindenstraße 12, 10969 Berlin",
    "session_date": "Tuesday, March 12, 2030",
    "session_time": "6:00 PM",
    "location_name": "Studio 1",
    "students": "Mia Muster and Leo Muster",
    "students_first_names": "Mia and Leo",
    "refundNotice": "You have received a credit. It has been added back to your package.",
    "numberOfMinutesToRespond": "120",
    "url": "https://studio.example/b/123",
    "amount": "€120.00",
    "purchase_date": "March 1, 2030",
}


def _every_type(index: int) -> list[dict]:
    return [
        {"id": f"h{index}", "type": "heading", "text": "Spring timetable {{first_name}}"},
        {"id": f"t{index}", "type": "text", "html": "<p>Classes <em>restart</em> soon.</p>"},
        {
            "id": f"i{index}",
            "type": "image",
            "url": "https://studio.example/hall.jpg",
            "alt": "Hall",
        },
        {"id": f"b{index}", "type": "button", "label": "Book", "url": "https://studio.example/b"},
        {"id": f"d{index}", "type": "divider"},
        {"id": f"s{index}", "type": "spacer", "height": 16},
        {
            "id": f"c{index}",
            "type": "columns",
            "left_html": "<p>Mon</p>",
            "right_html": "<p>Tue</p>",
        },
        {"id": f"f{index}", "type": "footer", "html": "<p>{{business_name}}</p>"},
    ]


def _measure(blocks: list[dict]) -> tuple[float, int, int]:
    """Median milliseconds per render, HTML bytes, text bytes."""
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        rendered = render_email(
            fill_blocks(blocks, VALUES),
            header_html=HEADER,
            footer_html=FOOTER,
            business_name=HEADER,
        )
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), len(rendered.html.encode()), len(rendered.text.encode())


def main() -> None:
    print(f"{'template':<28} {'lang':<4} {'ms (median)':>11} {'HTML bytes':>11} {'text bytes':>10}")
    sizes = []
    for event in EVENTS.values():
        for language in LANGUAGES:
            ms, html_bytes, text_bytes = _measure(event.defaults[language].blocks)
            sizes.append(html_bytes)
            print(f"{event.key:<28} {language:<4} {ms:>11.2f} {html_bytes:>11,} {text_bytes:>10,}")
    print(f"defaults: largest HTML {max(sizes):,} bytes (limit in the tests: 100,000)")
    big = [block for i in range(MAX_BLOCKS // 8) for block in _every_type(i)]
    ms, html_bytes, text_bytes = _measure(big)
    print(
        f"{len(big)} blocks (every type x {MAX_BLOCKS // 8}): {ms:.1f} ms per render, "
        f"{html_bytes:,} HTML bytes, {text_bytes:,} text bytes"
    )


if __name__ == "__main__":
    main()
