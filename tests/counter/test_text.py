"""Text that must show what it says (counter.text): which characters are refused, how an error
names one, and the validator that refuses them in forms."""

import itertools

import pytest
from django.core.exceptions import ValidationError

from counter.text import first_hidden, validate_visible, without_hidden

# One character of each kind that would not show as itself.
HIDDEN = {
    "bidi override": "\u202e",
    "bidi isolate": "\u2066",
    "zero-width space": "\u200b",
    "zero-width joiner": "\u200d",
    "byte order mark": "\ufeff",
    "tag character": "\U000e0041",
    "soft hyphen": "\u00ad",
    "C0 control": "\x1b",
    "C1 control": "\x85",
    "line separator": "\u2028",
    "paragraph separator": "\u2029",
    "private use": "\ue000",
    "noncharacter": "\ufdd0",
    "surrogate": "\ud800",
}
# Text of several scripts, right-to-left ones included, and emoji with modifiers, a variation
# selector, a flag, and one newer than this Python's Unicode data.
VISIBLE = ["Café Ünïcødé", "訪問者数", "زيارات", "עברית", "👀 views", "👍🏽", "❤️", "🇫🇷", "\U0001fae9"]


@pytest.mark.parametrize("char", HIDDEN.values(), ids=list(HIDDEN))
def test_each_kind_of_hidden_character_is_found_with_its_code_point_and_position(char):
    found = first_hidden(f"ab{char}c")
    assert found.startswith(f"U+{ord(char):04X}")
    assert found.endswith(" at position 3")


def test_a_hidden_character_is_described_by_its_name_and_kind():
    assert (
        first_hidden("views\u202e") == "U+202E RIGHT-TO-LEFT OVERRIDE (an invisible formatting character) at position 6"
    )
    assert first_hidden("\x1b") == "U+001B (a control character) at position 1"


@pytest.mark.parametrize("text", VISIBLE)
def test_text_of_any_script_and_emoji_shows_as_written(text):
    assert first_hidden(text) is None
    assert without_hidden(text, "?") == text
    validate_visible(text)


def test_every_character_xml_forbids_is_hidden():
    forbidden = itertools.chain(set(range(0x20)) - {0x9, 0xA, 0xD}, range(0xD800, 0xE000), (0xFFFE, 0xFFFF))
    assert all(first_hidden(chr(code)) for code in forbidden)


def test_hidden_characters_can_be_replaced_or_removed():
    assert without_hidden("a\u202eb\u200bc", "\ufffd") == "a\ufffdb\ufffdc"
    assert without_hidden("a\u202eb\u200bc") == "abc"


def test_the_validator_refuses_a_hidden_character_naming_it():
    with pytest.raises(ValidationError) as raised:
        validate_visible("A lighthouse\u2066 at dusk")
    assert raised.value.code == "hidden_character"
    assert "U+2066 LEFT-TO-RIGHT ISOLATE" in raised.value.messages[0]
