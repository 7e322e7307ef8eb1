"""What an SMS body may contain: no control characters or broken (lone-surrogate) characters."""

import re

# Line breaks, tab and form feed (a GSM extension character) stay; other C0/C1 controls, DEL,
# lone surrogates and non-characters cannot be encoded for a carrier, and PostgreSQL refuses NUL.
_UNSENDABLE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def unsendable_problem(text: str) -> str | None:
    """Why this SMS text cannot be sent as written, or None when it can."""
    found = _UNSENDABLE.search(text)
    if found is None:
        return None
    character = found.group()
    kind = (
        "a broken character (half of an emoji)"
        if "\ud800" <= character <= "\udfff"
        else f"the control character U+{ord(character):04X}"
    )
    return (
        f"The SMS text contains {kind} at position {found.start() + 1}, which cannot be sent; "
        "remove it and try again."
    )
