"""Text that people read in a badge or a page: it must show what it says.

Bidi overrides and isolates can make text read backwards, zero-width and tag characters hide text
inside it, and control characters, surrogates and noncharacters are not even allowed in XML; a
private-use character shows as whatever some font put there. Code points unassigned in this
Python's Unicode version stay allowed: they show as a box, not as nothing, and refusing them would
refuse the emoji of each newer Unicode version.
"""

import unicodedata

from django.core.exceptions import ValidationError

# Unicode general categories of the characters refused, with what to call them in an error.
HIDDEN = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character",
    "Cs": "a surrogate",
    "Co": "a private-use character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def _hidden_kind(char):
    code = ord(char)
    if 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE:
        return "a noncharacter"
    return HIDDEN.get(unicodedata.category(char))


def first_hidden(text):
    """The first character of ``text`` that would not show as itself, described for an error
    message ("U+202E RIGHT-TO-LEFT OVERRIDE (an invisible formatting character) at position 3"),
    or None if every character shows."""
    for position, char in enumerate(text, 1):
        kind = _hidden_kind(char)
        if kind:
            name = unicodedata.name(char, "")
            return f"U+{ord(char):04X}{' ' + name if name else ''} ({kind}) at position {position}"
    return None


def without_hidden(text, replacement=""):
    """``text`` with each character that would not show as itself replaced."""
    return "".join(replacement if _hidden_kind(char) else char for char in text)


def validate_visible(value):
    """Django validator: refuse text with a character that would not show as itself."""
    found = first_hidden(value)
    if found:
        raise ValidationError(
            "Remove %(character)s: text must read as it shows, without invisible or control characters.",
            code="hidden_character",
            params={"character": found},
        )
