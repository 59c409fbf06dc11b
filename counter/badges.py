"""Badges for named counters: the SVG image, and the JSON of a shields.io endpoint badge.

Everything here is a pure function of its arguments, so the views only count, call these and send
the result. Each style copies the layout, palette and text measurement of shields.io's
badge-maker, so a counter's badge sits beside shields.io's badges in a README and looks like one
of them. A badge loads no font, script or other file, so it shows through GitHub's image proxy
and under a strict Content-Security-Policy.
"""

import html
import operator
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from counter.badge_widths import VERDANA_10, VERDANA_11, VERDANA_BOLD_10
from counter.text import first_hidden, without_hidden

STYLES = ("flat", "flat-square", "plastic", "for-the-badge", "pixel")
MAX_LABEL_LENGTH = 64

# shields.io's named colours, as badge-maker 6 draws them, and the other names it accepts.
NAMED_COLORS = {
    "brightgreen": "#4b0",
    "green": "#67ac09",
    "yellowgreen": "#95991a",
    "yellow": "#d8b800",
    "orange": "#ea7233",
    "red": "#dd4343",
    "blue": "#007ec6",
    "grey": "#555",
    "lightgrey": "#939393",
}
COLOR_ALIASES = {
    "gray": "grey",
    "lightgray": "lightgrey",
    "success": "brightgreen",
    "important": "orange",
    "critical": "red",
    "informational": "blue",
    "inactive": "lightgrey",
}
COLOR_NAMES = ", ".join([*NAMED_COLORS, *COLOR_ALIASES])
HEX_DIGITS = frozenset("0123456789abcdef")

SVG_CONTENT_TYPE = "image/svg+xml; charset=utf-8"
# GitHub shows a README's images through its camo proxy, which keeps a copy for as long as the
# image's own headers allow: a badge that allows none is fetched again on each view of the page,
# which is what GitHub's documentation tells badge services to send ("no-cache"). no-store and
# max-age=0 keep browsers and other caches from holding an old count; an Expires of "0" is a date
# in the past (RFC 9111, 5.3) and Pragma is for HTTP/1.0 caches, which know no Cache-Control.
CACHE_HEADERS = {
    "Cache-Control": "max-age=0, no-cache, no-store, must-revalidate",
    "Expires": "0",
    "Pragma": "no-cache",
}

FONT_FAMILY = "Verdana,Geneva,DejaVu Sans,sans-serif"
HORIZONTAL_PADDING = 5
# for-the-badge's margin on each side of a text, and the spacing it adds after each letter.
WIDE_TEXT_MARGIN = 12
WIDE_LETTER_SPACING = 1.25
WIDE_HEIGHT = 28
# Above this brightness (0 to 1) a background gets dark text instead of white, as on shields.io.
DARK_TEXT_ABOVE = 0.69
# Metric-like suffixes for thousand, million, billion, trillion and quadrillion.
UNITS = ((10**3, "K"), (10**6, "M"), (10**9, "B"), (10**12, "T"), (10**15, "Q"))


def abbreviate(n: int) -> str:
    """A count as short as a badge wants it: 999, 1K, 1.2K, 12.3K, 123K, 1.2M, and so on.

    The value is rounded, half up, as shields.io's metric numbers are rounded rather than cut
    short: 1,050 is "1.1K" and 999,950 is "1M", never "1000K". One decimal is shown below 100 of
    a unit, unless it is 0. A negative count is written as its size with a minus sign.
    """
    n = operator.index(n)
    if n < 0:
        return "-" + abbreviate(-n)
    if n < UNITS[0][0]:
        return str(n)
    unit = max(index for index, (size, _) in enumerate(UNITS) if n >= size)
    while True:
        size, suffix = UNITS[unit]
        tenths = _divide_rounding_half_up(n * 10, size)
        if tenths < 1000:
            whole, tenth = divmod(tenths, 10)
            return f"{whole}.{tenth}{suffix}" if tenth else f"{whole}{suffix}"
        whole = _divide_rounding_half_up(n, size)
        if whole < 1000 or unit == len(UNITS) - 1:
            return f"{whole}{suffix}"
        unit += 1


def _divide_rounding_half_up(numerator, denominator):
    return (2 * numerator + denominator) // (2 * denominator)


class InvalidOption(ValueError):
    """A query parameter's value that a badge cannot take; the message starts with the parameter's name."""

    def __init__(self, parameter, problem):
        super().__init__(f"{parameter} {problem}")
        self.parameter = parameter


@dataclass(frozen=True)
class BadgeOptions:
    """How a badge looks, checked when made: an invalid value raises InvalidOption naming its query
    parameter. Colours are kept normalised: a shields.io colour name, or "#" and hex digits."""

    style: str = "flat"
    label: str = "views"
    color: str = "blue"
    label_color: str = "555"

    def __post_init__(self):
        if self.style not in STYLES:
            raise InvalidOption("style", f"must be one of {', '.join(STYLES)}; got {_shown(self.style)}")
        if len(self.label) > MAX_LABEL_LENGTH:
            raise InvalidOption("label", f"must be at most {MAX_LABEL_LENGTH} characters long")
        if hidden := first_hidden(self.label):
            raise InvalidOption("label", f"must be visible text, without invisible or control characters; it has {hidden}")
        object.__setattr__(self, "color", _normalize_color("color", self.color))
        object.__setattr__(self, "label_color", _normalize_color("labelColor", self.label_color))


# Query parameters, by the BadgeOptions field each sets.
PARAMETERS = {"style": "style", "label": "label", "color": "color", "label_color": "labelColor"}


def parse_options(query: Mapping[str, str]) -> BadgeOptions:
    """Badge options from a query string's parameters (style, label, color, labelColor).

    Absent parameters take their defaults and unknown ones are ignored; an invalid value raises
    InvalidOption with a message that names the parameter, fit to show whoever wrote the URL.
    """
    given = {field: query[name] for field, name in PARAMETERS.items() if name in query}
    return BadgeOptions(**given)


def _normalize_color(parameter, value):
    lowered = value.lower()
    if lowered in NAMED_COLORS:
        return lowered
    if lowered in COLOR_ALIASES:
        return COLOR_ALIASES[lowered]
    digits = lowered.removeprefix("#")
    if len(digits) in (3, 6) and set(digits) <= HEX_DIGITS:
        return "#" + digits
    raise InvalidOption(
        parameter,
        f"must be a shields.io colour name ({COLOR_NAMES}) or a hex colour of 3 or 6 digits, with or without #; got {_shown(value)}",
    )


def _shown(value):
    """An invalid value as an error message quotes it: in quotes, escaped, and not too long."""
    return repr(value if len(value) <= 32 else value[:32] + "…")


def shields_endpoint(label: str, message: str, options: BadgeOptions) -> dict:
    """The JSON object that shields.io's endpoint badge reads (schema version 1) to draw a badge."""
    return {
        "schemaVersion": 1,
        "label": label,
        "message": message,
        "color": options.color,
        "labelColor": options.label_color,
    }


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


def render_svg(label: str, message: str, options: BadgeOptions) -> str:
    """The badge as SVG text: label on the left (none if empty), message on the right.

    The title and aria-label read "label: message" as given, even where for-the-badge draws
    them in capitals, so that screen readers read words rather than letters. A character that
    would not show as itself (see counter.text) is drawn as U+FFFD, so the SVG is always valid XML.
    """
    label = without_hidden(label, "\N{REPLACEMENT CHARACTER}")
    message = without_hidden(message, "\N{REPLACEMENT CHARACTER}")
    accessible = f"{label}: {message}" if label else message
    if options.style == "pixel":
        return _svg(1, 1, accessible, "", view_box="0 0 1 1")
    if options.style == "for-the-badge":
        return _for_the_badge(label, message, options, accessible)
    return _classic(label, message, options, accessible)


@dataclass(frozen=True)
class _Classic:
    """What sets flat, flat-square and plastic apart; text is placed in tenths of a pixel."""

    height: int
    baseline: int
    shadow: bool
    corner_radius: int | None
    gradient: tuple  # (offset, stop-color or None, stop-opacity) for each stop


CLASSIC_STYLES = {
    "flat": _Classic(20, 140, True, 3, (("0", "#bbb", ".1"), ("1", None, ".1"))),
    "flat-square": _Classic(20, 140, False, None, ()),
    "plastic": _Classic(
        18,
        130,
        True,
        4,
        (("0", "#fff", ".7"), (".1", "#aaa", ".1"), (".9", "#000", ".3"), ("1", "#000", ".5")),
    ),
}


def _classic(label, message, options, accessible):
    style = CLASSIC_STYLES[options.style]
    label_width = _preferred_width(label) if label else 0
    message_width = _preferred_width(message)
    left = label_width + 2 * HORIZONTAL_PADDING if label else 0
    right = message_width + 2 * HORIZONTAL_PADDING
    width = left + right
    height = style.height
    color = _svg_color(options.color)
    label_color = _svg_color(options.label_color)

    parts = []
    if style.gradient:
        stops = "".join(
            f'<stop offset="{offset}"'
            + (f' stop-color="{stop_color}"' if stop_color else "")
            + f' stop-opacity="{opacity}"/>'
            for offset, stop_color, opacity in style.gradient
        )
        parts.append(f'<linearGradient id="s" x2="0" y2="100%">{stops}</linearGradient>')
    if style.corner_radius is not None:
        parts.append(
            f'<clipPath id="r"><rect width="{width}" height="{height}"'
            f' rx="{style.corner_radius}" fill="#fff"/></clipPath>'
        )
        parts.append('<g clip-path="url(#r)">')
    else:
        parts.append('<g shape-rendering="crispEdges">')
    if label:
        parts.append(f'<rect width="{left}" height="{height}" fill="{label_color}"/>')
    parts.append(f'<rect x="{left}" width="{right}" height="{height}" fill="{color}"/>')
    if style.gradient:
        parts.append(f'<rect width="{width}" height="{height}" fill="url(#s)"/>')
    parts.append("</g>")

    parts.append(_text_group(110))
    if label:
        middle = 1 + HORIZONTAL_PADDING + label_width / 2
        parts.append(_classic_text(label, middle, label_width, label_color, style))
    if message:
        margin = left - 1 if label else 0
        middle = margin + HORIZONTAL_PADDING + message_width / 2
        parts.append(_classic_text(message, middle, message_width, color, style))
    parts.append("</g>")
    return _svg(width, height, accessible, "".join(parts))


def _preferred_width(text):
    """Text width in the classic styles: whole pixels, odd so that text centres on the grid."""
    width = int(text_width(text, VERDANA_11))
    return width if width % 2 else width + 1


def _classic_text(text, middle, width, background, style):
    text_color, shadow_color = _text_colors(background)
    place = f'x="{_number(10 * middle)}" textLength="{_number(10 * width)}" transform="scale(.1)"'
    content = _escape(text)
    shadow = ""
    if style.shadow:
        shadow = (
            f'<text aria-hidden="true" {place} y="{style.baseline + 10}" fill="{shadow_color}"'
            f' fill-opacity=".3">{content}</text>'
        )
    return f'{shadow}<text {place} y="{style.baseline}" fill="{text_color}">{content}</text>'


def _for_the_badge(label, message, options, accessible):
    label = label.upper()
    message = message.upper()
    label_width = _wide_width(label, VERDANA_10)
    message_width = _wide_width(message, VERDANA_BOLD_10)
    left = label_width + 2 * WIDE_TEXT_MARGIN if label else 0
    right = message_width + 2 * WIDE_TEXT_MARGIN
    width = left + right
    color = _svg_color(options.color)
    label_color = _svg_color(options.label_color)

    parts = ['<g shape-rendering="crispEdges">']
    if label:
        parts.append(f'<rect width="{_number(left)}" height="{WIDE_HEIGHT}" fill="{label_color}"/>')
    parts.append(
        f'<rect x="{_number(left)}" width="{_number(right)}" height="{WIDE_HEIGHT}"'
        f' fill="{color}"/>'
    )
    parts.append("</g>")
    parts.append(_text_group(100))
    if label:
        middle = WIDE_TEXT_MARGIN + label_width / 2
        parts.append(_wide_text(label, middle, label_width, label_color, bold=False))
    if message:
        middle = left + WIDE_TEXT_MARGIN + message_width / 2
        parts.append(_wide_text(message, middle, message_width, color, bold=True))
    parts.append("</g>")
    return _svg(width, WIDE_HEIGHT, accessible, "".join(parts))


def _wide_width(text, widths):
    """for-the-badge's text width: whole pixels of the text, then the letters' extra spacing."""
    if not text:
        return 0
    return int(text_width(text, widths)) + WIDE_LETTER_SPACING * len(text)


def _wide_text(text, middle, width, background, bold):
    text_color, _ = _text_colors(background)
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{_number(10 * middle)}" y="175" textLength="{_number(10 * width)}"'
        f' transform="scale(.1)" fill="{text_color}"{weight}>{_escape(text)}</text>'
    )


def _text_group(font_size):
    return (
        f'<g fill="#fff" text-anchor="middle" font-family="{FONT_FAMILY}"'
        f' text-rendering="geometricPrecision" font-size="{font_size}">'
    )


def _svg(width, height, accessible, body, view_box=None):
    box = f' viewBox="{view_box}"' if view_box else ""
    text = _escape(accessible)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_number(width)}"'
        f' height="{_number(height)}"{box} role="img" aria-label="{text}">'
        f"<title>{text}</title>{body}</svg>"
    )


def _svg_color(color):
    """The fill for a normalised colour; only ever "#" and hex digits, whatever the query said."""
    return NAMED_COLORS.get(color, color)


def _text_colors(background):
    """Text and shadow colours that stand out on a background, as shields.io chooses them."""
    digits = _svg_color(background).removeprefix("#")
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    red, green, blue = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    brightness = round((red * 299 + green * 587 + blue * 114) / 255000, 2)
    return ("#333", "#ccc") if brightness > DARK_TEXT_ABOVE else ("#fff", "#010101")


def _escape(text):
    """Text fit for an SVG's text content and its double- or single-quoted attribute values."""
    return html.escape(text, quote=True)


def _number(value):
    """A coordinate as SVG wants it: no trailing zeros, no exponent."""
    return f"{value:.2f}".rstrip("0").rstrip(".")
