"""Colours as shields.io badges take them for ``color`` and ``labelColor``: checked, put in one
canonical form, and turned into an SVG fill and a brightness.

A colour comes from whoever writes a badge's URL and ends up inside an SVG attribute and in the
JSON that shields.io's endpoint badge reads, so nothing passes but what the grammar below allows:
shields.io's named colours and their aliases, the 148 named colours of CSS Color 4, hex colours,
and rgb(), rgba(), hsl() and hsla() with plain numbers. Every canonical form is one that
shields.io's badge-maker accepts, and brightness() computes what badge-maker computes from it.
Where badge-maker quietly clamps a number out of range (rgb(300, 0, 0)) a colour here is refused,
so that a typo shows as an error instead of as another colour.
"""

import math
import re
from decimal import ROUND_HALF_UP, Decimal

from herokuapp import process_state

MAX_LENGTH = 64

# shields.io's named colours, as badge-maker 6 draws them, and the other names it takes for them.
SHIELDS_COLORS = {
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
SHIELDS_ALIASES = {
    "gray": "grey",
    "lightgray": "lightgrey",
    "success": "brightgreen",
    "important": "orange",
    "critical": "red",
    "informational": "blue",
    "inactive": "lightgrey",
}

# The named colours of CSS Color 4 (section 6.1), with their red, green and blue. A name that is
# also a shields.io colour (green, red, grey...) means shields.io's colour, as on shields.io.
CSS_COLORS = {
    "aliceblue": (240, 248, 255),
    "antiquewhite": (250, 235, 215),
    "aqua": (0, 255, 255),
    "aquamarine": (127, 255, 212),
    "azure": (240, 255, 255),
    "beige": (245, 245, 220),
    "bisque": (255, 228, 196),
    "black": (0, 0, 0),
    "blanchedalmond": (255, 235, 205),
    "blue": (0, 0, 255),
    "blueviolet": (138, 43, 226),
    "brown": (165, 42, 42),
    "burlywood": (222, 184, 135),
    "cadetblue": (95, 158, 160),
    "chartreuse": (127, 255, 0),
    "chocolate": (210, 105, 30),
    "coral": (255, 127, 80),
    "cornflowerblue": (100, 149, 237),
    "cornsilk": (255, 248, 220),
    "crimson": (220, 20, 60),
    "cyan": (0, 255, 255),
    "darkblue": (0, 0, 139),
    "darkcyan": (0, 139, 139),
    "darkgoldenrod": (184, 134, 11),
    "darkgray": (169, 169, 169),
    "darkgreen": (0, 100, 0),
    "darkgrey": (169, 169, 169),
    "darkkhaki": (189, 183, 107),
    "darkmagenta": (139, 0, 139),
    "darkolivegreen": (85, 107, 47),
    "darkorange": (255, 140, 0),
    "darkorchid": (153, 50, 204),
    "darkred": (139, 0, 0),
    "darksalmon": (233, 150, 122),
    "darkseagreen": (143, 188, 143),
    "darkslateblue": (72, 61, 139),
    "darkslategray": (47, 79, 79),
    "darkslategrey": (47, 79, 79),
    "darkturquoise": (0, 206, 209),
    "darkviolet": (148, 0, 211),
    "deeppink": (255, 20, 147),
    "deepskyblue": (0, 191, 255),
    "dimgray": (105, 105, 105),
    "dimgrey": (105, 105, 105),
    "dodgerblue": (30, 144, 255),
    "firebrick": (178, 34, 34),
    "floralwhite": (255, 250, 240),
    "forestgreen": (34, 139, 34),
    "fuchsia": (255, 0, 255),
    "gainsboro": (220, 220, 220),
    "ghostwhite": (248, 248, 255),
    "gold": (255, 215, 0),
    "goldenrod": (218, 165, 32),
    "gray": (128, 128, 128),
    "green": (0, 128, 0),
    "greenyellow": (173, 255, 47),
    "grey": (128, 128, 128),
    "honeydew": (240, 255, 240),
    "hotpink": (255, 105, 180),
    "indianred": (205, 92, 92),
    "indigo": (75, 0, 130),
    "ivory": (255, 255, 240),
    "khaki": (240, 230, 140),
    "lavender": (230, 230, 250),
    "lavenderblush": (255, 240, 245),
    "lawngreen": (124, 252, 0),
    "lemonchiffon": (255, 250, 205),
    "lightblue": (173, 216, 230),
    "lightcoral": (240, 128, 128),
    "lightcyan": (224, 255, 255),
    "lightgoldenrodyellow": (250, 250, 210),
    "lightgray": (211, 211, 211),
    "lightgreen": (144, 238, 144),
    "lightgrey": (211, 211, 211),
    "lightpink": (255, 182, 193),
    "lightsalmon": (255, 160, 122),
    "lightseagreen": (32, 178, 170),
    "lightskyblue": (135, 206, 250),
    "lightslategray": (119, 136, 153),
    "lightslategrey": (119, 136, 153),
    "lightsteelblue": (176, 196, 222),
    "lightyellow": (255, 255, 224),
    "lime": (0, 255, 0),
    "limegreen": (50, 205, 50),
    "linen": (250, 240, 230),
    "magenta": (255, 0, 255),
    "maroon": (128, 0, 0),
    "mediumaquamarine": (102, 205, 170),
    "mediumblue": (0, 0, 205),
    "mediumorchid": (186, 85, 211),
    "mediumpurple": (147, 112, 219),
    "mediumseagreen": (60, 179, 113),
    "mediumslateblue": (123, 104, 238),
    "mediumspringgreen": (0, 250, 154),
    "mediumturquoise": (72, 209, 204),
    "mediumvioletred": (199, 21, 133),
    "midnightblue": (25, 25, 112),
    "mintcream": (245, 255, 250),
    "mistyrose": (255, 228, 225),
    "moccasin": (255, 228, 181),
    "navajowhite": (255, 222, 173),
    "navy": (0, 0, 128),
    "oldlace": (253, 245, 230),
    "olive": (128, 128, 0),
    "olivedrab": (107, 142, 35),
    "orange": (255, 165, 0),
    "orangered": (255, 69, 0),
    "orchid": (218, 112, 214),
    "palegoldenrod": (238, 232, 170),
    "palegreen": (152, 251, 152),
    "paleturquoise": (175, 238, 238),
    "palevioletred": (219, 112, 147),
    "papayawhip": (255, 239, 213),
    "peachpuff": (255, 218, 185),
    "peru": (205, 133, 63),
    "pink": (255, 192, 203),
    "plum": (221, 160, 221),
    "powderblue": (176, 224, 230),
    "purple": (128, 0, 128),
    "rebeccapurple": (102, 51, 153),
    "red": (255, 0, 0),
    "rosybrown": (188, 143, 143),
    "royalblue": (65, 105, 225),
    "saddlebrown": (139, 69, 19),
    "salmon": (250, 128, 114),
    "sandybrown": (244, 164, 96),
    "seagreen": (46, 139, 87),
    "seashell": (255, 245, 238),
    "sienna": (160, 82, 45),
    "silver": (192, 192, 192),
    "skyblue": (135, 206, 235),
    "slateblue": (106, 90, 205),
    "slategray": (112, 128, 144),
    "slategrey": (112, 128, 144),
    "snow": (255, 250, 250),
    "springgreen": (0, 255, 127),
    "steelblue": (70, 130, 180),
    "tan": (210, 180, 140),
    "teal": (0, 128, 128),
    "thistle": (216, 191, 216),
    "tomato": (255, 99, 71),
    "turquoise": (64, 224, 208),
    "violet": (238, 130, 238),
    "wheat": (245, 222, 179),
    "white": (255, 255, 255),
    "whitesmoke": (245, 245, 245),
    "yellow": (255, 255, 0),
    "yellowgreen": (154, 205, 50),
}

WHITESPACE = " \t\n\r\f"
HEX_DIGITS = frozenset("0123456789abcdef")
FUNCTION = re.compile(r"([a-z][a-z0-9-]*)\((.*)\)", re.DOTALL)
SPACES = re.compile(r"[ \t\n\r\f]+")
INTEGER = re.compile(r"[0-9]+")
PERCENTAGE = re.compile(r"([0-9]+)%")
FRACTION = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
HUE = re.compile(r"([0-9]+)(deg|grad|rad|turn)?")
# For each unit of a hue: the most that stays within one turn, and the degrees in one of it.
HUE_UNITS = {"deg": (360, 1), "grad": (400, 0.9), "rad": (6, 180 / math.pi), "turn": (1, 360)}


class InvalidColor(ValueError):
    """A value that is no colour a badge takes; its text is a short reason, fit to show on a badge."""


def normalize(value: str) -> str:
    """The canonical form of a colour, which shields.io takes as it is in an endpoint badge's JSON.

    Names, hex digits and functions are read in any case and given in lower case; an alias is
    given as the shields.io colour it stands for; hex gets its "#" (4 and 8 digits need one, as on
    shields.io); rgb(), rgba(), hsl() and hsla() are given with commas, numbers without leading
    zeros, and the name with "a" exactly when there is an alpha. Raises InvalidColor.
    """
    return _parse(value)[0]


def fill(normalized: str) -> str:
    """A colour as an SVG fill: a shields.io colour as badge-maker draws it, any other as it is.

    The value is checked again, so that what comes back is safe in an attribute whatever is given.
    """
    canonical, _ = _parse(normalized)
    return SHIELDS_COLORS.get(canonical, canonical)


def brightness(normalized: str) -> float:
    """How light a colour looks, from 0 to 1 in hundredths, as badge-maker computes it to choose dark
    or light text: the weighted sum of its fill's red, green and blue (alpha is not counted),
    rounded half up as JavaScript's toFixed(2) rounds."""
    _, (red, green, blue) = _parse(normalized)
    exact = Decimal((red * 299 + green * 587 + blue * 114) / 255000)
    return float(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@process_state.cache(maxsize=1024)  # badges ask for the same few colours over and over
def _parse(value):
    """A colour's canonical form, and the red, green and blue that badge-maker reads from its fill."""
    if len(value) > MAX_LENGTH:
        raise InvalidColor(f"colour longer than {MAX_LENGTH} characters")
    text = value.strip(WHITESPACE).lower()
    if not text:
        raise InvalidColor("no colour given")
    if not value.isascii():
        raise InvalidColor(f"unknown colour {_shown(value)}")
    name = SHIELDS_ALIASES.get(text, text)
    if name in SHIELDS_COLORS:
        return name, _hex_channels(SHIELDS_COLORS[name].removeprefix("#"))
    if text.startswith("#") or (len(text) in (3, 6) and set(text) <= HEX_DIGITS):
        digits = text.removeprefix("#")
        if len(digits) not in (3, 4, 6, 8) or not set(digits) <= HEX_DIGITS:
            raise InvalidColor(f"hex colour {_shown(value)} needs 3, 4, 6 or 8 digits from 0-9 and a-f")
        return "#" + digits, _hex_channels(digits)
    if len(text) in (4, 8) and set(text) <= HEX_DIGITS:
        raise InvalidColor(f"hex colour {_shown(value)} of {len(text)} digits needs a # before it")
    if text in CSS_COLORS:
        return text, CSS_COLORS[text]
    function = FUNCTION.fullmatch(text)
    if function:
        return _parse_function(*function.groups())
    raise InvalidColor(f"unknown colour {_shown(value)}")


def _parse_function(name, arguments):
    if name not in ("rgb", "rgba", "hsl", "hsla"):
        raise InvalidColor(f"unknown colour function {name}(): use rgb(), rgba(), hsl() or hsla()")
    arguments = arguments.strip(WHITESPACE)
    if "," in arguments:
        values = [part.strip(WHITESPACE) for part in arguments.split(",")]
        alpha = values.pop() if len(values) == 4 else None
    else:
        components, slash, alpha = arguments.partition("/")
        components = components.strip(WHITESPACE)
        values = SPACES.split(components) if components else []
        alpha = alpha.strip(WHITESPACE) if slash else None
    base = name[:3]
    texts, channels = (_rgb if base == "rgb" else _hsl)(name, values)
    if alpha is None:
        return f"{base}({', '.join(texts)})", channels
    return f"{base}a({', '.join(texts)}, {_alpha(name, alpha)})", channels


def _rgb(name, values):
    rule = f"{name}() takes three numbers from 0 to 255"
    if len(values) != 3:
        raise InvalidColor(rule)
    percentages = [PERCENTAGE.fullmatch(value) for value in values]
    if all(percentages):
        numbers = [int(percentage[1]) for percentage in percentages]
        if max(numbers) > 100:
            raise InvalidColor(f"{name}() takes percentages from 0% to 100%")
        return [f"{number}%" for number in numbers], tuple(_channel(number * 255 / 100) for number in numbers)
    if not all(INTEGER.fullmatch(value) for value in values):
        raise InvalidColor(rule)
    numbers = [int(value) for value in values]
    if max(numbers) > 255:
        raise InvalidColor(rule)
    return [str(number) for number in numbers], tuple(numbers)


def _hsl(name, values):
    rule = f"{name}() takes a hue from 0 to 360 and two percentages"
    if len(values) != 3:
        raise InvalidColor(rule)
    hue, saturation, lightness = HUE.fullmatch(values[0]), *(PERCENTAGE.fullmatch(value) for value in values[1:])
    if not (hue and saturation and lightness):
        raise InvalidColor(rule)
    amount, unit = int(hue[1]), hue[2] or "deg"
    most, degrees = HUE_UNITS[unit]
    shown_unit = "" if unit == "deg" else unit
    if amount > most:
        raise InvalidColor(f"{name}() takes a hue from 0 to {most}{shown_unit}")
    saturation, lightness = int(saturation[1]), int(lightness[1])
    if max(saturation, lightness) > 100:
        raise InvalidColor(f"{name}() takes percentages from 0% to 100%")
    # css-color-converter turns the hue into degrees rounded to five decimals.
    hue_degrees = _round_half_up(degrees * amount * 100000) / 100000
    texts = [f"{amount}{shown_unit}", f"{saturation}%", f"{lightness}%"]
    return texts, _hsl_channels(hue_degrees, saturation, lightness)


def _alpha(name, text):
    percentage = PERCENTAGE.fullmatch(text)
    if percentage and int(percentage[1]) <= 100:
        return f"{int(percentage[1])}%"
    if FRACTION.fullmatch(text) and Decimal(text) <= 1:
        return format(Decimal(text).normalize(), "f")
    raise InvalidColor(f"{name}() takes an alpha from 0 to 1 or from 0% to 100%")


def _hex_channels(digits):
    if len(digits) < 6:
        digits = "".join(digit * 2 for digit in digits)
    return tuple(int(digits[start : start + 2], 16) for start in (0, 2, 4))


def _hsl_channels(hue, saturation, lightness):
    """Red, green and blue from hue, saturation and lightness, in the floating-point steps that
    css-color-converter takes, so that every rounding falls the same way."""
    sector = hue / 60
    chroma = (1 - abs(2 * (lightness / 100) - 1)) * (saturation / 100)
    second = chroma * (1 - abs(math.fmod(sector, 2) - 1))
    lowest = lightness / 100 - chroma / 2
    if sector < 1:
        parts = (chroma, second, 0)
    elif sector < 2:
        parts = (second, chroma, 0)
    elif sector < 3:
        parts = (0, chroma, second)
    elif sector < 4:
        parts = (0, second, chroma)
    elif sector < 5:
        parts = (second, 0, chroma)
    else:
        parts = (chroma, 0, second)
    return tuple(_channel((part + lowest) * 255) for part in parts)


def _channel(number):
    """A channel as css-color-converter keeps it: JavaScript's parseInt() of the number's text,
    which reads a tiny rounding error such as 5.6e-17 as 5, held between 0 and 255."""
    whole = int(repr(number)[0]) if 0 < number < 1e-6 else math.trunc(number)
    return max(0, min(whole, 255))


def _round_half_up(number):
    """JavaScript's Math.round(): to the nearest whole number, halves up."""
    whole = math.floor(number)
    return whole + 1 if number - whole >= 0.5 else whole


def _shown(value):
    """A value as an error quotes it: in quotes, escaped, and not too long."""
    return repr(value if len(value) <= 32 else value[:32] + "…")
