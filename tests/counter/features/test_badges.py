"""Counter badges: the numbers they show, the options a query string sets, the SVG they draw (as
wide as shields.io's, logos, themes and trends included) and the shields.io endpoint JSON. Every
SVG is parsed, so a badge that is not well-formed XML fails."""

import base64
import json
import xml.etree.ElementTree as ET

import pytest
from django.http import QueryDict
from hypothesis import given, settings
from hypothesis import strategies as st

from counter.features.badge_layout import text_width
from counter.features.badge_widths import HELVETICA_BOLD_11, VERDANA_10, VERDANA_11, VERDANA_BOLD_10
from counter.features.badges import (
    CACHE_HEADERS,
    MAX_LABEL_LENGTH,
    STYLES,
    THEMES,
    BadgeOptions,
    InvalidOption,
    abbreviate,
    parse_options,
    render_svg,
    render_trend_svg,
    shields_endpoint,
)
from tests.counter.test_text import HIDDEN, VISIBLE

NS = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
DRAWN_STYLES = [style for style in STYLES if style != "pixel"]
# The styles drawn as a label's half and a message's half in the badge's colours; social draws a
# button and a speech bubble in colours of its own.
TWO_TONE_STYLES = [style for style in DRAWN_STYLES if style != "social"]
HEIGHTS = {"flat": 20, "flat-square": 20, "plastic": 18, "for-the-badge": 28, "social": 20, "pixel": 1}
# Elements that could run code, load something or link somewhere: a badge needs none of them
# (a logo is an <image> of a data: URI, checked on its own below).
FORBIDDEN_ELEMENTS = {"script", "style", "image", "a", "foreignObject", "use", "iframe", "object"}
GITHUB_DARK_BACKGROUND = "#0d1117"

# Text that XML allows and a screen reader would read: letters, marks, numbers, punctuation,
# symbols and spaces of every script.
printable = st.characters(categories=("L", "M", "N", "P", "S", "Zs"))


def svg_of(label="views", message="1", **query):
    return ET.fromstring(render_svg(label, message, parse_options(query)))


def number(value):
    return float(value)


def background_rects(root):
    """The rectangles that paint the badge's parts, left to right: its two halves, or social's
    button and bubble (not clip, gloss or the bubble's notch)."""
    return [
        rect
        for group in root.findall(f"{NS}g")
        for rect in group.findall(f"{NS}rect")
        if not rect.get("fill", "").startswith("url(") and number(rect.get("width")) > 0.5
    ]


def texts(root):
    """The visible text elements, without the shadows drawn under them."""
    return [text for text in root.iter(f"{NS}text") if text.get("aria-hidden") != "true"]


def images(root):
    return list(root.iter(f"{NS}image"))


def logo_svg(image):
    """The SVG a logo's data: URI holds, parsed."""
    href = image.get(XLINK_HREF)
    assert href.startswith("data:image/svg+xml;base64,")
    return ET.fromstring(base64.b64decode(href.removeprefix("data:image/svg+xml;base64,"), validate=True))


def luminance(color):
    """A colour's relative luminance (WCAG 2.x)."""
    digits = color.removeprefix("#")
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first, second):
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


# abbreviate


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, "0"),
        (7, "7"),
        (999, "999"),
        (1_000, "1K"),
        (1_049, "1K"),
        (1_050, "1.1K"),
        (1_234, "1.2K"),
        (9_999, "10K"),
        (12_345, "12.3K"),
        (99_949, "99.9K"),
        (99_950, "100K"),
        (123_456, "123K"),
        (999_499, "999K"),
        (999_500, "1M"),
        (999_950, "1M"),
        (1_000_000, "1M"),
        (12_345_678, "12.3M"),
        (999_999_999, "1B"),
        (1_000_000_000_000, "1T"),
        (-1, "-1"),
        (-999, "-999"),
        (-1_050, "-1.1K"),
        (-999_950, "-1M"),
    ],
)
def test_abbreviate_writes_counts_as_badges_show_them(count, shown):
    assert abbreviate(count) == shown


def test_abbreviations_are_rounded_half_up_not_truncated():
    assert abbreviate(1_949) == "1.9K"
    assert abbreviate(1_950) == "2K"
    assert abbreviate(1_250_000) == "1.3M"
    assert abbreviate(1_249_999) == "1.2M"


def test_abbreviate_refuses_what_is_not_a_whole_number():
    with pytest.raises(TypeError):
        abbreviate(1.5)


UNIT_SIZES = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12, "Q": 10**15}


@given(st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1))
def test_an_abbreviation_is_short_and_within_half_a_shown_step_of_the_count(count):
    shown = abbreviate(count)
    magnitude = shown.removeprefix("-")
    assert len(magnitude) <= 5
    assert shown.startswith("-") == (count < 0)
    suffix = magnitude.lstrip("0123456789.")
    digits = magnitude.removesuffix(suffix)
    unit = UNIT_SIZES[suffix]
    step = unit // 10 if "." in digits or (unit > 1 and float(digits) < 100) else unit
    assert abs(abs(count) - float(digits) * unit) <= step / 2 + 1e-6 * unit
    assert not digits.endswith(".0")
    if suffix not in ("", "Q"):
        assert float(digits) < 1000


# parse_options


def test_without_parameters_a_badge_is_a_flat_blue_views_badge_on_grey():
    options = parse_options({})
    assert options == BadgeOptions()
    assert (options.style, options.label, options.theme) == ("flat", "views", "light")
    assert (options.color_or_default, options.label_color_or_default) == ("blue", "#555")
    assert (options.logo, options.logo_color, options.logo_size) == (None, None, None)


def test_options_come_from_a_django_query_dict():
    query = QueryDict(
        "style=plastic&label=hits&color=green&labelColor=222&logo=GitHub&logoColor=fff&logoSize=auto&theme=dark&unknown=1"
    )
    assert parse_options(query) == BadgeOptions(
        style="plastic",
        label="hits",
        color="green",
        label_color="#222",
        logo="github",
        logo_color="#fff",
        logo_size="auto",
        theme="dark",
    )


@pytest.mark.parametrize("style", STYLES)
def test_every_style_is_accepted(style):
    assert parse_options({"style": style}).style == style


@pytest.mark.parametrize(
    ("given_color", "normalised"),
    [
        ("brightgreen", "brightgreen"),
        ("lightgrey", "lightgrey"),
        ("gray", "grey"),
        ("success", "brightgreen"),
        ("important", "orange"),
        ("critical", "red"),
        ("informational", "blue"),
        ("inactive", "lightgrey"),
        ("Blue", "blue"),
        ("abc", "#abc"),
        ("#ABC", "#abc"),
        ("00ff7F", "#00ff7f"),
        ("#00ff7f", "#00ff7f"),
        ("RebeccaPurple", "rebeccapurple"),
        ("rgb(0,0,0)", "rgb(0, 0, 0)"),
    ],
)
def test_colours_are_kept_in_the_canonical_form_of_counter_colors(given_color, normalised):
    options = parse_options({"color": given_color, "labelColor": given_color, "logoColor": given_color})
    assert options.color == normalised
    assert options.label_color == normalised
    assert options.logo_color == normalised


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"style": "round"}, "style"),
        ({"style": "Flat"}, "style"),
        ({"style": ""}, "style"),
        ({"color": "blueviolett"}, "color"),
        ({"color": ""}, "color"),
        ({"color": "#12"}, "color"),
        ({"color": "12345g"}, "color"),
        ({"color": "##abc"}, "color"),
        ({"color": "abc\ndef"}, "color"),
        ({"color": 'blue" onload="alert(1)'}, "color"),
        ({"labelColor": "rgb(0,0,0"}, "labelColor"),
        ({"labelColor": "url(#x)"}, "labelColor"),
        ({"logoColor": "var(--x)"}, "logoColor"),
        ({"label": "x" * (MAX_LABEL_LENGTH + 1)}, "label"),
        ({"label": "a\x00b"}, "label"),
        ({"label": "two\nlines"}, "label"),
        ({"label": "delete\x7f"}, "label"),
        ({"label": "\ufffe"}, "label"),
        ({"logo": "nosuchbrand"}, "logo"),
        ({"logo": ""}, "logo"),
        ({"logo": "github\u202e"}, "logo"),
        ({"logoSize": "large"}, "logoSize"),
        ({"logoSize": ""}, "logoSize"),
        ({"theme": "darker"}, "theme"),
        ({"theme": "Dark"}, "theme"),
    ],
)
def test_an_invalid_option_raises_value_error_naming_the_parameter_and_why_in_short(query, parameter):
    with pytest.raises(InvalidOption) as raised:
        parse_options(query)
    assert isinstance(raised.value, ValueError)
    assert raised.value.parameter == parameter
    assert str(raised.value).startswith(f"{parameter} ")
    assert 0 < len(raised.value.reason) <= 80
    assert raised.value.reason in str(raised.value) or parameter not in ("color", "labelColor", "logoColor")


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"style": "3d"}, "unknown style '3d'"),
        ({"color": "blueviolett"}, "unknown colour 'blueviolett'"),
        ({"labelColor": "nope"}, "unknown colour 'nope'"),
        ({"label": "x" * (MAX_LABEL_LENGTH + 1)}, f"over {MAX_LABEL_LENGTH} characters"),
        ({"label": "views\u202e"}, "hidden character U+202E"),
        ({"logo": "nosuchbrand"}, "unknown logo 'nosuchbrand'"),
        ({"logoSize": "large"}, "unknown size 'large'"),
        ({"theme": "darker"}, "unknown theme 'darker'"),
        ({"color": "x" * 100}, "colour longer than 64 characters"),  # counter.features.colors's reason
        ({"logo": "x" * 100}, "unknown logo 'xxxxxxxxxxxxxxxxxxxx…'"),
    ],
)
def test_the_short_reason_says_why_in_a_few_words_fit_for_a_badge(query, reason):
    with pytest.raises(InvalidOption) as raised:
        parse_options(query)
    assert raised.value.reason == reason


@pytest.mark.parametrize("char", HIDDEN.values(), ids=list(HIDDEN))
def test_a_label_with_a_character_that_would_not_show_is_refused_naming_the_character(char):
    with pytest.raises(InvalidOption) as raised:
        parse_options({"label": f"vi{char}ews"})
    assert raised.value.parameter == "label"
    assert str(raised.value).startswith("label must be visible text")
    assert f"U+{ord(char):04X}" in str(raised.value) and "at position 3" in str(raised.value)
    assert raised.value.reason == f"hidden character U+{ord(char):04X}"
    assert char not in raised.value.reason


@pytest.mark.parametrize("label", VISIBLE)
def test_a_label_in_any_script_or_with_emoji_is_kept_as_written(label):
    assert parse_options({"label": label}).label == label


def test_options_made_without_a_query_are_checked_as_strictly():
    with pytest.raises(ValueError, match="^color "):
        BadgeOptions(color='red"/><script>')
    with pytest.raises(ValueError, match="^style "):
        BadgeOptions(style="3d")
    with pytest.raises(ValueError, match="^logo "):
        BadgeOptions(logo="nosuchbrand")
    assert BadgeOptions(label_color="#555") == BadgeOptions(label_color="555")
    assert BadgeOptions(logo="NPM").logo == "npm"


def test_a_label_may_be_as_long_as_the_limit_or_empty():
    assert parse_options({"label": "x" * MAX_LABEL_LENGTH}).label == "x" * MAX_LABEL_LENGTH
    assert parse_options({"label": ""}).label == ""


def test_an_error_quotes_no_more_than_a_short_part_of_a_long_value():
    for parameter in ("color", "style", "logo", "theme", "logoSize"):
        with pytest.raises(InvalidOption) as raised:
            parse_options({parameter: "z" * 10_000})
        assert len(str(raised.value)) < 400
        assert len(raised.value.reason) <= 40


# The SVG of every style


@pytest.mark.parametrize("style", STYLES)
def test_a_badge_is_an_svg_image_titled_with_its_text(style):
    root = svg_of("views", "12.3K", style=style)
    assert root.tag == f"{NS}svg"
    assert root.get("role") == "img"
    assert root.get("aria-label") == "views: 12.3K"
    title = root[0]
    assert title.tag == f"{NS}title"
    assert title.text == "views: 12.3K"


@pytest.mark.parametrize("style", STYLES)
def test_each_style_has_shields_io_height(style):
    assert number(svg_of(style=style).get("height")) == HEIGHTS[style]


@pytest.mark.parametrize("style", TWO_TONE_STYLES)
def test_the_two_halves_fill_the_badge_exactly(style):
    root = svg_of("views", "1.2K", style=style)
    width, height = number(root.get("width")), number(root.get("height"))
    left, right = background_rects(root)
    assert number(left.get("x", "0")) == 0
    assert number(right.get("x")) == number(left.get("width"))
    assert number(left.get("width")) + number(right.get("width")) == width
    assert all(number(rect.get("height")) == height for rect in (left, right))


@pytest.mark.parametrize("style", DRAWN_STYLES)
def test_each_text_is_centred_in_its_part_and_fits_inside_it(style):
    root = svg_of("visitors", "123K", style=style)
    halves = [
        (number(rect.get("x", "0")), number(rect.get("x", "0")) + number(rect.get("width")))
        for rect in background_rects(root)
    ]
    for text, (start, end) in zip(texts(root), halves, strict=True):
        # Text is drawn at ten times its size and scaled down, as shields.io does.
        assert text.get("transform") == "scale(.1)"
        middle, length = number(text.get("x")) / 10, number(text.get("textLength")) / 10
        assert middle == pytest.approx((start + end) / 2, abs=1)
        assert start < middle - length / 2 and middle + length / 2 < end


@pytest.mark.parametrize(("style", "radius"), [("flat", "3"), ("plastic", "4")])
def test_rounded_styles_clip_the_whole_badge_to_rounded_corners(style, radius):
    root = svg_of(style=style)
    clip = root.find(f"{NS}clipPath/{NS}rect")
    assert clip.get("rx") == radius
    assert clip.get("width") == root.get("width")
    assert root.find(f"{NS}linearGradient") is not None


@pytest.mark.parametrize("style", ["flat-square", "for-the-badge"])
def test_square_styles_have_no_rounding_and_no_gradient(style):
    root = svg_of(style=style)
    assert root.find(f"{NS}clipPath") is None
    assert root.find(f"{NS}linearGradient") is None
    assert all(rect.get("rx") is None for rect in root.iter(f"{NS}rect"))


@pytest.mark.parametrize("style", ["flat", "plastic", "social"])
def test_shaded_styles_draw_each_text_over_a_faint_shadow(style):
    root = svg_of("views", "1", style=style)
    drawn = list(root.iter(f"{NS}text"))
    shadows = [text for text in drawn if text.get("aria-hidden") == "true"]
    assert [text.text for text in drawn] == [text.text for text in texts(root) for _ in (1, 2)]
    assert len(shadows) == 2


def test_plastic_has_a_stronger_gradient_than_flat():
    def opacities(style):
        stops = svg_of(style=style).iter(f"{NS}stop")
        return [float(stop.get("stop-opacity")) for stop in stops]

    assert max(opacities("plastic")) > max(opacities("flat"))


def test_for_the_badge_writes_capitals_with_a_bold_message_but_keeps_the_title_as_given():
    root = svg_of("Views", "1.2k", style="for-the-badge")
    label, message = texts(root)
    assert (label.text, message.text) == ("VIEWS", "1.2K")
    assert message.get("font-weight") == "bold"
    assert root[0].text == "Views: 1.2k"


@pytest.mark.parametrize("style", TWO_TONE_STYLES)
def test_text_on_a_light_background_is_dark(style):
    root = svg_of("views", "1", style=style, color="fff", labelColor="111")
    label, message = texts(root)
    assert label.get("fill", "#fff") == "#fff"
    assert message.get("fill") == "#333"


@pytest.mark.parametrize("style", TWO_TONE_STYLES)
def test_an_empty_label_leaves_only_the_message(style):
    root = svg_of("", "42", style=style)
    (rect,) = background_rects(root)
    assert number(rect.get("width")) == number(root.get("width"))
    assert [text.text for text in texts(root)] == ["42"]
    assert root.get("aria-label") == "42"


def test_an_empty_label_with_a_label_colour_keeps_a_stub_of_it_as_on_shields_io():
    root = svg_of("", "42", labelColor="abc")
    stub, message = background_rects(root)
    assert (stub.get("width"), stub.get("fill")) == ("10", "#abc")
    assert number(message.get("width")) == number(svg_of("", "42").get("width"))


def test_colours_fill_the_halves_in_shields_io_palette():
    root = svg_of(color="blue", labelColor="abc")
    left, right = background_rects(root)
    assert (left.get("fill"), right.get("fill")) == ("#abc", "#007ec6")


def test_css_colours_fill_the_halves_as_written_with_text_that_shows_on_them():
    root = svg_of(color="hsl(60, 100%, 90%)", labelColor="midnightblue")
    left, right = background_rects(root)
    assert (left.get("fill"), right.get("fill")) == ("midnightblue", "hsl(60, 100%, 90%)")
    assert [text.get("fill") for text in texts(root)] == ["#fff", "#333"]


def test_the_pixel_is_one_transparent_pixel_with_only_its_title():
    root = svg_of("views", "5", style="pixel", logo="github")
    assert (root.get("width"), root.get("height")) == ("1", "1")
    assert [child.tag for child in root] == [f"{NS}title"]


# Social


def test_social_is_a_grey_button_and_a_bubble_whatever_the_colours():
    root = svg_of("views", "42", style="social", color="red", labelColor="blue", theme="dark")
    button, bubble = background_rects(root)
    assert (button.get("fill"), bubble.get("fill")) == ("#fcfcfc", "#fafafa")
    group = root.find(f"{NS}g[@font-family]")
    assert group.get("fill") == "#333" and "Helvetica" in group.get("font-family")
    assert all(text.get("fill") is None for text in texts(root))  # the group's #333


def test_social_capitalises_the_label_it_draws_but_not_its_title():
    root = svg_of("views", "42", style="social")
    assert [text.text for text in texts(root)] == ["Views", "42"]
    assert root[0].text == "views: 42"


def test_social_measures_its_text_in_helvetica_bold():
    root = svg_of("views", "42", style="social")
    label, _ = texts(root)
    assert number(label.get("textLength")) == 10 * (int(text_width("Views", HELVETICA_BOLD_11)) | 1)


def test_social_with_an_empty_message_is_only_its_button():
    root = svg_of("views", "", style="social")
    (button,) = background_rects(root)
    assert number(root.get("width")) == number(button.get("width")) + 1


# As wide as shields.io: badge-maker's snapshots

# Geometry of shields.io's badges, read from badge-maker's snapshot file in badges/shields
# (badge-maker/lib/__snapshots__/make-badge.spec.js): the snapshots 'The badge generator "<style>"
# template badge generation should match snapshots: <case> 1', drawn with label "cactus",
# message "grown", color #b3e and, where the case says so, labelColor #0f0 and a logo 14 pixels
# wide, and 'The badge generator badges with logos should always produce the same badge badge
# with logo 1' for "label: message". Each row gives the badge's width and height, the (x, width)
# of each painted part (badge-maker also paints a label part 0 wide where there is no label,
# which is not drawn here), the (x, textLength) of each text as drawn in tenths of a pixel, and
# the logo's (x, y, width).
LOGO = {"logo": "github"}
LABEL_COLOR = {"labelColor": "0f0"}
SHIELDS_SNAPSHOTS = [
    # style, case, label, message, query, width, height, parts, texts, logo
    (
        "flat",
        "message/label, no logo",
        "cactus",
        "grown",
        {},
        90,
        20,
        [(0, 45), (45, 45)],
        [(235, 350), (665, 350)],
        None,
    ),
    (
        "flat",
        "message/label, with logo",
        "cactus",
        "grown",
        LOGO,
        107,
        20,
        [(0, 62), (62, 45)],
        [(405, 350), (835, 350)],
        (5, 3, 14),
    ),
    ("flat", "message only, no logo", "", "grown", {}, 45, 20, [(0, 45)], [(225, 350)], None),
    ("flat", "message only, with logo", "", "grown", LOGO, 63, 20, [(0, 63)], [(405, 350)], (5, 3, 14)),
    (
        "flat",
        "message only, with logo and labelColor",
        "",
        "grown",
        LOGO | LABEL_COLOR,
        69,
        20,
        [(0, 24), (24, 45)],
        [(455, 350)],
        (5, 3, 14),
    ),
    (
        "flat",
        "badges with logos",
        "label",
        "message",
        LOGO,
        113,
        20,
        [(0, 54), (54, 59)],
        [(365, 270), (825, 490)],
        (5, 3, 14),
    ),
    (
        "flat-square",
        "message/label, no logo",
        "cactus",
        "grown",
        {},
        90,
        20,
        [(0, 45), (45, 45)],
        [(235, 350), (665, 350)],
        None,
    ),
    (
        "flat-square",
        "message/label, with logo",
        "cactus",
        "grown",
        LOGO,
        107,
        20,
        [(0, 62), (62, 45)],
        [(405, 350), (835, 350)],
        (5, 3, 14),
    ),
    ("flat-square", "message only, no logo", "", "grown", {}, 45, 20, [(0, 45)], [(225, 350)], None),
    ("flat-square", "message only, with logo", "", "grown", LOGO, 63, 20, [(0, 63)], [(405, 350)], (5, 3, 14)),
    (
        "flat-square",
        "message only, with logo and labelColor",
        "",
        "grown",
        LOGO | LABEL_COLOR,
        69,
        20,
        [(0, 24), (24, 45)],
        [(455, 350)],
        (5, 3, 14),
    ),
    (
        "plastic",
        "message/label, no logo",
        "cactus",
        "grown",
        {},
        90,
        18,
        [(0, 45), (45, 45)],
        [(235, 350), (665, 350)],
        None,
    ),
    (
        "plastic",
        "message/label, with logo",
        "cactus",
        "grown",
        LOGO,
        107,
        18,
        [(0, 62), (62, 45)],
        [(405, 350), (835, 350)],
        (5, 2, 14),
    ),
    ("plastic", "message only, no logo", "", "grown", {}, 45, 18, [(0, 45)], [(225, 350)], None),
    ("plastic", "message only, with logo", "", "grown", LOGO, 63, 18, [(0, 63)], [(405, 350)], (5, 2, 14)),
    (
        "plastic",
        "message only, with logo and labelColor",
        "",
        "grown",
        LOGO | LABEL_COLOR,
        69,
        18,
        [(0, 24), (24, 45)],
        [(455, 350)],
        (5, 2, 14),
    ),
    (
        "for-the-badge",
        "message/label, no logo",
        "cactus",
        "grown",
        {},
        146.75,
        28,
        [(0, 72.5), (72.5, 74.25)],
        [(362.5, 485), (1096.25, 502.5)],
        None,
    ),
    (
        "for-the-badge",
        "message/label, with logo",
        "cactus",
        "grown",
        LOGO,
        163.75,
        28,
        [(0, 89.5), (89.5, 74.25)],
        [(532.5, 485), (1266.25, 502.5)],
        (9, 7, 14),
    ),
    ("for-the-badge", "message only, no logo", "", "grown", {}, 74.25, 28, [(0, 74.25)], [(371.25, 502.5)], None),
    (
        "for-the-badge",
        "message only, with logo",
        "",
        "grown",
        LOGO,
        94.25,
        28,
        [(0, 94.25)],
        [(571.25, 502.5)],
        (9, 7, 14),
    ),
    (
        "for-the-badge",
        "message only, with logo and labelColor",
        "",
        "grown",
        LOGO | LABEL_COLOR,
        106.25,
        28,
        [(0, 32), (32, 74.25)],
        [(691.25, 502.5)],
        (9, 7, 14),
    ),
    (
        "social",
        "message/label, no logo",
        "cactus",
        "grown",
        {},
        95,
        20,
        [(0.5, 47), (53.5, 41)],
        [(235, 370), (735, 330)],
        None,
    ),
    (
        "social",
        "message/label, with logo",
        "cactus",
        "grown",
        LOGO,
        112,
        20,
        [(0.5, 64), (70.5, 41)],
        [(405, 370), (905, 330)],
        (5, 3, 14),
    ),
    ("social", "message only, no logo", "", "grown", {}, 59, 20, [(0.5, 11), (17.5, 41)], [(375, 330)], None),
    ("social", "message only, with logo", "", "grown", LOGO, 73, 20, [(0.5, 25), (31.5, 41)], [(515, 330)], (5, 3, 14)),
]


@pytest.mark.parametrize(
    ("style", "case", "label", "message", "query", "width", "height", "parts", "drawn", "logo"),
    SHIELDS_SNAPSHOTS,
    ids=[f"{row[0]}: {row[1]}" for row in SHIELDS_SNAPSHOTS],
)
def test_a_badge_has_the_geometry_of_shields_io_s_for_the_same_text(
    style, case, label, message, query, width, height, parts, drawn, logo
):
    root = ET.fromstring(
        render_svg(label, message, parse_options({"style": style, "label": label, "color": "b3e", **query}))
    )
    assert (number(root.get("width")), number(root.get("height"))) == (width, height)
    assert [(number(rect.get("x", "0")), number(rect.get("width"))) for rect in background_rects(root)] == parts
    assert [(number(text.get("x")), number(text.get("textLength"))) for text in texts(root)] == drawn
    placed = [tuple(number(image.get(name)) for name in ("x", "y", "width", "height")) for image in images(root)]
    assert placed == ([] if logo is None else [(*logo, 14)])


# Logos


@pytest.mark.parametrize("style", DRAWN_STYLES)
def test_a_logo_is_an_image_of_its_icon_left_of_the_label_and_vertically_centred(style):
    root = svg_of("views", "1", style=style, logo="npm")
    (image,) = images(root)
    assert number(image.get("height")) == 14
    assert number(image.get("y")) == (HEIGHTS[style] - 14) / 2
    label, _ = texts(root)
    assert number(image.get("x")) + 14 < (number(label.get("x")) - number(label.get("textLength")) / 2) / 10
    assert len(logo_svg(image)) == 1  # its one path


@pytest.mark.parametrize("style", DRAWN_STYLES)
def test_a_logo_widens_the_badge_by_its_width_and_a_gap(style):
    without = number(svg_of("views", "1", style=style).get("width"))
    assert number(svg_of("views", "1", style=style, logo="npm").get("width")) == without + 14 + 3


def test_a_logo_takes_logo_color_or_else_the_colour_badge_maker_gives_it():
    def fill(**query):
        (image,) = images(svg_of(**query))
        return logo_svg(image).get("fill")

    assert fill(logo="github", logoColor="orange") == "#ea7233"
    assert fill(logo="github") == "#f5f5f5"  # GitHub's near-black would vanish on the grey label
    assert fill(logo="github", style="social") == "#181717"
    assert fill(logo="javascript", style="social") == "#333"
    assert fill(logo="python") == "#3776ab"


def test_logo_size_auto_draws_a_wide_logo_wider():
    square = svg_of("views", "1", logo="amd")
    auto = svg_of("views", "1", logo="amd", logoSize="auto")
    (image,) = images(auto)
    assert number(image.get("width")) == pytest.approx(14 * 24 / 5.726, abs=0.01)
    assert number(auto.get("width")) - number(square.get("width")) == pytest.approx(
        number(image.get("width")) - 14, abs=0.01
    )


@pytest.mark.parametrize("style", DRAWN_STYLES)
def test_a_logo_is_a_data_uri_of_an_svg_that_loads_and_runs_nothing(style):
    svg = render_svg("views", "1", parse_options({"style": style, "logo": "github", "logoSize": "auto"}))
    root = ET.fromstring(svg)
    for element in root.iter():
        assert element.tag.removeprefix(NS) not in FORBIDDEN_ELEMENTS - {"image"}
        for name in element.attrib:
            assert not name.startswith("on")
            assert "href" not in name or (element.tag == f"{NS}image" and name == XLINK_HREF)
    (image,) = images(root)
    icon = logo_svg(image)
    assert [element.tag.removeprefix(NS) for element in icon.iter()] == ["svg", "path"]
    assert svg.replace(image.get(XLINK_HREF), "").count("http") == 2  # the SVG and XLink namespaces


# Themes


def test_the_dark_theme_draws_colours_that_stand_out_on_a_dark_page_and_carry_white_text():
    root = svg_of("views", "1", theme="dark")
    label, message = background_rects(root)
    for part, text in zip((label, message), texts(root), strict=True):
        assert contrast(part.get("fill"), GITHUB_DARK_BACKGROUND) >= 3
        assert text.get("fill") == "#fff"
        assert contrast(part.get("fill"), "#fff") >= 4.5
    assert (label.get("fill"), message.get("fill")) == (THEMES["dark"].label_color, THEMES["dark"].color)


def test_shields_io_grey_label_would_fade_into_a_dark_page():
    assert contrast("#555", GITHUB_DARK_BACKGROUND) < 3


@pytest.mark.parametrize("style", TWO_TONE_STYLES)
def test_colours_given_win_over_the_theme(style):
    left, right = background_rects(svg_of("views", "1", style=style, theme="dark", color="red", labelColor="222"))
    assert (left.get("fill"), right.get("fill")) == ("#222", "#dd4343")
    left, right = background_rects(svg_of("views", "1", style=style, theme="dark", color="red"))
    assert (left.get("fill"), right.get("fill")) == (THEMES["dark"].label_color, "#dd4343")


def test_the_light_theme_is_shields_io_look():
    assert render_svg("views", "1", parse_options({"theme": "light"})) == render_svg("views", "1", BadgeOptions())


# Trends


def trend_of(values, label="views", **query):
    return ET.fromstring(render_trend_svg(label, values, parse_options(query)))


def sparkline_points(root):
    """The (x, y) of each point of the trend's line."""
    line = [path for path in root.iter(f"{NS}path") if path.get("fill") == "none"]
    (path,) = line
    return [tuple(float(value) for value in point.split()) for point in path.get("d").lstrip("M").split(" L")]


def test_a_trend_is_titled_with_its_total_and_its_days():
    root = trend_of([40] * 29 + [74], label="views")
    assert root[0].text == root.get("aria-label") == "views: 1,234 in the last 30 days"
    assert trend_of([0] * 7, label="").get("aria-label") == "0 in the last 7 days"


@pytest.mark.parametrize("style", DRAWN_STYLES)
def test_a_trend_draws_its_line_across_the_message_part_oldest_day_first(style):
    values = [0, 1, 2, 3, 4, 5, 6, 10, 3]
    root = trend_of(values, style=style)
    assert number(root.get("height")) == HEIGHTS[style]
    _, message = background_rects(root)
    start, end = number(message.get("x")), number(message.get("x")) + number(message.get("width"))
    points = sparkline_points(root)
    assert len(points) == len(values)
    xs = [x for x, _ in points]
    assert xs == sorted(xs) and start < xs[0] and xs[-1] < end
    ys = [y for _, y in points]
    assert all(0 < y < HEIGHTS[style] for y in ys)
    assert ys.index(min(ys)) == values.index(max(values))  # the highest day is drawn highest
    assert ys[0] == max(ys)


@pytest.mark.parametrize("style", DRAWN_STYLES)
def test_a_trend_of_days_without_views_is_a_flat_line_at_the_bottom(style):
    points = sparkline_points(trend_of([0] * 14, style=style))
    assert len({y for _, y in points}) == 1
    assert points[0][1] > HEIGHTS[style] / 2


def test_a_trend_is_drawn_in_the_colour_text_would_take_on_the_message_with_a_light_fill():
    line_color = {
        query: [
            path.get("stroke")
            for path in trend_of([1, 2, 3, 4, 5, 6, 7], **dict(query)).iter(f"{NS}path")
            if path.get("fill") == "none"
        ]
        for query in ((), (("color", "fff"),), (("style", "social"),))
    }
    assert line_color == {(): ["#fff"], (("color", "fff"),): ["#333"], (("style", "social"),): ["#333"]}
    (area,) = [path for path in trend_of([1, 2, 3, 4, 5, 6, 7]).iter(f"{NS}path") if path.get("fill") != "none"]
    assert area.get("fill") == "#fff" and float(area.get("fill-opacity")) < 0.5


@pytest.mark.parametrize("values", [[1] * 6, [1] * 91, [], [1, 2, 3, 4, 5, 6, -7], [1.5] * 7])
def test_a_trend_needs_seven_to_ninety_whole_counts_of_at_least_zero(values):
    with pytest.raises((ValueError, TypeError)):
        render_trend_svg("views", values, BadgeOptions())


def test_the_pixel_trend_is_one_pixel_titled_with_the_trend():
    root = trend_of([1] * 7, style="pixel")
    assert (root.get("width"), root.get("height")) == ("1", "1")
    assert root[0].text == "views: 7 in the last 7 days"


@settings(deadline=None)
@given(
    st.text(printable, max_size=MAX_LABEL_LENGTH),
    st.lists(st.integers(min_value=0, max_value=10**12), min_size=7, max_size=90),
    st.sampled_from(STYLES),
    st.sampled_from(["light", "dark"]),
)
def test_any_trend_gives_a_valid_badge_whose_line_stays_inside_it(label, values, style, theme):
    root = ET.fromstring(
        render_trend_svg(label, values, parse_options({"label": label, "style": style, "theme": theme}))
    )
    assert root.get("aria-label").endswith(f"{sum(values):,} in the last {len(values)} days")
    if style != "pixel":
        width, height = number(root.get("width")), number(root.get("height"))
        assert all(0 < x < width and 0 < y < height for x, y in sparkline_points(root))


# Widths


def test_text_widths_match_verdana_as_measured_in_a_browser():
    # Measurements of whole strings in Chrome, published with the widths shields.io uses.
    assert text_width("m", VERDANA_11) == pytest.approx(10.7)
    assert text_width("v1.2.511", VERDANA_11) == pytest.approx(49.48, abs=0.1)
    assert text_width("v1.2.511", VERDANA_10) == pytest.approx(44.98, abs=0.1)
    assert text_width("v1.2.511", VERDANA_BOLD_10) == pytest.approx(49.28, abs=0.1)
    assert text_width("m", VERDANA_BOLD_10) == pytest.approx(10.59, abs=0.1)
    assert text_width("Cactus", HELVETICA_BOLD_11) == pytest.approx(37.07)


def test_a_build_passing_badge_is_as_wide_as_shields_io_draws_it():
    # shields.io's flat "build: passing" badge: 88 pixels, its halves 37 and 51.
    root = svg_of("build", "passing")
    left, right = background_rects(root)
    assert root.get("width") == "88"
    assert (left.get("width"), right.get("width")) == ("37", "51")


def test_characters_without_a_width_count_as_wide_as_m():
    assert text_width("日本", VERDANA_11) == text_width("mm", VERDANA_11)
    assert text_width("a\tb", VERDANA_11) == text_width("ab", VERDANA_11)


@pytest.mark.parametrize("style", DRAWN_STYLES)
def test_badges_grow_with_their_text(style):
    widths = [number(svg_of("views", "1" * n, style=style).get("width")) for n in range(1, 8)]
    assert widths == sorted(set(widths))
    assert number(svg_of("WWW", "1", style=style).get("width")) > number(svg_of("iii", "1", style=style).get("width"))


@pytest.mark.parametrize("style", DRAWN_STYLES)
def test_the_label_sizes_only_the_left_part_and_the_message_only_the_right(style):
    def halves(label, message):
        left, right = background_rects(svg_of(label, message, style=style))
        return number(left.get("width")), number(right.get("width"))

    assert halves("views", "1")[0] == halves("views", "123.4M")[0]
    assert halves("views", "1")[1] == halves("page views", "1")[1]


def test_classic_halves_are_whole_odd_text_widths_plus_padding():
    for label in ["a", "views", "Hello, World!", "日本語"]:
        left, _ = background_rects(svg_of(label, "1"))
        text_pixels = number(left.get("width")) - 10
        assert text_pixels == int(text_pixels) and text_pixels % 2 == 1
        assert text_width(label, VERDANA_11) - 1 < text_pixels <= text_width(label, VERDANA_11) + 1


def test_for_the_badge_is_wider_than_flat_for_the_same_text():
    for label, message in [("views", "1"), ("hits", "12.3K"), ("a", "b")]:
        flat = number(svg_of(label, message).get("width"))
        assert number(svg_of(label, message, style="for-the-badge").get("width")) > flat


# Safety


HOSTILE_LABEL = "<script>alert(\"x\")</script> & 'q'"


@pytest.mark.parametrize("style", STYLES)
def test_markup_in_the_label_is_shown_as_text(style):
    svg = render_svg(HOSTILE_LABEL, "1", parse_options({"label": HOSTILE_LABEL, "style": style}))
    root = ET.fromstring(svg)
    assert "<script" not in svg
    assert root.get("aria-label") == f"{HOSTILE_LABEL}: 1"
    assert root[0].text == f"{HOSTILE_LABEL}: 1"
    assert not any(element.tag.endswith("script") for element in root.iter())


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("trend", [False, True])
def test_a_badge_loads_nothing_and_links_nowhere(style, trend):
    options = parse_options({"style": style, "theme": "dark"})
    svg = render_trend_svg("views", range(30), options) if trend else render_svg("views", "1", options)
    root = ET.fromstring(svg)
    ids = {element.get("id") for element in root.iter()} - {None}
    for element in root.iter():
        assert element.tag.removeprefix(NS) not in FORBIDDEN_ELEMENTS
        for name, value in element.attrib.items():
            assert "href" not in name and not name.startswith("on")
            if value.startswith("url("):
                assert value.removeprefix("url(#").removesuffix(")") in ids
    assert svg.count("http") == 1  # the namespace, and nothing else


@settings(deadline=None)
@given(
    st.text(printable, max_size=MAX_LABEL_LENGTH),
    st.text(printable, max_size=30),
    st.sampled_from(STYLES),
    st.sampled_from([{}, {"logo": "github"}, {"logo": "amd", "logoSize": "auto"}, {"theme": "dark"}]),
)
def test_any_printable_text_gives_a_valid_badge_titled_label_colon_message(label, message, style, query):
    options = parse_options({"label": label, "style": style, **query})
    root = ET.fromstring(render_svg(label, message, options))
    accessible = f"{label}: {message}" if label else message
    assert root[0].text == (accessible or None)
    assert root.get("aria-label") == accessible


def test_characters_that_would_not_show_are_drawn_as_replacement_characters():
    root = svg_of("a\u202eb", "1\u200b")
    assert root[0].text == "a\ufffdb: 1\ufffd"
    assert root.get("aria-label") == "a\ufffdb: 1\ufffd"
    trend = ET.fromstring(render_trend_svg("a\u202eb", [1] * 7, BadgeOptions()))
    assert trend.get("aria-label") == "a\ufffdb: 7 in the last 7 days"


@settings(deadline=None)
@given(st.text(), st.text(), st.sampled_from(STYLES))
def test_any_text_at_all_still_gives_well_formed_xml(label, message, style):
    ET.fromstring(render_svg(label, message, BadgeOptions(style=style)))


@settings(deadline=None)
@given(st.integers(), st.sampled_from(TWO_TONE_STYLES), st.sampled_from([None, "npm", "amd"]))
def test_any_count_gives_a_badge_whose_halves_fill_it(count, style, logo):
    root = ET.fromstring(render_svg("views", abbreviate(count), BadgeOptions(style=style, logo=logo, logo_size="auto")))
    assert sum(number(rect.get("width")) for rect in background_rects(root)) == pytest.approx(
        number(root.get("width")), abs=1e-9
    )


# The endpoint JSON and the cache headers


def test_the_endpoint_json_follows_shields_io_schema_version_1():
    options = parse_options({"color": "success", "labelColor": "#ABCDEF"})
    data = json.loads(json.dumps(shields_endpoint("views", "12.3K", options)))
    assert data == {
        "schemaVersion": 1,
        "label": "views",
        "message": "12.3K",
        "color": "brightgreen",
        "labelColor": "#abcdef",
    }


def test_the_endpoint_json_carries_the_logo_the_style_and_the_theme_s_colours():
    options = parse_options(
        {"logo": "GitHub", "logoColor": "fff", "logoSize": "auto", "style": "social", "theme": "dark"}
    )
    assert shields_endpoint("views", "1", options) == {
        "schemaVersion": 1,
        "label": "views",
        "message": "1",
        "color": THEMES["dark"].color,
        "labelColor": THEMES["dark"].label_color,
        "style": "social",
        "namedLogo": "github",
        "logoColor": "#fff",
        "logoSize": "auto",
    }


def test_the_endpoint_json_sends_logo_fields_only_with_a_logo_and_no_style_shields_io_lacks():
    # shields.io's endpoint schema takes logoColor and logoSize only beside namedLogo.
    data = shields_endpoint("views", "1", parse_options({"logoColor": "fff", "logoSize": "auto", "style": "pixel"}))
    assert not {"namedLogo", "logoColor", "logoSize", "style", "isError"} & set(data)


def test_the_endpoint_json_of_an_error_says_so():
    assert shields_endpoint("views", "not found", BadgeOptions(), is_error=True)["isError"] is True


def test_cache_headers_let_no_cache_keep_a_badge():
    directives = {part.strip() for part in CACHE_HEADERS["Cache-Control"].split(",")}
    assert {"no-cache", "no-store"} <= directives
    ages = [part.split("=")[1] for part in directives if part.startswith(("max-age", "s-maxage"))]
    assert all(age == "0" for age in ages)
    assert "public" not in directives
    assert CACHE_HEADERS["Pragma"] == "no-cache"
