"""Message variables: `{{name}}` placeholders filled by plain substitution, never by a template engine."""

import difflib
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

# The look-arounds keep `{{{name}}}` and `{{{{name}}}}` verbatim: extra braces mean the
# writer typed something other than a variable, so we do not guess which pair they meant.
VARIABLE = re.compile(r"(?<!\{)\{\{[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*\}\}(?!\})")

# A wrong suggestion is worse than none: "foo" must not become "first_name".
SUGGESTION_CUTOFF = 0.75


@dataclass(frozen=True)
class UnknownVariable:
    """A variable used in a text that is not offered for this message."""

    name: str
    suggestion: str | None


def fill_variables(text: str, values: dict[str, str], *, html: bool = False) -> str:
    """`text` with each `{{name}}` whose name is in `values` replaced; everything else stays as written."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        return _escape(values[name]) if html else values[name]

    # One pass: a value that itself contains `{{other}}` is never expanded again.
    return VARIABLE.sub(replace, text)


def variables_in(text: str) -> list[str]:
    """The variable names used in `text`, in order of first use, without repeats."""
    return list(dict.fromkeys(match.group(1) for match in VARIABLE.finditer(text)))


def check_variables(text: str, allowed: Iterable[str]) -> list[UnknownVariable]:
    """Every variable used in `text` that is not in `allowed`, with the allowed name it was probably meant to be."""
    allowed = list(allowed)
    return [
        UnknownVariable(name, _closest(name, allowed))
        for name in variables_in(text)
        if name not in allowed
    ]


def suggest_message(unknown: UnknownVariable) -> str:
    """A sentence telling the writer about an unknown variable."""
    if unknown.suggestion is None:
        return (
            f"Unknown variable {{{{{unknown.name}}}}}: "
            "it is not in the list above and will be sent as written."
        )
    return f"Unknown variable {{{{{unknown.name}}}}}: did you mean {{{{{unknown.suggestion}}}}}?"


def _escape(value: str) -> str:
    return html.escape(value, quote=True)


def _closest(name: str, allowed: list[str]) -> str | None:
    # Writers mostly get the case or the underscores wrong (`FirstName`, `firstname`),
    # so compare names with both folded away before looking for near misses.
    by_key: dict[str, str] = {}
    for candidate in allowed:
        by_key.setdefault(_fold(candidate), candidate)
    key = _fold(name)
    if key in by_key:
        return by_key[key]
    matches = difflib.get_close_matches(key, by_key, n=1, cutoff=SUGGESTION_CUTOFF)
    return by_key[matches[0]] if matches else None


def _fold(name: str) -> str:
    return name.replace("_", "").casefold()
