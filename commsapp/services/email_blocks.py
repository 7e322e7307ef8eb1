"""Email templates as ordered blocks: checking what the editor sends, and rendering it through MJML."""

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NoReturn

import mrml

from commsapp.services.html_sanitize import (
    html_to_text,
    is_safe_link,
    sanitize_rich_text,
    strip_invalid_characters,
)
from commsapp.services.templating import fill_variables

MAX_BLOCKS = 200
MAX_FIELD_CHARS = 20_000
MAX_ID_CHARS = 64
EMAIL_WIDTH_PX = 600
SPACER_MIN_PX = 4
SPACER_MAX_PX = 200
ALIGNMENTS = ("left", "center", "right")
HEADING_SIZES_PX = {1: 28, 2: 22, 3: 18}
DEFAULT_BUTTON_COLOUR = "#2563eb"
FONT_FAMILY = "Helvetica, Arial, sans-serif"
BLOCK_TYPES = ("heading", "text", "image", "button", "divider", "spacer", "columns", "footer")

_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


class BlockError(ValueError):
    """A block cannot be saved or sent; the message names the block's position and the field."""

    def __init__(
        self, message: str, *, position: int | None = None, field_name: str | None = None
    ) -> None:
        super().__init__(message)
        self.position = position
        self.field_name = field_name


@dataclass(frozen=True, kw_only=True)
class HeadingBlock:
    """A title in plain text."""

    id: str
    text: str
    level: int = 1
    align: str = "left"
    type: Literal["heading"] = field(default="heading", init=False)


@dataclass(frozen=True, kw_only=True)
class TextBlock:
    """A paragraph or more of sanitised rich text."""

    id: str
    html: str
    type: Literal["text"] = field(default="text", init=False)


@dataclass(frozen=True, kw_only=True)
class ImageBlock:
    """A picture from an http(s) URL, optionally linking somewhere."""

    id: str
    url: str
    alt: str = ""
    width: int | None = None
    link: str | None = None
    type: Literal["image"] = field(default="image", init=False)


@dataclass(frozen=True, kw_only=True)
class ButtonBlock:
    """A call to action linking to a web page or an email address."""

    id: str
    label: str
    url: str
    colour: str = DEFAULT_BUTTON_COLOUR
    type: Literal["button"] = field(default="button", init=False)


@dataclass(frozen=True, kw_only=True)
class DividerBlock:
    """A horizontal rule."""

    id: str
    type: Literal["divider"] = field(default="divider", init=False)


@dataclass(frozen=True, kw_only=True)
class SpacerBlock:
    """Vertical space."""

    id: str
    height: int = 24
    type: Literal["spacer"] = field(default="spacer", init=False)


@dataclass(frozen=True, kw_only=True)
class ColumnsBlock:
    """Two columns of sanitised rich text, stacked on narrow screens."""

    id: str
    left_html: str
    right_html: str
    type: Literal["columns"] = field(default="columns", init=False)


@dataclass(frozen=True, kw_only=True)
class FooterBlock:
    """Small print at the end of the studio's own content."""

    id: str
    html: str
    type: Literal["footer"] = field(default="footer", init=False)


Block = (
    HeadingBlock
    | TextBlock
    | ImageBlock
    | ButtonBlock
    | DividerBlock
    | SpacerBlock
    | ColumnsBlock
    | FooterBlock
)


@dataclass(frozen=True)
class RenderedEmail:
    """One message ready to send: the HTML part, the plain-text part, and the MJML they came from."""

    html: str
    text: str
    mjml: str


def validate_blocks(blocks: list[dict]) -> list[Block]:
    """The editor's blocks checked and typed, rich text sanitised; BlockError on the first problem."""
    if not isinstance(blocks, list):
        raise BlockError("The blocks must be a list.")
    if len(blocks) > MAX_BLOCKS:
        raise BlockError(f"A template can have at most {MAX_BLOCKS} blocks, not {len(blocks)}.")
    validated: list[Block] = []
    first_position_of_id: dict[str, int] = {}
    for position, raw in enumerate(blocks, start=1):
        block = _validate_block(raw, position)
        if block.id in first_position_of_id:
            raise BlockError(
                f"Block {position} ({block.type}): 'id' {block.id!r} is already used by "
                f"block {first_position_of_id[block.id]}.",
                position=position,
                field_name="id",
            )
        first_position_of_id[block.id] = position
        validated.append(block)
    return validated


def render_email(
    blocks: Sequence[Mapping[str, Any] | Block],
    *,
    variables: dict[str, str] | None = None,
    header_html: str = "",
    footer_html: str = "",
    preheader: str = "",
    business_name: str = "",
) -> RenderedEmail:
    """The blocks as email HTML and plain text, with `{{variables}}` filled.

    Blocks are validated again here, so stored templates cannot skip sanitising.
    `header_html` and `footer_html` are trusted system HTML (business header, unsubscribe
    footer) and go in as given. `business_name` is the document title and the default
    value of `{{business_name}}`.
    """
    values = {"business_name": business_name} if business_name else {}
    values.update(variables or {})
    validated = validate_blocks([_as_mapping(block) for block in blocks])

    sections: list[str] = []
    texts: list[str] = []
    if header_html:
        sections.append(f'<mj-section padding="16px 0px">{_column(header_html)}</mj-section>')
        texts.append(html_to_text(header_html))
    for block in validated:
        section, text = _render_block(block, values)
        sections.append(section)
        texts.append(text)
    if footer_html:
        sections.append(
            '<mj-section background-color="#f4f4f5" padding="16px 0px">'
            f"{_column(footer_html, font_size='12px', colour='#6b7280')}</mj-section>"
        )
        texts.append(html_to_text(footer_html))

    # mrml refuses a whole document over one control character, and plain-text fields
    # and variable values can carry them.
    mjml = strip_invalid_characters(
        _document(
            "".join(sections),
            title=_escape(business_name),
            preview=_escape(fill_variables(preheader, values)),
        )
    )
    try:
        # No include loader: an `<mj-include>` that slipped in must not read files or URLs.
        output = mrml.to_html(
            mjml, parser_options=mrml.ParserOptions(include_loader=mrml.noop_loader())
        )
    except OSError as exc:
        # mrml reports malformed markup as OSError; only trusted header/footer HTML can cause it.
        raise ValueError(f"The email could not be compiled from MJML: {exc}") from exc
    return RenderedEmail(
        html=output.content,
        text=strip_invalid_characters("\n\n".join(text for text in texts if text)),
        mjml=mjml,
    )


def starter_blocks(title: str, body_html: str) -> list[dict]:
    """The blocks of a new template: a heading, the body text and a footer with the studio's name."""
    return [
        {"id": "heading", "type": "heading", "text": title, "level": 1, "align": "left"},
        {"id": "body", "type": "text", "html": body_html},
        {"id": "footer", "type": "footer", "html": "<p>{{business_name}}</p>"},
    ]


class _BlockFields:
    """Reads one raw block's fields, failing with a message that names the block and field."""

    def __init__(self, raw: Mapping[str, Any], position: int, block_type: str) -> None:
        self.raw = raw
        self.position = position
        self.block_type = block_type

    def fail(self, name: str, problem: str) -> NoReturn:
        raise BlockError(
            f"Block {self.position} ({self.block_type}): '{name}' {problem}.",
            position=self.position,
            field_name=name,
        )

    def string(self, name: str, *, required: bool = True, default: str = "") -> str:
        value = self.raw.get(name)
        if value is None:
            if required:
                self.fail(name, "is missing")
            return default
        if not isinstance(value, str):
            self.fail(name, "must be text")
        if len(value) > MAX_FIELD_CHARS:
            self.fail(name, f"is longer than {MAX_FIELD_CHARS:,} characters")
        return value

    def plain_text(self, name: str) -> str:
        value = self.string(name)
        if not value.strip():
            self.fail(name, "is empty")
        return value

    def rich_text(self, name: str) -> str:
        return sanitize_rich_text(self.string(name))

    def link(self, name: str, *, allow_mailto: bool, required: bool = True) -> str | None:
        value = self.string(name, required=required).strip()
        if not value and not required:
            return None
        if not is_safe_link(value, allow_mailto=allow_mailto):
            kinds = "an http, https or mailto" if allow_mailto else "an http or https"
            self.fail(name, f"must be {kinds} link")
        return value

    def whole_number(self, name: str, *, low: int, high: int, default: int | None) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return default
        # Form inputs arrive as strings; bool is an int subclass and never a size.
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(name, f"must be a whole number from {low} to {high}")
        return value

    def choice(self, name: str, options: Sequence[str], default: str) -> str:
        value = self.raw.get(name, default)
        if value not in options:
            self.fail(name, f"must be one of {', '.join(options)}")
        return value

    def colour(self, name: str, default: str) -> str:
        value = self.raw.get(name) or default
        if not isinstance(value, str) or not _HEX_COLOUR.fullmatch(value):
            self.fail(name, "must be a hex colour like #1a2b3c")
        return value.lower()


def _validate_block(raw: object, position: int) -> Block:
    if not isinstance(raw, Mapping):
        raise BlockError(f"Block {position} must be an object with a 'type'.", position=position)
    block_type = raw.get("type")
    if block_type not in BLOCK_TYPES:
        raise BlockError(
            f"Block {position}: 'type' {block_type!r} is not one of {', '.join(BLOCK_TYPES)}.",
            position=position,
            field_name="type",
        )
    fields = _BlockFields(raw, position, block_type)
    block_id = fields.plain_text("id")
    if len(block_id) > MAX_ID_CHARS:
        fields.fail("id", f"is longer than {MAX_ID_CHARS} characters")
    match block_type:
        case "heading":
            level = fields.whole_number("level", low=1, high=3, default=1)
            return HeadingBlock(
                id=block_id,
                text=fields.plain_text("text"),
                level=level,
                align=fields.choice("align", ALIGNMENTS, "left"),
            )
        case "text":
            return TextBlock(id=block_id, html=fields.rich_text("html"))
        case "image":
            return ImageBlock(
                id=block_id,
                url=fields.link("url", allow_mailto=False),
                alt=fields.string("alt", required=False),
                width=fields.whole_number("width", low=1, high=EMAIL_WIDTH_PX, default=None),
                link=fields.link("link", allow_mailto=False, required=False),
            )
        case "button":
            return ButtonBlock(
                id=block_id,
                label=fields.plain_text("label"),
                url=fields.link("url", allow_mailto=True),
                colour=fields.colour("colour", DEFAULT_BUTTON_COLOUR),
            )
        case "divider":
            return DividerBlock(id=block_id)
        case "spacer":
            height = fields.whole_number(
                "height", low=SPACER_MIN_PX, high=SPACER_MAX_PX, default=24
            )
            return SpacerBlock(id=block_id, height=height)
        case "columns":
            return ColumnsBlock(
                id=block_id,
                left_html=fields.rich_text("left_html"),
                right_html=fields.rich_text("right_html"),
            )
        case _:
            return FooterBlock(id=block_id, html=fields.rich_text("html"))


def _as_mapping(block: Mapping[str, Any] | Block) -> Mapping[str, Any]:
    return block if isinstance(block, Mapping) else asdict(block)


def _render_block(block: Block, values: dict[str, str]) -> tuple[str, str]:
    """The block's mj-section and its plain-text version."""

    def plain(text: str) -> str:
        return fill_variables(text, values)

    def rich(html_in: str) -> str:
        # Fill first, then sanitise: a value pasted into an href is checked like any link.
        return sanitize_rich_text(fill_variables(html_in, values, html=True))

    match block:
        case HeadingBlock():
            size = HEADING_SIZES_PX[block.level]
            heading = (
                f'<h{block.level} style="margin:0;font-size:{size}px;line-height:1.25;">'
                f"{_escape(plain(block.text))}</h{block.level}>"
            )
            content = f'<mj-text align="{block.align}" padding="16px 24px 8px">{heading}</mj-text>'
            return _section(content), plain(block.text)
        case TextBlock():
            body = rich(block.html)
            return _section(f"<mj-text>{body}</mj-text>"), html_to_text(body)
        case ImageBlock():
            width = f' width="{block.width}px"' if block.width else ""
            href = f' href="{_escape(block.link)}"' if block.link else ""
            alt = plain(block.alt)
            image = f'<mj-image src="{_escape(block.url)}" alt="{_escape(alt)}"{width}{href} />'
            text = f"{alt} ({block.link})" if alt and block.link else alt or block.link or ""
            return _section(image), text
        case ButtonBlock():
            label = plain(block.label)
            button = (
                f'<mj-button href="{_escape(block.url)}" background-color="{block.colour}" '
                f'color="{_readable_text_colour(block.colour)}" font-size="16px" '
                f'inner-padding="12px 24px" border-radius="6px">{_escape(label)}</mj-button>'
            )
            return _section(button), f"{label} ({block.url})"
        case DividerBlock():
            divider = '<mj-divider border-width="1px" border-color="#e5e7eb" padding="8px 24px" />'
            return _section(divider), "----"
        case SpacerBlock():
            return _section(f'<mj-spacer height="{block.height}px" />'), ""
        case ColumnsBlock():
            left, right = rich(block.left_html), rich(block.right_html)
            columns = f"<mj-column><mj-text>{left}</mj-text></mj-column>" + (
                f"<mj-column><mj-text>{right}</mj-text></mj-column>"
            )
            text = "\n\n".join(part for part in (html_to_text(left), html_to_text(right)) if part)
            return f"<mj-section>{columns}</mj-section>", text
        case FooterBlock():
            body = rich(block.html)
            footer = f'<mj-text font-size="13px" color="#6b7280">{body}</mj-text>'
            return _section(footer), html_to_text(body)


def _section(content: str) -> str:
    return f"<mj-section><mj-column>{content}</mj-column></mj-section>"


def _column(trusted_html: str, *, font_size: str = "16px", colour: str = "#1f2937") -> str:
    return (
        f'<mj-column><mj-text font-size="{font_size}" color="{colour}">'
        f"{trusted_html}</mj-text></mj-column>"
    )


def _document(sections: str, *, title: str, preview: str) -> str:
    head = f"<mj-title>{title}</mj-title>" if title else ""
    head += f"<mj-preview>{preview}</mj-preview>" if preview else ""
    return (
        "<mjml><mj-head>"
        f"{head}"
        "<mj-attributes>"
        f'<mj-all font-family="{FONT_FAMILY}" />'
        '<mj-section background-color="#ffffff" padding="0px" />'
        '<mj-text font-size="16px" line-height="1.5" color="#1f2937" padding="8px 24px" />'
        "</mj-attributes>"
        "</mj-head>"
        f'<mj-body width="{EMAIL_WIDTH_PX}px" background-color="#f4f4f5">{sections}</mj-body>'
        "</mjml>"
    )


def _readable_text_colour(background: str) -> str:
    red, green, blue = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    # Perceived brightness (ITU-R BT.601): white on a pale button cannot be read.
    brightness = 0.299 * red + 0.587 * green + 0.114 * blue
    return "#111827" if brightness > 160 else "#ffffff"


def _escape(text: str) -> str:
    return html.escape(text, quote=True)
