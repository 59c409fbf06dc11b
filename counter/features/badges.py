"""Badges for named counters: the SVG image, and the JSON of a shields.io endpoint badge.

Everything here is a pure function of its arguments, so the views only count, call these and send
the result. Each style copies the layout, palette and text measurement of shields.io's
badge-maker (counter.features.badge_layout), so a counter's badge sits beside shields.io's badges in a
README and looks like one of them. A badge loads no font, script or other file (a logo is a
data: URI inside it), so it shows through GitHub's image proxy and under a strict
Content-Security-Policy.
"""

import html
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from counter.features import badge_layout, badge_logos, colors
from counter.features.badge_layout import STYLES, Layout
from counter.text import first_hidden, without_hidden
from herokuapp import process_state

MAX_LABEL_LENGTH = 64


@dataclass(frozen=True)
class Theme:
    """The colours a badge takes where the query sets none."""

    color: str
    label_color: str


# "light" is shields.io's look. "dark" is for pages on a dark background such as GitHub's dark
# theme (#0d1117): shields.io's #555 label is only 2.5:1 against it and fades into the page, so
# the label is GitHub's own muted grey #6e7681 and the message its accent blue #1f6feb. Each is
# at least 4:1 against #0d1117 (WCAG asks 3:1 of a graphic's parts) and carries white text at
# 4.5:1 or more (WCAG AA for text), and badge-maker's brightness rule still picks white text.
THEMES = {
    "light": Theme(color="blue", label_color="#555"),
    "dark": Theme(color="#1f6feb", label_color="#6e7681"),
}

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
SOCIAL_FONT_FAMILY = "Helvetica Neue,Helvetica,Arial,sans-serif"
# Above this brightness (0 to 1) a background gets dark text instead of white, as on shields.io.
DARK_TEXT_ABOVE = 0.69
# A trend badge's sparkline: its width, and how many days it may show.
SPARKLINE_WIDTH = 60
TREND_DAYS = range(7, 91)
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
    """A query parameter's value that a badge cannot take. The message starts with the parameter's
    name and says everything; ``reason`` says why in a few words, short enough for a badge."""

    def __init__(self, parameter, problem, reason=None):
        super().__init__(f"{parameter} {problem}")
        self.parameter = parameter
        self.reason = reason or problem


@dataclass(frozen=True)
class BadgeOptions:
    """How a badge looks, checked when made: an invalid value raises InvalidOption naming its query
    parameter. Colours are kept in counter.features.colors's canonical form and a logo as its Simple Icons
    slug; None is "not set", for the theme or badge-maker to decide."""

    style: str = "flat"
    label: str = "views"
    color: str | None = None
    label_color: str | None = None
    logo: str | None = None
    logo_color: str | None = None
    logo_size: str | None = None
    theme: str = "light"

    def __post_init__(self):
        _check_choice("style", self.style, STYLES)
        if len(self.label) > MAX_LABEL_LENGTH:
            raise InvalidOption(
                "label", f"must be at most {MAX_LABEL_LENGTH} characters long", f"over {MAX_LABEL_LENGTH} characters"
            )
        if hidden := first_hidden(self.label):
            raise InvalidOption(
                "label",
                f"must be visible text, without invisible or control characters; it has {hidden}",
                f"hidden character {hidden.split()[0]}",
            )
        _check_choice("theme", self.theme, tuple(THEMES))
        for field, parameter in (("color", "color"), ("label_color", "labelColor"), ("logo_color", "logoColor")):
            if (value := getattr(self, field)) is not None:
                object.__setattr__(self, field, _normalize_color(parameter, value))
        if self.logo is not None:
            try:
                object.__setattr__(self, "logo", badge_logos.icon(self.logo).slug)
            except badge_logos.UnknownLogo:
                raise InvalidOption(
                    "logo",
                    f"must be the slug of a Simple Icons icon (see simpleicons.org); got {_shown(self.logo)}",
                    f"unknown logo {_shown(self.logo, 20)}",
                ) from None
        if self.logo_size is not None:
            _check_choice("logoSize", self.logo_size, badge_logos.LOGO_SIZES)

    @property
    def color_or_default(self) -> str:
        return self.color or THEMES[self.theme].color

    @property
    def label_color_or_default(self) -> str:
        return self.label_color or THEMES[self.theme].label_color


def _check_choice(parameter, value, choices):
    if value not in choices:
        noun = parameter.removeprefix("logo").lower()
        raise InvalidOption(
            parameter,
            f"must be one of {', '.join(choices)}; got {_shown(value)}",
            f"unknown {noun} {_shown(value, 20)}",
        )


# Query parameters, by the BadgeOptions field each sets.
PARAMETERS = {
    "style": "style",
    "label": "label",
    "color": "color",
    "label_color": "labelColor",
    "logo": "logo",
    "logo_color": "logoColor",
    "logo_size": "logoSize",
    "theme": "theme",
}


def parse_options(query: Mapping[str, str]) -> BadgeOptions:
    """Badge options from a query string's parameters (those of PARAMETERS).

    Absent parameters take their defaults and unknown ones are ignored; an invalid value raises
    InvalidOption with a message that names the parameter, fit to show whoever wrote the URL.
    """
    return _options(tuple((field, query[name]) for field, name in PARAMETERS.items() if name in query))


@process_state.cache(maxsize=1024)  # a README's badge asks for the same options on every view
def _options(given):
    return BadgeOptions(**dict(given))


def _normalize_color(parameter, value):
    try:
        return colors.normalize(value)
    except colors.InvalidColor as error:
        raise InvalidOption(
            parameter,
            f"must be a shields.io or CSS colour name, a hex colour, or rgb(), rgba(), hsl() or hsla(): {error}",
            str(error),
        ) from None


def _shown(value, limit=32):
    """An invalid value as an error message quotes it: in quotes, escaped, and not too long."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def shields_endpoint(label: str, message: str, options: BadgeOptions, is_error: bool = False) -> dict:
    """The JSON object that shields.io's endpoint badge reads (schema version 1) to draw a badge.

    The colours are the ones this badge draws, theme included. isError is there only for an error,
    which shields.io then draws in its own colours; style only if not shields.io's default, and
    the logo's fields only with a logo, which is the only way the schema takes them.
    """
    data = {
        "schemaVersion": 1,
        "label": label,
        "message": message,
        "color": options.color_or_default,
        "labelColor": options.label_color_or_default,
    }
    if is_error:
        data["isError"] = True
    if options.style not in ("flat", "pixel"):
        data["style"] = options.style
    if options.logo:
        data["namedLogo"] = options.logo
        if options.logo_color:
            data["logoColor"] = options.logo_color
        if options.logo_size:
            data["logoSize"] = options.logo_size
    return data


def render_svg(label: str, message: str, options: BadgeOptions) -> str:
    """The badge as SVG text: label on the left (none if empty), message on the right.

    The title and aria-label read "label: message" as given, even where for-the-badge and social
    draw them in capitals, so that screen readers read words rather than letters. A character that
    would not show as itself (see counter.text) is drawn as U+FFFD, so the SVG is always valid XML.
    """
    label = without_hidden(label, "\N{REPLACEMENT CHARACTER}")
    message = without_hidden(message, "\N{REPLACEMENT CHARACTER}")
    accessible = f"{label}: {message}" if label else message
    return _render(label, _Message(message), options, accessible)


def render_trend_svg(label: str, views_per_day: Sequence[int], options: BadgeOptions) -> str:
    """A badge whose message is a sparkline of views per day, oldest first (7 to 90 days).

    The line and a light fill under it are drawn in the colour the message's text would take on
    ``color``, in the message's part of the badge; days without views draw a flat line along the
    bottom. The title and aria-label give the total ("views: 1,234 in the last 30 days").
    """
    values = [operator.index(value) for value in views_per_day]
    if len(values) not in TREND_DAYS:
        raise ValueError(f"a trend shows {TREND_DAYS.start} to {TREND_DAYS.stop - 1} days, not {len(values)}")
    if min(values) < 0:
        raise ValueError(f"a day has no fewer than 0 views, not {min(values)}")
    label = without_hidden(label, "\N{REPLACEMENT CHARACTER}")
    summary = f"{sum(values):,} in the last {len(values)} days"
    accessible = f"{label}: {summary}" if label else summary
    return _render(label, _Message(sparkline=values), options, accessible)


@dataclass(frozen=True)
class _Message:
    """The message's part: text, or a sparkline of counts."""

    text: str = ""
    sparkline: list | None = None


def _render(label, message, options, accessible):
    if options.style == "pixel":
        return _svg(1, 1, accessible, "", view_box="0 0 1 1")
    if options.style == "for-the-badge":
        label, message = label.upper(), _Message(message.text.upper(), message.sparkline)
    elif options.style == "social":
        label = label[:1].upper() + label[1:]
    logo = _logo(options)
    layout = badge_layout.layout(
        options.style,
        label,
        SPARKLINE_WIDTH if message.sparkline else badge_layout.message_width(options.style, message.text),
        has_message=bool(message.text or message.sparkline),
        logo_width=logo.width if logo else 0,
        label_color_set=options.label_color is not None,
    )
    image = ""
    if logo:
        image = (
            f'<image x="{_number(layout.logo_x)}" y="{_number(layout.logo_y)}" width="{_number(logo.width)}"'
            f' height="{badge_logos.LOGO_HEIGHT}" xlink:href="{logo.href}"/>'
        )
    draw = {"for-the-badge": _for_the_badge, "social": _social}.get(options.style, _classic)
    body = draw(layout, label, message, options, image)
    return _svg(layout.width, layout.height, accessible, body, xlink=bool(logo))


@process_state.cache(maxsize=256)  # finding an icon's bounds reads its whole path
def _logo(options):
    """The logo the options ask for, in logoColor, or else in the colour badge-maker gives it."""
    if not options.logo:
        return None
    icon = badge_logos.icon(options.logo)
    if options.logo_color:
        fill = colors.fill(options.logo_color)
    else:
        brand = "#" + icon.hex
        fill = badge_logos.default_fill(colors.brightness(brand), options.style) or brand
    return badge_logos.logo(icon, fill, options.logo_size)


def _classic(layout: Layout, label, message, options, image):
    style = badge_layout.CLASSIC_STYLES[options.style]
    width, height = layout.width, layout.height
    color = options.color_or_default
    label_color = options.label_color_or_default if layout.left else color

    parts = []
    if style.gradient:
        parts.append(_gradient("s", style.gradient))
    if style.corner_radius is not None:
        parts.append(
            f'<clipPath id="r"><rect width="{_number(width)}" height="{height}"'
            f' rx="{style.corner_radius}" fill="#fff"/></clipPath>'
        )
        parts.append('<g clip-path="url(#r)">')
    else:
        parts.append('<g shape-rendering="crispEdges">')
    if layout.left:
        parts.append(f'<rect width="{_number(layout.left)}" height="{height}" fill="{colors.fill(label_color)}"/>')
    parts.append(
        f'<rect x="{_number(layout.left)}" width="{_number(layout.right)}" height="{height}" fill="{colors.fill(color)}"/>'
    )
    if style.gradient:
        parts.append(f'<rect width="{_number(width)}" height="{height}" fill="url(#s)"/>')
    parts.append("</g>")

    parts.append(_text_group(110) + image)
    if label:
        parts.append(_classic_text(label, layout.label_x, layout.label_width, label_color, style))
    if message.text:
        parts.append(_classic_text(message.text, layout.message_x, layout.message_width, color, style))
    parts.append(_sparkline(layout, message, _text_colors(color)[0]))
    parts.append("</g>")
    return "".join(parts)


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


def _for_the_badge(layout: Layout, label, message, options, image):
    height = layout.height
    color = options.color_or_default
    label_color = options.label_color_or_default

    parts = ['<g shape-rendering="crispEdges">']
    if layout.left:
        parts.append(f'<rect width="{_number(layout.left)}" height="{height}" fill="{colors.fill(label_color)}"/>')
    parts.append(
        f'<rect x="{_number(layout.left)}" width="{_number(layout.right)}" height="{height}" fill="{colors.fill(color)}"/>'
    )
    parts.append("</g>")
    parts.append(_text_group(100) + image)
    if label:
        parts.append(_wide_text(label, layout.label_x, layout.label_width, label_color, bold=False))
    if message.text:
        parts.append(_wide_text(message.text, layout.message_x, layout.message_width, color, bold=True))
    parts.append(_sparkline(layout, message, _text_colors(color)[0]))
    parts.append("</g>")
    return "".join(parts)


def _wide_text(text, middle, width, background, bold):
    text_color, _ = _text_colors(background)
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{_number(10 * middle)}" y="175" textLength="{_number(10 * width)}"'
        f' transform="scale(.1)" fill="{text_color}"{weight}>{_escape(text)}</text>'
    )


def _social(layout: Layout, label, message, options, image):
    """badge-maker's social style: GitHub's grey button and a count in a speech bubble, in fixed
    colours. Its hover styles are left out, as a badge here has no links to hover."""
    label_box = layout.left - 1
    parts = [_gradient("a", (("0", "#fcfcfc", "0"), ("1", None, ".1")))]
    parts.append(
        '<g stroke="#d5d5d5">'
        f'<rect stroke="none" fill="#fcfcfc" x="0.5" y="0.5" width="{_number(label_box)}" height="19" rx="2"/>'
    )
    if layout.right:
        notch = label_box + badge_layout.SOCIAL_GUTTER
        parts.append(
            f'<rect x="{_number(notch + 0.5)}" y="0.5" width="{_number(layout.right - badge_layout.SOCIAL_GUTTER)}"'
            f' height="19" rx="2" fill="#fafafa"/>'
            f'<rect x="{_number(notch)}" y="7.5" width="0.5" height="5" stroke="#fafafa"/>'
            f'<path d="M{_number(notch + 0.5)} 6.5 l-3 3v1 l3 3" fill="#fafafa"/>'
        )
    parts.append("</g>" + image)
    parts.append(
        f'<g aria-hidden="true" fill="#333" text-anchor="middle" font-family="{SOCIAL_FONT_FAMILY}"'
        ' text-rendering="geometricPrecision" font-weight="700" font-size="110px" line-height="14px">'
        f'<rect stroke="#d5d5d5" fill="url(#a)" x=".5" y=".5" width="{_number(label_box)}" height="19" rx="2"/>'
    )
    texts = ((label, layout.label_x, layout.label_width), (message.text, layout.message_x, layout.message_width))
    for text, middle, width in texts:
        if text:
            place = f'x="{_number(10 * middle)}" transform="scale(.1)" textLength="{_number(10 * width)}"'
            parts.append(f'<text aria-hidden="true" {place} y="150" fill="#fff">{_escape(text)}</text>')
            parts.append(f'<text {place} y="140">{_escape(text)}</text>')
    parts.append(_sparkline(layout, message, "#333"))
    parts.append("</g>")
    return "".join(parts)


def _sparkline(layout, message, color):
    """The trend's line and the light area under it, across the message's text box."""
    values = message.sparkline
    if not values:
        return ""
    left = layout.message_x - layout.message_width / 2
    margin = round(layout.height / 5)
    top, bottom = margin, layout.height - margin
    peak = max(values)
    step = layout.message_width / (len(values) - 1)
    points = [
        (left + index * step, bottom - (value / peak * (bottom - top) if peak else 0))
        for index, value in enumerate(values)
    ]
    line = "M" + " L".join(f"{_number(x)} {_number(y)}" for x, y in points)
    area = f"{line} L{_number(left + layout.message_width)} {bottom} L{_number(left)} {bottom}Z"
    return (
        f'<path d="{area}" fill="{color}" fill-opacity=".25" stroke="none"/>'
        f'<path d="{line}" fill="none" stroke="{color}" stroke-width="1.25" stroke-linejoin="round" stroke-linecap="round"/>'
    )


def _gradient(id, stops):
    """A top-to-bottom gradient of (offset, stop-color or None, stop-opacity) stops."""
    content = "".join(
        f'<stop offset="{offset}"'
        + (f' stop-color="{stop_color}"' if stop_color else "")
        + f' stop-opacity="{opacity}"/>'
        for offset, stop_color, opacity in stops
    )
    return f'<linearGradient id="{id}" x2="0" y2="100%">{content}</linearGradient>'


def _text_group(font_size):
    return (
        f'<g fill="#fff" text-anchor="middle" font-family="{FONT_FAMILY}"'
        f' text-rendering="geometricPrecision" font-size="{font_size}">'
    )


def _svg(width, height, accessible, body, view_box=None, xlink=False):
    box = f' viewBox="{view_box}"' if view_box else ""
    namespace = ' xmlns:xlink="http://www.w3.org/1999/xlink"' if xlink else ""
    text = _escape(accessible)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg"{namespace} width="{_number(width)}"'
        f' height="{_number(height)}"{box} role="img" aria-label="{text}">'
        f"<title>{text}</title>{body}</svg>"
    )


def _text_colors(background):
    """Text and shadow colours that stand out on a background colour, as shields.io chooses them."""
    return ("#333", "#ccc") if colors.brightness(background) > DARK_TEXT_ABOVE else ("#fff", "#010101")


def _escape(text):
    """Text fit for an SVG's text content and its double- or single-quoted attribute values."""
    return html.escape(text, quote=True)


def _number(value):
    """A coordinate as SVG wants it: no trailing zeros, no exponent."""
    return f"{value:.2f}".rstrip("0").rstrip(".")
