"""LIKE patterns from what people type: their `%`, `_` and `\\` match only themselves."""

ESCAPE = "\\"


def containing(word: str) -> str:
    """A pattern for text that contains `word`; use it with `escape=ESCAPE`."""
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
