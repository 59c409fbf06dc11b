"""Badge colours (counter.features.colors): the canonical form of every kind of colour a shields.io badge
takes, what is refused and the reason given, the SVG fill, and the brightness that picks dark or
light text, checked against what shields.io's badge-maker computes."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from counter.features.colors import CSS_COLORS, MAX_LENGTH, SHIELDS_COLORS, InvalidColor, brightness, fill, normalize

# The named colours of CSS Color 4, section 6.1, as the specification lists them.
CSS_NAMES = """
    aliceblue antiquewhite aqua aquamarine azure beige bisque black blanchedalmond blue blueviolet
    brown burlywood cadetblue chartreuse chocolate coral cornflowerblue cornsilk crimson cyan
    darkblue darkcyan darkgoldenrod darkgray darkgreen darkgrey darkkhaki darkmagenta
    darkolivegreen darkorange darkorchid darkred darksalmon darkseagreen darkslateblue
    darkslategray darkslategrey darkturquoise darkviolet deeppink deepskyblue dimgray dimgrey
    dodgerblue firebrick floralwhite forestgreen fuchsia gainsboro ghostwhite gold goldenrod gray
    green greenyellow grey honeydew hotpink indianred indigo ivory khaki lavender lavenderblush
    lawngreen lemonchiffon lightblue lightcoral lightcyan lightgoldenrodyellow lightgray
    lightgreen lightgrey lightpink lightsalmon lightseagreen lightskyblue lightslategray
    lightslategrey lightsteelblue lightyellow lime limegreen linen magenta maroon
    mediumaquamarine mediumblue mediumorchid mediumpurple mediumseagreen mediumslateblue
    mediumspringgreen mediumturquoise mediumvioletred midnightblue mintcream mistyrose moccasin
    navajowhite navy oldlace olive olivedrab orange orangered orchid palegoldenrod palegreen
    paleturquoise palevioletred papayawhip peachpuff peru pink plum powderblue purple
    rebeccapurple red rosybrown royalblue saddlebrown salmon sandybrown seagreen seashell sienna
    silver skyblue slateblue slategray slategrey snow springgreen steelblue tan teal thistle
    tomato turquoise violet wheat white whitesmoke yellow yellowgreen
""".split()
# CSS names that shields.io reads as its own colours (or aliases of them), as it draws them.
SHIELDS_NAMES_IN_CSS = {
    "blue": "blue",
    "gray": "grey",
    "green": "green",
    "grey": "grey",
    "lightgray": "lightgrey",
    "lightgrey": "lightgrey",
    "orange": "orange",
    "red": "red",
    "yellow": "yellow",
    "yellowgreen": "yellowgreen",
}

# What badge-maker 6 (css-color-converter 2) reads, in the form normalize() gives: every
# canonical form must be one of these, so that shields.io takes it as it is.
ALPHA = r"(0|1|0?\.[0-9]+|[0-9]+%)"
BADGE_MAKER_GRAMMAR = re.compile(
    "|".join(
        [
            "#([0-9a-f]{3}|[0-9a-f]{4}|[0-9a-f]{6}|[0-9a-f]{8})",
            rf"rgba?\([0-9]+, [0-9]+, [0-9]+(, {ALPHA})?\)",
            rf"rgba?\([0-9]+%, [0-9]+%, [0-9]+%(, {ALPHA})?\)",
            rf"hsla?\([0-9]+(deg|grad|rad|turn)?, [0-9]+%, [0-9]+%(, {ALPHA})?\)",
            *SHIELDS_COLORS,
            *CSS_NAMES,
        ]
    )
)
SAFE_FILL = re.compile(r"[#0-9a-z(),.% ]+")


# Accepted colours


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        # badge-maker's own cases (lib/color.spec.js)
        ("red", "red"),
        ("blue", "blue"),
        ("4c1", "#4c1"),
        ("f00f00", "#f00f00"),
        ("111111", "#111111"),
        ("ABC123", "#abc123"),
        ("#ccc", "#ccc"),
        ("#fffe", "#fffe"),
        ("#fffeffff", "#fffeffff"),
        ("#ABC123", "#abc123"),
        ("papayawhip", "papayawhip"),
        ("purple", "purple"),
        ("rgb(122, 200, 222)", "rgb(122, 200, 222)"),
        ("rgb(122, 200, 222, 1)", "rgba(122, 200, 222, 1)"),
        ("rgba(100, 20, 111, 1)", "rgba(100, 20, 111, 1)"),
        ("lightgray", "lightgrey"),
        ("informational", "blue"),
        # shields.io's other names
        ("brightgreen", "brightgreen"),
        ("green", "green"),
        ("yellowgreen", "yellowgreen"),
        ("yellow", "yellow"),
        ("orange", "orange"),
        ("grey", "grey"),
        ("lightgrey", "lightgrey"),
        ("gray", "grey"),
        ("success", "brightgreen"),
        ("important", "orange"),
        ("critical", "red"),
        ("inactive", "lightgrey"),
        # any case, and spaces around
        ("Red", "red"),
        ("CRITICAL", "red"),
        ("BlueViolet", "blueviolet"),
        ("RebeccaPurple", "rebeccapurple"),
        ("  blue ", "blue"),
        ("\tblack\n", "black"),
        # hex
        ("#000", "#000"),
        ("#0000", "#0000"),
        ("#00000000", "#00000000"),
        ("dad", "#dad"),
        ("#9F9F9F", "#9f9f9f"),
        # rgb() and rgba(), with commas or spaces, numbers or percentages
        ("rgb(0,0,0)", "rgb(0, 0, 0)"),
        ("RGB( 1 ,2,  3 )", "rgb(1, 2, 3)"),
        ("rgb(255, 255, 255)", "rgb(255, 255, 255)"),
        ("rgb(007, 0, 0)", "rgb(7, 0, 0)"),
        ("rgba(1, 2, 3)", "rgb(1, 2, 3)"),
        ("rgb(122 200 222)", "rgb(122, 200, 222)"),
        ("rgb(122 200 222 / .5)", "rgba(122, 200, 222, 0.5)"),
        ("rgba(122 200 222/50%)", "rgba(122, 200, 222, 50%)"),
        ("rgb(100%, 50%, 0%)", "rgb(100%, 50%, 0%)"),
        ("rgb(100% 50% 0%)", "rgb(100%, 50%, 0%)"),
        ("rgba(0, 0, 0, 0)", "rgba(0, 0, 0, 0)"),
        ("rgba(0, 0, 0, 1.0)", "rgba(0, 0, 0, 1)"),
        ("rgba(0, 0, 0, 0.250)", "rgba(0, 0, 0, 0.25)"),
        ("rgba(0, 0, 0, 100%)", "rgba(0, 0, 0, 100%)"),
        # hsl() and hsla(), with a hue in any CSS angle unit
        ("hsl(120, 100%, 50%)", "hsl(120, 100%, 50%)"),
        ("hsl(120deg, 100%, 50%)", "hsl(120, 100%, 50%)"),
        ("hsl(120 100% 50%)", "hsl(120, 100%, 50%)"),
        ("hsl(0, 0%, 0%)", "hsl(0, 0%, 0%)"),
        ("hsl(360, 100%, 100%)", "hsl(360, 100%, 100%)"),
        ("hsl(100grad, 80%, 40%)", "hsl(100grad, 80%, 40%)"),
        ("hsl(3rad, 50%, 50%)", "hsl(3rad, 50%, 50%)"),
        ("hsla(1turn, 50%, 50%, .25)", "hsla(1turn, 50%, 50%, 0.25)"),
        ("HSLA(200 50% 50% / 20%)", "hsla(200, 50%, 50%, 20%)"),
        ("hsla(200, 50%, 50%)", "hsl(200, 50%, 50%)"),
    ],
)
def test_each_accepted_colour_has_one_canonical_form(given, canonical):
    assert normalize(given) == canonical
    assert normalize(canonical) == canonical


def test_every_css_named_colour_is_accepted_in_any_case():
    assert len(set(CSS_NAMES)) == 148
    assert set(CSS_COLORS) == set(CSS_NAMES)
    for name in CSS_NAMES:
        expected = SHIELDS_NAMES_IN_CSS.get(name, name)
        assert normalize(name) == expected
        assert normalize(name.upper()) == expected


@pytest.mark.parametrize(
    ("name", "red", "green", "blue"),
    [
        ("aliceblue", 240, 248, 255),
        ("black", 0, 0, 0),
        ("darkslategray", 47, 79, 79),
        ("indianred", 205, 92, 92),
        ("lightgoldenrodyellow", 250, 250, 210),
        ("mediumspringgreen", 0, 250, 154),
        ("navajowhite", 255, 222, 173),
        ("rebeccapurple", 102, 51, 153),
        ("white", 255, 255, 255),
        ("yellowgreen", 154, 205, 50),
    ],
)
def test_css_named_colours_have_the_specifications_red_green_and_blue(name, red, green, blue):
    assert CSS_COLORS[name] == (red, green, blue)


def test_css_names_that_shields_io_also_uses_mean_shields_io_colours():
    assert fill("green") == "#67ac09"
    assert fill(normalize("gray")) == "#555"
    assert fill(normalize("lightgray")) == "#939393"
    assert brightness("green") == 0.52


# Refused colours


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("", "no colour given"),
        ("   ", "no colour given"),
        ("blueviolett", "unknown colour 'blueviolett'"),
        ("not-a-color", "unknown colour 'not-a-color'"),
        ("transparent", "unknown colour 'transparent'"),
        ("currentcolor", "unknown colour 'currentcolor'"),
        ("toString", "unknown colour 'toString'"),
        ("__proto__", "unknown colour '__proto__'"),
        ("#ABCFGH", "hex colour '#ABCFGH' needs 3, 4, 6 or 8 digits from 0-9 and a-f"),
        ("#12345", "hex colour '#12345' needs 3, 4, 6 or 8 digits from 0-9 and a-f"),
        ("#", "hex colour '#' needs 3, 4, 6 or 8 digits from 0-9 and a-f"),
        ("fffe", "hex colour 'fffe' of 4 digits needs a # before it"),
        ("fffeffff", "hex colour 'fffeffff' of 8 digits needs a # before it"),
        ("rgb(-100, 20, 111)", "rgb() takes three numbers from 0 to 255"),
        ("rgb(100%, 200, 222)", "rgb() takes three numbers from 0 to 255"),
        ("rgb(256, 0, 0)", "rgb() takes three numbers from 0 to 255"),
        ("rgb(1.5, 0, 0)", "rgb() takes three numbers from 0 to 255"),
        ("rgb(1e2, 0, 0)", "rgb() takes three numbers from 0 to 255"),
        ("rgb(1, 2)", "rgb() takes three numbers from 0 to 255"),
        ("rgb(1, 2, 3, 4, 5)", "rgb() takes three numbers from 0 to 255"),
        ("rgb(1 2, 3)", "rgb() takes three numbers from 0 to 255"),
        ("rgb()", "rgb() takes three numbers from 0 to 255"),
        ("rgb(none 0 0)", "rgb() takes three numbers from 0 to 255"),
        ("rgba(-100, 20, 111, 1.1)", "rgba() takes three numbers from 0 to 255"),
        ("rgb(100%, 200%, 222%)", "rgb() takes percentages from 0% to 100%"),
        ("rgba(100, 20, 111, 1.1)", "rgba() takes an alpha from 0 to 1 or from 0% to 100%"),
        ("rgba(1, 2, 3, 101%)", "rgba() takes an alpha from 0 to 1 or from 0% to 100%"),
        ("rgba(1, 2, 3, -0.5)", "rgba() takes an alpha from 0 to 1 or from 0% to 100%"),
        ("rgb(1 2 3 /)", "rgb() takes an alpha from 0 to 1 or from 0% to 100%"),
        ("hsl(122, 200, 222, 1)", "hsl() takes a hue from 0 to 360 and two percentages"),
        ("hsl(122, 200, 222)", "hsl() takes a hue from 0 to 360 and two percentages"),
        ("hsl(122, 200, 222%)", "hsl() takes a hue from 0 to 360 and two percentages"),
        ("hsl(-10, 50%, 50%)", "hsl() takes a hue from 0 to 360 and two percentages"),
        ("hsl(1.5turn, 50%, 50%)", "hsl() takes a hue from 0 to 360 and two percentages"),
        ("hsl(122, 200%, 222%)", "hsl() takes percentages from 0% to 100%"),
        ("hsl(361, 50%, 50%)", "hsl() takes a hue from 0 to 360"),
        ("hsl(401grad, 50%, 50%)", "hsl() takes a hue from 0 to 400grad"),
        ("hsl(7rad, 50%, 50%)", "hsl() takes a hue from 0 to 6rad"),
        ("hsl(2turn, 50%, 50%)", "hsl() takes a hue from 0 to 1turn"),
        ("hsla(0, 0%, 0%, 2)", "hsla() takes an alpha from 0 to 1 or from 0% to 100%"),
        ("hwb(120 0% 0%)", "unknown colour function hwb(): use rgb(), rgba(), hsl() or hsla()"),
        ("url(#gradient)", "unknown colour function url(): use rgb(), rgba(), hsl() or hsla()"),
        ("var(--accent)", "unknown colour function var(): use rgb(), rgba(), hsl() or hsla()"),
        ("rgb(1,2,3", "unknown colour 'rgb(1,2,3'"),
        ('rgb(1,2,3)"', "unknown colour 'rgb(1,2,3)\"'"),
        ('red" onload="alert(1)', "unknown colour 'red\" onload=\"alert(1)'"),
        ("red;fill:url(#x)", "unknown colour 'red;fill:url(#x)'"),
        ("<script>", "unknown colour '<script>'"),
        ("red&amp;", "unknown colour 'red&amp;'"),
        ("blue\u200b", "unknown colour 'blue\\u200b'"),
        ("\uff52ed", "unknown colour 'ｒed'"),
        ("blac\u212a", "unknown colour 'blac\u212a'"),
        ("x" * (MAX_LENGTH + 1), f"colour longer than {MAX_LENGTH} characters"),
        ("x" * MAX_LENGTH, f"unknown colour '{'x' * 32}…'"),
    ],
)
def test_each_refused_colour_says_why(given, reason):
    with pytest.raises(InvalidColor) as refused:
        normalize(given)
    assert str(refused.value) == reason


def test_a_refused_colour_is_a_value_error():
    with pytest.raises(ValueError):
        normalize("nope")


# Fill


@pytest.mark.parametrize(
    ("colour", "drawn"),
    [
        # badge-maker's own cases (toSvgColor in lib/color.spec.js), its named colours as version 6 draws them
        ("red", "#dd4343"),
        ("blue", "#007ec6"),
        ("#4c1", "#4c1"),
        ("#f00f00", "#f00f00"),
        ("#abc123", "#abc123"),
        ("papayawhip", "papayawhip"),
        ("purple", "purple"),
        ("brightgreen", "#4b0"),
        ("green", "#67ac09"),
        ("yellowgreen", "#95991a"),
        ("yellow", "#d8b800"),
        ("orange", "#ea7233"),
        ("grey", "#555"),
        ("lightgrey", "#939393"),
        ("rgba(1, 2, 3, 0.5)", "rgba(1, 2, 3, 0.5)"),
        ("hsl(1turn, 50%, 50%)", "hsl(1turn, 50%, 50%)"),
    ],
)
def test_the_fill_is_badge_makers_colour_for_its_names_and_the_colour_itself_otherwise(colour, drawn):
    assert fill(colour) == drawn


def test_fill_checks_what_it_is_given_again():
    with pytest.raises(InvalidColor):
        fill('red" onload="alert(1)')


# Text that is nearly a colour: the grammar's pieces in and out of range, characters that could
# end an attribute, and functions that CSS has and badges do not take.
numbers = st.integers(min_value=-5, max_value=300).map(str)
percentages = st.integers(min_value=-5, max_value=120).map("{}%".format)
hues = st.one_of(
    st.integers(min_value=-5, max_value=420).map(str),
    st.builds("{}{}".format, st.integers(min_value=0, max_value=8), st.sampled_from(["deg", "grad", "rad", "turn"])),
)
noise = st.text(alphabet="0123456789.%-+e \"'<>&;/(),", max_size=5)
separators = st.sampled_from([", ", ",", " ", " , "])
alphas = st.sampled_from(["", ", 0", ", 1", ", .5", " / 0.25", ", 1.0", ", 50%", ", 101%", ", 2", " / -1", '"'])


def function_like(names, *values):
    """Calls of one of the functions named, on values drawn from one of the strategies given."""
    values = st.one_of(*values, st.lists(st.one_of(numbers, percentages, hues, noise), max_size=5))
    return st.builds(
        lambda name, parts, separator, alpha: f"{name}({separator.join(parts)}{alpha})",
        st.sampled_from(names),
        values,
        separators,
        alphas,
    )


colour_like = st.one_of(
    st.sampled_from([*CSS_NAMES, *SHIELDS_COLORS, "gray", "success", "inactive"]),
    st.text(alphabet="#0123456789abcdefABCDEFgG", max_size=10),
    function_like(
        ["rgb", "rgba", "RGB"], st.tuples(numbers, numbers, numbers), st.tuples(percentages, percentages, percentages)
    ),
    function_like(["hsl", "hsla", "Hsla"], st.tuples(hues, percentages, percentages)),
    function_like(["url", "var", "hwb"]),
    st.text(max_size=MAX_LENGTH + 2),
)


@settings(deadline=None, max_examples=500)
@given(colour_like)
def test_a_colour_is_either_refused_or_canonical_in_a_form_badge_maker_reads(text):
    try:
        canonical = normalize(text)
    except InvalidColor as refused:
        assert str(refused)
        return
    assert BADGE_MAKER_GRAMMAR.fullmatch(canonical)
    assert normalize(canonical) == canonical


@settings(deadline=None, max_examples=500)
@given(colour_like)
def test_a_fill_never_has_a_character_outside_the_colour_grammar(text):
    try:
        drawn = fill(text)
    except InvalidColor:
        return
    assert SAFE_FILL.fullmatch(drawn)
    assert 0 <= brightness(text) <= 1


# Brightness


@pytest.mark.parametrize(
    ("colour", "expected"),
    [
        # badge-maker's own cases (brightness in lib/color.spec.js)
        ("white", 1),
        ("black", 0),
        ("#abc123", 0.66),
        ("rgb(10, 5, 128)", 0.08),
        # What badge-maker 6.0.0 computes for them, as brightness(toSvgColor(colour)).
        # shields.io's colours, as it draws them
        ("brightgreen", 0.51),
        ("green", 0.52),
        ("yellowgreen", 0.54),
        ("yellow", 0.68),
        ("orange", 0.56),
        ("red", 0.44),
        ("blue", 0.38),
        ("grey", 0.33),
        ("lightgrey", 0.58),
        # CSS names
        ("papayawhip", 0.94),
        ("rebeccapurple", 0.31),
        ("blueviolet", 0.36),
        ("purple", 0.21),
        ("gold", 0.79),
        ("silver", 0.75),
        ("navy", 0.06),
        # hex of each length; the alpha does not count
        ("#fff", 1),
        ("#ccc", 0.8),
        ("#555", 0.33),
        ("#4c1", 0.56),
        ("#9f9f9f", 0.62),
        ("#b0b0b0", 0.69),
        ("#0000", 0),
        ("#ffffff00", 1),
        ("#00ff0080", 0.59),
        # rgb() and rgba(); percentages are cut to whole numbers (50% of 255 is 127)
        ("rgb(100%, 50%, 0%)", 0.59),
        ("rgba(176, 176, 176, 0.5)", 0.69),
        ("rgba(255, 255, 255, 0)", 1),
        # an exact half hundredth rounds up, as JavaScript's toFixed(2) rounds
        ("rgb(0, 51, 17)", 0.13),
        ("rgb(0%, 20%, 7%)", 0.13),
        # hsl() and hsla(), with each angle unit
        ("hsl(120, 100%, 50%)", 0.59),
        ("hsl(240, 100%, 50%)", 0.11),
        ("hsl(60, 100%, 50%)", 0.89),
        ("hsl(45, 100%, 50%)", 0.74),
        ("hsl(90, 60%, 70%)", 0.78),
        ("hsl(0, 0%, 69%)", 0.69),
        ("hsl(0, 0%, 70%)", 0.7),
        ("hsla(200, 50%, 50%, 0.2)", 0.5),
        ("hsl(3rad, 50%, 50%)", 0.59),
        ("hsl(100grad, 80%, 40%)", 0.55),
        ("hsl(1turn, 100%, 50%)", 0.3),
        # css-color-converter reads a rounding error of about 5e-17 as 5, not 0 (parseInt of its
        # text): hsl(0, 100%, 4%) is 20, 5, 5 to badge-maker, not 20, 0, 0
        ("hsl(0, 100%, 4%)", 0.04),
        ("hsl(0, 100%, 22%)", 0.15),
    ],
)
def test_brightness_is_what_badge_maker_computes(colour, expected):
    assert brightness(colour) == expected


def test_brightness_is_the_same_for_every_spelling_of_a_colour():
    assert brightness("informational") == brightness("blue") == 0.38
    assert brightness(normalize("RGB(0 51 17 / 50%)")) == brightness("rgb(0, 51, 17)")
