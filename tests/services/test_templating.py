"""Tests for message variables: filling, listing and checking `{{name}}` placeholders."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commsapp.services.templating import (
    UnknownVariable,
    check_variables,
    fill_variables,
    suggest_message,
    variables_in,
)

VALUES = {"first_name": "Ada", "class_name": "Yoga"}
ALLOWED = ["first_name", "last_name", "class_name", "numberOfMinutesToRespond", "refundNotice"]

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
filler = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=20)


def test_known_variable_is_replaced_by_its_value():
    """A listed variable is replaced by its value."""
    assert fill_variables("Hello {{first_name}}!", VALUES) == "Hello Ada!"


def test_every_occurrence_is_replaced():
    """The same variable used twice is filled twice."""
    assert fill_variables("{{first_name}}, {{first_name}}", VALUES) == "Ada, Ada"


@pytest.mark.parametrize("text", ["{{ first_name }}", "{{  first_name}}", "{{first_name }}"])
def test_spaces_inside_the_braces_are_allowed(text):
    """Spaces between the braces and the name do not stop the variable being filled."""
    assert fill_variables(text, VALUES) == "Ada"


@pytest.mark.parametrize(
    "text",
    [
        "{{firstname}}",
        "{{ First_Name }}",
        "{{unlisted}}",
        "{{first-name}}",
        "{{1st_name}}",
        "{{}}",
    ],
)
def test_unknown_or_misspelled_variable_is_left_as_written(text):
    """A name that is not a key of the values, or not a name at all, stays verbatim."""
    assert fill_variables(f"Hi {text}.", VALUES) == f"Hi {text}."


@pytest.mark.parametrize(
    "text",
    [
        "{{{first_name}}}",
        "{{{{first_name}}}}",
        "{{first_name}}}",
        "{{{first_name}}",
        "{{first_name}",
        "{first_name}}",
        "{{ first_name",
    ],
)
def test_extra_or_missing_braces_are_left_as_written(text):
    """Unbalanced or doubled braces are not a variable, so nothing is replaced."""
    assert fill_variables(text, VALUES) == text


def test_variable_nested_inside_other_braces_is_filled_once():
    """In `{{ {{first_name}} }}` only the well-formed inner variable is filled, the rest is text."""
    assert fill_variables("{{ {{first_name}} }}", VALUES) == "{{ Ada }}"


@pytest.mark.parametrize(
    "payload",
    [
        "{{ config }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ 7*7 }}",
        "{% for x in y %}{{ x }}{% endfor %}",
        "{# comment #}",
        "{{ first_name|upper }}",
        "{{ self._TemplateReference__context }}",
        "{{ request.application.__globals__ }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "${7*7} #{7*7} <%= 7*7 %>",
    ],
)
def test_template_engine_payloads_are_left_verbatim(payload):
    """Jinja and Python expressions are never evaluated: they come out exactly as written."""
    assert fill_variables(payload, VALUES) == payload
    assert fill_variables(payload, VALUES, html=True) == payload


def test_a_variable_named_like_a_jinja_global_is_just_a_lookup():
    """`{{ config }}` is filled only from the values given, never from anything else."""
    assert fill_variables("{{ config }}", {"config": "plain"}) == "plain"


def test_html_mode_escapes_values():
    """With html=True a value cannot inject markup or break out of an attribute."""
    values = {"first_name": "<script>alert(1)</script>", "note": "\"quoted\" 'single' & more"}
    filled = fill_variables("<p title='{{note}}'>{{first_name}} {{note}}</p>", values, html=True)
    assert "<script>" not in filled
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in filled
    assert "&quot;quoted&quot; &#x27;single&#x27; &amp; more" in filled


def test_html_mode_leaves_the_text_around_values_alone():
    """Only values are escaped: the template's own markup is kept."""
    assert fill_variables("<b>{{first_name}}</b>", VALUES, html=True) == "<b>Ada</b>"


def test_text_mode_leaves_values_raw():
    """With html=False the value goes in exactly as given."""
    values = {"first_name": "<b>Ada & co</b>"}
    assert fill_variables("{{first_name}}", values) == "<b>Ada & co</b>"


def test_values_containing_variables_are_not_expanded_again():
    """Filling is a single pass, so a value cannot pull in another variable."""
    values = {"first_name": "{{secret}}", "secret": "s3cret"}
    assert fill_variables("{{first_name}}", values) == "{{secret}}"


def test_empty_text_stays_empty():
    """Nothing in, nothing out."""
    assert fill_variables("", VALUES) == ""
    assert variables_in("") == []
    assert check_variables("", ALLOWED) == []


@given(text=st.text().filter(lambda t: "{{" not in t), values=st.dictionaries(names, st.text()))
def test_text_without_double_braces_is_unchanged(text, values):
    """Text with no `{{` comes back unchanged, whatever the values."""
    assert fill_variables(text, values) == text
    assert fill_variables(text, values, html=True) == text


@given(
    values=st.dictionaries(names, filler, min_size=1),
    data=st.data(),
)
def test_no_filled_variable_survives(values, data):
    """After filling, no `{{k}}` for a key k of the values is left in the output."""
    keys = sorted(values)
    parts = data.draw(st.lists(st.one_of(filler, st.sampled_from(keys)), max_size=10))
    text = " ".join(f"{{{{{part}}}}}" if part in values else part for part in parts)
    for html in (False, True):
        filled = fill_variables(text, values, html=html)
        assert not any(f"{{{{{key}}}}}" in filled for key in keys)


def test_variables_in_lists_names_in_order_without_repeats():
    """Names come in order of first use, each once, spaced or not."""
    text = "{{b}} {{ a }} {{b}} {{{c}}} {{ d|upper }} ##{{e}}"
    assert variables_in(text) == ["b", "a", "e"]


def test_allowed_variables_are_not_reported():
    """Variables from the list are fine."""
    assert check_variables("Hi {{first_name}}, {{ class_name }}", ALLOWED) == []


@pytest.mark.parametrize(
    ("used", "suggestion"),
    [
        ("firstname", "first_name"),
        ("FirstName", "first_name"),
        ("first_nmae", "first_name"),
        ("numberOfMinuteToRespond", "numberOfMinutesToRespond"),
        ("number_of_minutes_to_respond", "numberOfMinutesToRespond"),
        ("refundnotice", "refundNotice"),
    ],
)
def test_misspelled_variable_gets_the_closest_allowed_name(used, suggestion):
    """Case, underscores and small typos point to the intended variable."""
    assert check_variables(f"{{{{{used}}}}}", ALLOWED) == [UnknownVariable(used, suggestion)]


def test_unrelated_variable_gets_no_suggestion():
    """A name far from every allowed one is reported without a guess."""
    assert check_variables("{{foo}} {{ config }}", ALLOWED) == [
        UnknownVariable("foo", None),
        UnknownVariable("config", None),
    ]


def test_hash_prefix_from_the_reference_is_literal_text():
    """`##{{first_name}}` is the text `##` followed by a normal variable."""
    assert check_variables("##{{first_name}}", ALLOWED) == []
    assert fill_variables("##{{first_name}}", VALUES) == "##Ada"


def test_check_accepts_any_iterable_of_allowed_names():
    """A generator of allowed names works as well as a list."""
    assert check_variables("{{first_name}}", (name for name in ALLOWED)) == []


def test_message_offers_the_suggestion():
    """The message quotes the variable as written and the one meant."""
    message = suggest_message(UnknownVariable("firstname", "first_name"))
    assert message == "Unknown variable {{firstname}}: did you mean {{first_name}}?"


def test_message_without_suggestion_says_it_is_sent_as_written():
    """With no suggestion the writer learns the text goes out unchanged."""
    message = suggest_message(UnknownVariable("foo", None))
    assert message == (
        "Unknown variable {{foo}}: it is not in the list above and will be sent as written."
    )
