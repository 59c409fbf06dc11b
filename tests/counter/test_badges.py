"""Counter badges: the numbers they show, the options a query string sets, the SVG they draw and
the shields.io endpoint JSON. Every SVG is parsed, so a badge that is not well-formed XML fails."""

import json
import xml.etree.ElementTree as ET

import pytest
from django.http import QueryDict
from hypothesis import given, settings
from hypothesis import strategies as st

from counter.badge_widths import VERDANA_10, VERDANA_11, VERDANA_BOLD_10
from counter.badges import (
    CACHE_HEADERS,
    MAX_LABEL_LENGTH,
    STYLES,
    BadgeOptions,
    InvalidOption,
    abbreviate,
    parse_options,
    render_svg,
    shields_endpoint,
    text_width,
)
from tests.counter.test_text import HIDDEN, VISIBLE

NS = "{http://www.w3.org/2000/svg}"
DRAWN_STYLES = [style for style in STYLES if style != "pixel"]
HEIGHTS = {"flat": 20, "flat-square": 20, "plastic": 18, "for-the-badge": 28, "pixel": 1}
# Elements that could run code, load something or link somewhere: a badge needs none of them.
FORBIDDEN_ELEMENTS = {"script", "style", "image", "a", "foreignObject", "use", "iframe", "object"}

# Text that XML allows and a screen reader would read: letters, marks, numbers, punctuation,
# symbols and spaces of every script.
printable = st.characters(categories=("L", "M", "N", "P", "S", "Zs"))


def svg_of(label="views", message="1", **query):
    return ET.fromstring(render_svg(label, message, parse_options(query)))


def number(value):
    return float(value)


def background_rects(root):
    """The rectangles that paint the badge's two halves, left to right (not clip or gloss)."""
    return [
        rect
        for group in root.findall(f"{NS}g")
        for rect in group.findall(f"{NS}rect")
        if not rect.get("fill", "").startswith("url(")
    ]


def texts(root):
    """The visible text elements, without the shadows drawn under them."""
    return [text for text in root.iter(f"{NS}text") if text.get("aria-hidden") != "true"]


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
    assert parse_options({}) == BadgeOptions(
        style="flat", label="views", color="blue", label_color="#555"
    )


def test_options_come_from_a_django_query_dict():
    query = QueryDict("style=plastic&label=hits&color=green&labelColor=222&unknown=1")
    assert parse_options(query) == BadgeOptions(
        style="plastic", label="hits", color="green", label_color="#222"
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
    ],
)
def test_colours_are_shields_names_or_hex_codes_and_are_normalised(given_color, normalised):
    options = parse_options({"color": given_color, "labelColor": given_color})
    assert options.color == normalised
    assert options.label_color == normalised


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"style": "round"}, "style"),
        ({"style": "Flat"}, "style"),
        ({"style": ""}, "style"),
        ({"color": "purple"}, "color"),
        ({"color": ""}, "color"),
        ({"color": "#12"}, "color"),
        ({"color": "#1234"}, "color"),
        ({"color": "12345g"}, "color"),
        ({"color": "##abc"}, "color"),
        ({"color": "abc\n"}, "color"),
        ({"color": 'blue" onload="alert(1)'}, "color"),
        ({"labelColor": "rgb(0,0,0)"}, "labelColor"),
        ({"labelColor": "url(#x)"}, "labelColor"),
        ({"label": "x" * (MAX_LABEL_LENGTH + 1)}, "label"),
        ({"label": "a\x00b"}, "label"),
        ({"label": "two\nlines"}, "label"),
        ({"label": "delete\x7f"}, "label"),
        ({"label": "\ufffe"}, "label"),
    ],
)
def test_an_invalid_option_raises_value_error_naming_the_parameter(query, parameter):
    with pytest.raises(InvalidOption) as raised:
        parse_options(query)
    assert isinstance(raised.value, ValueError)
    assert raised.value.parameter == parameter
    assert str(raised.value).startswith(f"{parameter} ")


@pytest.mark.parametrize("char", HIDDEN.values(), ids=list(HIDDEN))
def test_a_label_with_a_character_that_would_not_show_is_refused_naming_the_character(char):
    with pytest.raises(InvalidOption) as raised:
        parse_options({"label": f"vi{char}ews"})
    assert raised.value.parameter == "label"
    assert str(raised.value).startswith("label must be visible text")
    assert f"U+{ord(char):04X}" in str(raised.value) and "at position 3" in str(raised.value)


@pytest.mark.parametrize("label", VISIBLE)
def test_a_label_in_any_script_or_with_emoji_is_kept_as_written(label):
    assert parse_options({"label": label}).label == label


def test_options_made_without_a_query_are_checked_as_strictly():
    with pytest.raises(ValueError, match="^color "):
        BadgeOptions(color='red"/><script>')
    with pytest.raises(ValueError, match="^style "):
        BadgeOptions(style="social")
    assert BadgeOptions(label_color="#555") == BadgeOptions(label_color="555")


def test_a_label_may_be_as_long_as_the_limit_or_empty():
    assert parse_options({"label": "x" * MAX_LABEL_LENGTH}).label == "x" * MAX_LABEL_LENGTH
    assert parse_options({"label": ""}).label == ""


def test_an_error_quotes_no_more_than_a_short_part_of_a_long_value():
    with pytest.raises(ValueError) as raised:
        parse_options({"color": "z" * 10_000})
    assert len(str(raised.value)) < 400


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


@pytest.mark.parametrize("style", DRAWN_STYLES)
def test_the_two_halves_fill_the_badge_exactly(style):
    root = svg_of("views", "1.2K", style=style)
    width, height = number(root.get("width")), number(root.get("height"))
    left, right = background_rects(root)
    assert number(left.get("x", "0")) == 0
    assert number(right.get("x")) == number(left.get("width"))
    assert number(left.get("width")) + number(right.get("width")) == width
    assert all(number(rect.get("height")) == height for rect in (left, right))


@pytest.mark.parametrize("style", DRAWN_STYLES)
def test_each_text_is_centred_in_its_half_and_fits_inside_it(style):
    root = svg_of("visitors", "123K", style=style)
    left, right = background_rects(root)
    halves = [
        (0, number(left.get("width"))),
        (number(right.get("x")), number(right.get("x")) + number(right.get("width"))),
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


@pytest.mark.parametrize("style", ["flat", "plastic"])
def test_shaded_styles_draw_each_text_over_a_faint_shadow(style):
    root = svg_of("views", "1", style=style)
    drawn = list(root.iter(f"{NS}text"))
    shadows = [text for text in drawn if text.get("aria-hidden") == "true"]
    assert [text.text for text in drawn] == ["views", "views", "1", "1"]
    assert len(shadows) == 2 and all(text.get("fill-opacity") == ".3" for text in shadows)


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


@pytest.mark.parametrize("style", DRAWN_STYLES)
def test_text_on_a_light_background_is_dark(style):
    root = svg_of("views", "1", style=style, color="fff", labelColor="111")
    label, message = texts(root)
    assert label.get("fill", "#fff") == "#fff"
    assert message.get("fill") == "#333"


@pytest.mark.parametrize("style", DRAWN_STYLES)
def test_an_empty_label_leaves_only_the_message(style):
    root = svg_of("", "42", style=style)
    (rect,) = background_rects(root)
    assert number(rect.get("width")) == number(root.get("width"))
    assert [text.text for text in texts(root)] == ["42"]
    assert root.get("aria-label") == "42"


def test_colours_fill_the_halves_in_shields_io_palette():
    root = svg_of(color="blue", labelColor="abc")
    left, right = background_rects(root)
    assert (left.get("fill"), right.get("fill")) == ("#abc", "#007ec6")


def test_the_pixel_is_one_transparent_pixel_with_only_its_title():
    root = svg_of("views", "5", style="pixel")
    assert (root.get("width"), root.get("height")) == ("1", "1")
    assert [child.tag for child in root] == [f"{NS}title"]


# Widths


def test_text_widths_match_verdana_as_measured_in_a_browser():
    # Measurements of whole strings in Chrome, published with the widths shields.io uses.
    assert text_width("m", VERDANA_11) == pytest.approx(10.7)
    assert text_width("v1.2.511", VERDANA_11) == pytest.approx(49.48, abs=0.1)
    assert text_width("v1.2.511", VERDANA_10) == pytest.approx(44.98, abs=0.1)
    assert text_width("v1.2.511", VERDANA_BOLD_10) == pytest.approx(49.28, abs=0.1)
    assert text_width("m", VERDANA_BOLD_10) == pytest.approx(10.59, abs=0.1)


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
    assert number(svg_of("WWW", "1", style=style).get("width")) > number(
        svg_of("iii", "1", style=style).get("width")
    )


@pytest.mark.parametrize("style", DRAWN_STYLES)
def test_the_label_sizes_only_the_left_half_and_the_message_only_the_right(style):
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
def test_a_badge_loads_nothing_and_links_nowhere(style):
    svg = render_svg("views", "1", parse_options({"style": style}))
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
)
def test_any_printable_text_gives_a_valid_badge_titled_label_colon_message(label, message, style):
    options = parse_options({"label": label, "style": style})
    root = ET.fromstring(render_svg(label, message, options))
    accessible = f"{label}: {message}" if label else message
    assert root[0].text == (accessible or None)
    assert root.get("aria-label") == accessible


def test_characters_that_would_not_show_are_drawn_as_replacement_characters():
    root = svg_of("a\u202eb", "1\u200b")
    assert root[0].text == "a\ufffdb: 1\ufffd"
    assert root.get("aria-label") == "a\ufffdb: 1\ufffd"


@settings(deadline=None)
@given(st.text(), st.text(), st.sampled_from(STYLES))
def test_any_text_at_all_still_gives_well_formed_xml(label, message, style):
    ET.fromstring(render_svg(label, message, BadgeOptions(style=style)))


@settings(deadline=None)
@given(st.integers(), st.sampled_from(DRAWN_STYLES))
def test_any_count_gives_a_badge_whose_halves_fill_it(count, style):
    root = ET.fromstring(render_svg("views", abbreviate(count), BadgeOptions(style=style)))
    assert sum(number(rect.get("width")) for rect in background_rects(root)) == number(
        root.get("width")
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


def test_cache_headers_let_no_cache_keep_a_badge():
    directives = {part.strip() for part in CACHE_HEADERS["Cache-Control"].split(",")}
    assert {"no-cache", "no-store"} <= directives
    ages = [part.split("=")[1] for part in directives if part.startswith(("max-age", "s-maxage"))]
    assert all(age == "0" for age in ages)
    assert "public" not in directives
    assert CACHE_HEADERS["Pragma"] == "no-cache"
