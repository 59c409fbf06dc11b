"""Where each part of a badge goes, in each style, as shields.io's badge-maker places it.

Widths are measured as badge-maker measures them, from the widths of counter.features.badge_widths, and
the parts are placed by badge-maker's rules, so that a badge here is as wide as shields.io's for
the same text, logo and colours, to the hundredth of a pixel. Everything is a number: drawing
is counter.features.badges's job.
"""

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from counter.features.badge_logos import LOGO_HEIGHT
from counter.features.badge_widths import HELVETICA_BOLD_11, VERDANA_10, VERDANA_11, VERDANA_BOLD_10

STYLES = ("flat", "flat-square", "plastic", "for-the-badge", "social", "pixel")

HORIZONTAL_PADDING = 5
# The gap between a logo and the label beside it.
LOGO_PADDING = 3
# for-the-badge's margin on each side of a text and around a logo, the gap between a logo and
# text, and the spacing it adds after each letter.
WIDE_TEXT_MARGIN = 12
WIDE_LOGO_MARGIN = 9
WIDE_LOGO_GUTTER = 6
WIDE_LETTER_SPACING = 1.25
WIDE_HEIGHT = 28
# social's height, the padding in its label box and in its message bubble, and the gap between.
SOCIAL_HEIGHT = 20
SOCIAL_LABEL_PADDING = 5
SOCIAL_MESSAGE_PADDING = 4
SOCIAL_GUTTER = 6


@dataclass(frozen=True)
class Classic:
    """What sets flat, flat-square and plastic apart; text is placed in tenths of a pixel."""

    height: int
    baseline: int
    shadow: bool
    corner_radius: int | None
    gradient: tuple  # (offset, stop-color or None, stop-opacity) for each stop


CLASSIC_STYLES = {
    "flat": Classic(20, 140, True, 3, (("0", "#bbb", ".1"), ("1", None, ".1"))),
    "flat-square": Classic(20, 140, False, None, ()),
    "plastic": Classic(
        18,
        130,
        True,
        4,
        (("0", "#fff", ".7"), (".1", "#aaa", ".1"), (".9", "#000", ".3"), ("1", "#000", ".5")),
    ),
}


@dataclass(frozen=True)
class Layout:
    """A badge's geometry in pixels: its size, the widths of its label's part (0 for none) and
    of its message's part, the centre and length of each text, and where its logo goes."""

    width: float
    height: int
    left: float
    right: float
    label_x: float
    label_width: float
    message_x: float
    message_width: float
    logo_x: float = 0
    logo_y: float = 0


def text_width(text: str, widths: Mapping[str, float]) -> float:
    """The advance width of text in pixels, summed in order as shields.io sums it.

    Characters the table lacks count as wide as "m"; control characters count as nothing.
    """
    fallback = widths["m"]
    total = 0.0
    for char in text:
        if unicodedata.category(char) != "Cc":
            total += widths.get(char, fallback)
    return total


def preferred_width(text, widths=VERDANA_11):
    """Text width in the classic and social styles: whole pixels, odd so that text centres on the grid."""
    width = int(text_width(text, widths))
    return width if width % 2 else width + 1


def wide_width(text, widths):
    """for-the-badge's text width: whole pixels of the text, then the letters' extra spacing."""
    if not text:
        return 0
    return int(text_width(text, widths)) + WIDE_LETTER_SPACING * len(text)


def message_width(style: str, text: str) -> float:
    """The width a style gives a message's text (in capitals for for-the-badge, as it draws them)."""
    if style == "for-the-badge":
        return wide_width(text, VERDANA_BOLD_10)
    return preferred_width(text, HELVETICA_BOLD_11 if style == "social" else VERDANA_11)


def layout(style, label, message_width, has_message=True, logo_width=0, label_color_set=False) -> Layout:
    """The geometry of a badge of ``style`` with this label (as drawn: in capitals for
    for-the-badge, capitalised for social) and a message ``message_width`` wide.

    As in badge-maker, a classic badge keeps a label's part for a labelColor even without a
    label, and for-the-badge for a labelColor with a logo; a logo without either sits on the
    message's colour, left of the message.
    """
    if style == "for-the-badge":
        return _wide(label, message_width, logo_width, label_color_set)
    if style == "social":
        return _social(label, message_width, has_message, logo_width)
    return _classic(CLASSIC_STYLES[style].height, label, message_width, has_message, logo_width, label_color_set)


def _classic(height, label, message_width, has_message, logo_width, label_color_set):
    padding = HORIZONTAL_PADDING
    logo = logo_width + (LOGO_PADDING if logo_width and label else 0)
    has_label = bool(label) or label_color_set
    label_width = preferred_width(label) if label else 0
    left = label_width + 2 * padding + logo if has_label else 0
    message_margin = left - (1 if has_message else 0)
    right = message_width + 2 * padding
    if not has_label:
        message_margin += logo + padding if logo_width else 1
        if logo_width:
            right += logo + padding - 1
    return Layout(
        width=left + right,
        height=height,
        left=left,
        right=right,
        label_x=logo + 1 + padding + label_width / 2,
        label_width=label_width,
        message_x=message_margin + padding + message_width / 2,
        message_width=message_width,
        logo_x=padding,
        logo_y=(height - LOGO_HEIGHT) / 2,
    )


def _wide(label, message_width, logo_width, label_color_set):
    label_width = wide_width(label, VERDANA_10)
    label_start = WIDE_LOGO_MARGIN + logo_width + WIDE_LOGO_GUTTER if logo_width else WIDE_TEXT_MARGIN
    if label or (logo_width and label_color_set):
        left = label_start + label_width + WIDE_TEXT_MARGIN if label else 2 * WIDE_LOGO_MARGIN + logo_width
        message_start = left + WIDE_TEXT_MARGIN
        right = 2 * WIDE_TEXT_MARGIN + message_width
    else:
        left = 0
        logo = logo_width + WIDE_LOGO_GUTTER if logo_width else 0
        message_start = WIDE_TEXT_MARGIN + logo
        right = 2 * WIDE_TEXT_MARGIN + logo + message_width
    return Layout(
        width=left + right,
        height=WIDE_HEIGHT,
        left=left,
        right=right,
        label_x=label_start + label_width / 2,
        label_width=label_width,
        message_x=message_start + message_width / 2,
        message_width=message_width,
        logo_x=WIDE_LOGO_MARGIN,
        logo_y=(WIDE_HEIGHT - LOGO_HEIGHT) / 2,
    )


def _social(label, message_width, has_message, logo_width):
    logo = logo_width + (LOGO_PADDING if logo_width and label else 0)
    label_width = preferred_width(label, HELVETICA_BOLD_11)
    label_box = label_width + logo + 2 * SOCIAL_LABEL_PADDING
    bubble = message_width + 2 * SOCIAL_MESSAGE_PADDING
    right = SOCIAL_GUTTER + bubble if has_message else 0
    return Layout(
        width=label_box + 1 + right,
        height=SOCIAL_HEIGHT,
        left=label_box + 1,
        right=right,
        label_x=logo + label_width / 2 + SOCIAL_LABEL_PADDING,
        label_width=label_width,
        message_x=label_box + SOCIAL_GUTTER + bubble / 2,
        message_width=message_width,
        logo_x=SOCIAL_LABEL_PADDING,
        logo_y=(SOCIAL_HEIGHT - LOGO_HEIGHT) / 2,
    )
