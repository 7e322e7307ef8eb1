"""Tests for email block validation and rendering through MJML."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commsapp.services.email_blocks import (
    MAX_BLOCKS,
    BlockError,
    ButtonBlock,
    HeadingBlock,
    RenderedEmail,
    TextBlock,
    render_email,
    starter_blocks,
    validate_blocks,
)
from tests.html_tags import parsed_tags

XSS = (
    "<p>Hi<img src=x onerror=alert(1)><script>alert(2)</script>"
    '<a href="javascript:alert(3)" onclick="alert(4)">x</a>'
    '<svg onload=alert(5)></svg><iframe src="https://evil.example"></iframe>'
    '<a href="data:text/html,<script>alert(6)</script>">y</a>'
    '<div style="background:url(javascript:alert(7))">z</div></p>'
)


def every_block() -> list[dict]:
    """One block of each type, with fields that show up in the output."""
    return [
        {"id": "h", "type": "heading", "text": "<b>x</b> Spring timetable", "level": 1},
        {
            "id": "t",
            "type": "text",
            "html": "<p>Dear {{first_name}}, classes <em>restart</em>.</p>",
        },
        {
            "id": "i",
            "type": "image",
            "url": "https://studio.example/hall.jpg",
            "alt": "The hall",
            "width": 400,
            "link": "https://studio.example/",
        },
        {
            "id": "b",
            "type": "button",
            "label": "Book now",
            "url": "https://studio.example/book?term=spring&week=1",
            "colour": "#0F766E",
        },
        {"id": "d", "type": "divider"},
        {"id": "s", "type": "spacer", "height": 32},
        {
            "id": "c",
            "type": "columns",
            "left_html": "<h3>Mornings</h3><p>Yoga</p>",
            "right_html": "<h3>Evenings</h3><ul><li>Pilates</li></ul>",
        },
        {"id": "f", "type": "footer", "html": "<p>Studio Nord, Via Roma 1</p>"},
    ]


def render(blocks: list[dict], **kwargs) -> RenderedEmail:
    """Render with a first name available, as most sends will."""
    kwargs.setdefault("variables", {"first_name": "Ada"})
    return render_email(blocks, **kwargs)


def test_full_template_renders_to_table_based_html_with_inline_styles():
    """Every block type compiles into email-client HTML: tables and inline styles."""
    html = render(every_block()).html
    assert "<table" in html
    assert 'style="' in html
    assert len(html.encode()) < 100_000


def test_full_template_has_no_script_and_loads_nothing_external_but_its_image():
    """No script at all, and no web fonts or other remote resources beyond the image."""
    html = render(every_block()).html
    tags = parsed_tags(html)
    assert "<script" not in html.lower()
    assert not any(tag in {"script", "link", "iframe"} for tag, _ in tags)
    assert [attrs["src"] for tag, attrs in tags if "src" in attrs] == [
        "https://studio.example/hall.jpg"
    ]


def test_heading_text_is_escaped_not_interpreted():
    """A heading typed as `<b>x</b>` shows those characters rather than bold text."""
    html = render(every_block()).html
    assert "&lt;b&gt;x&lt;/b&gt; Spring timetable" in html
    assert "<b>x</b>" not in html


def test_button_url_is_in_the_html_with_its_ampersand_escaped():
    """The button links to its URL."""
    html = render(every_block()).html
    assert 'href="https://studio.example/book?term=spring&amp;week=1"' in html


def test_content_of_every_block_reaches_the_html():
    """Image, columns, footer and filled text all appear in the output."""
    html = render(every_block()).html
    for expected in (
        'src="https://studio.example/hall.jpg"',
        'alt="The hall"',
        "Dear Ada, classes <em>restart</em>.",
        "<h3>Mornings</h3>",
        "<li>Pilates</li>",
        "Studio Nord, Via Roma 1",
        "#0f766e",
    ):
        assert expected in html


def test_text_alternative_reads_cleanly():
    """The plain-text part has the heading, the text, the button link and no markup."""
    text = render(every_block()).text
    assert "<b>x</b> Spring timetable" in text
    assert "Dear Ada, classes restart." in text
    assert "Book now (https://studio.example/book?term=spring&week=1)" in text
    assert "The hall (https://studio.example/)" in text
    assert "- Pilates" in text
    assert "<p>" not in text
    assert "mj-" not in text


def test_mjml_sets_width_font_and_preview():
    """The source MJML fixes a 600px body, a system font and the preheader."""
    mjml = render(every_block(), preheader="New term {{first_name}} & more").mjml
    assert '<mj-body width="600px"' in mjml
    assert "font-family=" in mjml
    assert "<mj-preview>New term Ada &amp; more</mj-preview>" in mjml


def test_preheader_ends_up_hidden_in_the_html():
    """The preheader is in the HTML for the inbox preview line."""
    html = render(every_block(), preheader="Spring is here").html
    assert "Spring is here" in html


def test_business_name_is_the_title_and_fills_its_variable():
    """The business name titles the document and fills `{{business_name}}` unless given."""
    blocks = starter_blocks("Hello", "<p>Body</p>")
    rendered = render(blocks, business_name="Yoga & Co")
    assert "<title>Yoga &amp; Co</title>" in rendered.html
    assert "Yoga &amp; Co" in rendered.mjml.split("</mj-head>")[1]
    overridden = render(blocks, business_name="Yoga", variables={"business_name": "Other"})
    assert overridden.text.endswith("Other")


@pytest.mark.parametrize("field", ["html", "left_html", "right_html"])
def test_xss_in_rich_text_does_not_survive_into_the_html(field):
    """Event handlers, script, iframes and script URLs are removed from every rich-text field."""
    block_type = "text" if field == "html" else "columns"
    block = {"id": "x", "type": block_type, "html": "", "left_html": "", "right_html": ""}
    block[field] = XSS
    for blocks in ([block], [{"id": "f", "type": "footer", "html": XSS}]):
        html = render(blocks).html
        tags = parsed_tags(html)
        assert not any(name.startswith("on") for _, attrs in tags for name in attrs)
        assert not any(tag in {"script", "img", "svg", "iframe"} for tag, _ in tags)
        hrefs = [attrs.get("href") or "" for tag, attrs in tags if tag == "a"]
        assert not any(href.lower().startswith(("javascript:", "data:")) for href in hrefs)
        assert "alert(" not in html.split("<body")[1].replace("x</a>", "")


def test_unsanitised_blocks_are_sanitised_again_when_rendering():
    """A Block built by hand, skipping validation, is still sanitised on the way out."""
    html = render([TextBlock(id="t", html='<p onclick="alert(1)">Hi</p><script>x</script>')]).html
    assert "onclick" not in html
    assert "<script" not in html


def test_validated_blocks_render_the_same_as_their_dicts():
    """Blocks returned by validate_blocks can be passed back to render_email."""
    blocks = every_block()
    assert render(validate_blocks(blocks)).html == render(blocks).html


def test_variables_are_escaped_in_html_and_raw_in_text():
    """A value `<b>` is shown as text in the HTML part and kept as typed in the plain part."""
    blocks = [
        {"id": "h", "type": "heading", "text": "Hi {{first_name}}"},
        {"id": "t", "type": "text", "html": "<p>Dear {{first_name}}</p>"},
        {"id": "b", "type": "button", "label": "Go {{first_name}}", "url": "https://s.example"},
    ]
    rendered = render(blocks, variables={"first_name": "<b>"})
    assert "Hi &lt;b&gt;" in rendered.html
    assert "Dear &lt;b&gt;" in rendered.html
    assert "Go &lt;b&gt;" in rendered.html
    assert "<b>" not in rendered.html
    assert "Hi <b>" in rendered.text
    assert "Dear <b>" in rendered.text
    assert "Go <b> (https://s.example)" in rendered.text


def test_unknown_variables_are_left_as_written():
    """A variable that has no value goes out exactly as the studio typed it."""
    blocks = [{"id": "t", "type": "text", "html": "<p>Hi {{firstname}} {{ config }}</p>"}]
    rendered = render(blocks)
    assert "Hi {{firstname}} {{ config }}" in rendered.html
    assert "Hi {{firstname}} {{ config }}" in rendered.text


def test_link_variable_is_filled_then_checked():
    """An href that is a variable gets its value, and a script URL value is dropped."""
    blocks = [{"id": "t", "type": "text", "html": '<p><a href="{{link}}">Book</a></p>'}]
    good = render(blocks, variables={"link": "https://studio.example/b/1"}).html
    assert 'href="https://studio.example/b/1"' in good
    bad = render(blocks, variables={"link": "javascript:alert(1)"}).html
    assert "javascript:" not in bad


def test_trusted_header_and_footer_go_in_as_given():
    """System header and unsubscribe footer keep their markup and appear in the text too."""
    rendered = render(
        every_block(),
        header_html='<p style="font-weight:bold">Studio Nord</p>',
        footer_html='<p><a href="https://studio.example/u/abc">Unsubscribe</a></p>',
    )
    assert '<p style="font-weight:bold">Studio Nord</p>' in rendered.html
    assert 'href="https://studio.example/u/abc"' in rendered.html
    assert rendered.text.startswith("Studio Nord")
    assert rendered.text.endswith("Unsubscribe (https://studio.example/u/abc)")


def test_malformed_trusted_html_raises_value_error():
    """mrml's parse failure surfaces as a ValueError rather than an OSError."""
    with pytest.raises(ValueError, match="MJML"):
        render(every_block(), header_html="<p>unclosed")


def test_starter_blocks_validate_and_render():
    """The default template is valid and shows its title and body."""
    blocks = starter_blocks("Welcome", "<p>See you in class.</p>")
    assert [block["type"] for block in blocks] == ["heading", "text", "footer"]
    assert isinstance(validate_blocks(blocks)[0], HeadingBlock)
    assert "See you in class." in render(blocks, business_name="Studio").text


def test_validation_returns_typed_blocks_with_defaults_and_sanitised_html():
    """Optional fields get defaults, colours are lower-cased and rich text is cleaned."""
    button, text = validate_blocks(
        [
            {"id": "b", "type": "button", "label": "Go", "url": "mailto:hi@studio.example"},
            {"id": "t", "type": "text", "html": "<p onclick=x()>Hi</p>"},
        ]
    )
    assert button == ButtonBlock(id="b", label="Go", url="mailto:hi@studio.example")
    assert text == TextBlock(id="t", html="<p>Hi</p>")


def test_numbers_from_form_fields_are_accepted():
    """Sizes sent as digit strings are read as numbers."""
    (spacer,) = validate_blocks([{"id": "s", "type": "spacer", "height": "40"}])
    assert spacer.height == 40


def button(**fields) -> dict:
    """A valid button block with some fields replaced."""
    return {"id": "b", "type": "button", "label": "Go", "url": "https://s.example", **fields}


def image(**fields) -> dict:
    """A valid image block with some fields replaced."""
    return {"id": "i", "type": "image", "url": "https://s.example/a.png", **fields}


@pytest.mark.parametrize(
    ("blocks", "field", "words"),
    [
        ([button(url="javascript:alert(1)")], "url", "http, https or mailto"),
        ([button(url="JavaScript:alert(1)")], "url", "http, https or mailto"),
        ([button(url="ftp://files.example/a")], "url", "http, https or mailto"),
        ([image(url="data:image/png;base64,iVBORw0KGgo=")], "url", "http or https"),
        ([image(url="ftp://files.example/a.png")], "url", "http or https"),
        ([image(url="mailto:hi@s.example")], "url", "http or https"),
        ([image(link="javascript:alert(1)")], "link", "http or https"),
        ([image(width=601)], "width", "from 1 to 600"),
        ([button(colour="red;background:url(x)")], "colour", "hex colour"),
        ([button(colour="red")], "colour", "hex colour"),
        ([button(colour="#fff")], "colour", "hex colour"),
        ([button(colour="#ffffff\n")], "colour", "hex colour"),
        ([{"id": "s", "type": "spacer", "height": 9999}], "height", "from 4 to 200"),
        ([{"id": "s", "type": "spacer", "height": 2}], "height", "from 4 to 200"),
        ([{"id": "s", "type": "spacer", "height": True}], "height", "from 4 to 200"),
        ([{"id": "b", "type": "button", "url": "https://s.example"}], "label", "missing"),
        ([button(label="   ")], "label", "empty"),
        ([button(label=42)], "label", "must be text"),
        ([{"id": "t", "type": "text"}], "html", "missing"),
        ([{"id": "h", "type": "heading", "text": "Hi", "level": 4}], "level", "from 1 to 3"),
        ([{"id": "h", "type": "heading", "text": "Hi", "align": "justify"}], "align", "one of"),
        ([{"id": "t", "type": "text", "html": "x" * 20_001}], "html", "20,000"),
        ([{"id": "c", "type": "columns", "left_html": ""}], "right_html", "missing"),
        ([{"type": "divider"}], "id", "missing"),
        ([{"id": "x" * 65, "type": "divider"}], "id", "longer"),
        ([{"id": "d", "type": "divider"}, {"id": "d", "type": "divider"}], "id", "block 1"),
        ([{"id": "s", "type": "script"}], "type", "'script'"),
        ([{"id": "s"}], "type", "None"),
    ],
)
def test_invalid_block_is_rejected_naming_the_field(blocks, field, words):
    """Each problem raises BlockError whose message names the block, the field and the rule."""
    with pytest.raises(BlockError) as caught:
        validate_blocks(blocks)
    message = str(caught.value)
    assert f"'{field}'" in message
    assert words in message
    assert f"Block {len(blocks)}" in message
    assert caught.value.field_name == field
    assert caught.value.position == len(blocks)


def test_too_many_blocks_are_rejected():
    """More than MAX_BLOCKS blocks is refused before anything else is read."""
    blocks = [{"id": str(n), "type": "divider"} for n in range(MAX_BLOCKS + 1)]
    with pytest.raises(BlockError, match=f"at most {MAX_BLOCKS} blocks"):
        validate_blocks(blocks)
    assert len(validate_blocks(blocks[:MAX_BLOCKS])) == MAX_BLOCKS


@pytest.mark.parametrize("blocks", [{"id": "d", "type": "divider"}, "[]", None])
def test_blocks_that_are_not_a_list_are_rejected(blocks):
    """The editor must send a list of blocks."""
    with pytest.raises(BlockError, match="must be a list"):
        validate_blocks(blocks)


def test_block_that_is_not_an_object_is_rejected():
    """Each block must be an object."""
    with pytest.raises(BlockError, match="Block 2 must be an object"):
        validate_blocks([{"id": "d", "type": "divider"}, "divider"])


def test_characters_xml_forbids_are_dropped_rather_than_failing_the_send():
    """Control characters pasted from other programs are removed from HTML and text."""
    blocks = [
        {"id": "h", "type": "heading", "text": "Spring\x0b term\x1f"},
        {"id": "t", "type": "text", "html": "<p>Bring\x0c a mat\ud800</p>"},
    ]
    rendered = render(blocks)
    assert "Spring term" in rendered.html
    assert "Bring a mat" in rendered.html
    assert rendered.text == "Spring term\n\nBring a mat"


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=200), st.text(max_size=40))
def test_any_rich_text_and_heading_compile(rich_text, heading):
    """Whatever the studio types, sanitised content always compiles to an email."""
    blocks = [
        {"id": "h", "type": "heading", "text": heading if heading.strip() else "x"},
        {"id": "t", "type": "text", "html": rich_text},
        {"id": "c", "type": "columns", "left_html": rich_text, "right_html": heading},
    ]
    assert "<table" in render(blocks).html
