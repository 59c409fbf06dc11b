"""Brand logos for badges, by Simple Icons slug, drawn as shields.io's badge-maker draws them.

A logo is the icon's single path in an SVG of its own, coloured, encoded as a data: URI and
placed in the badge with <image>, as badge-maker places it: the image loads nothing else, and
an SVG shown through <img> runs no script, so a logo cannot make a badge do anything but show.
The SVG is rebuilt from the path's data alone, checked to be path data and nothing else.

Icons come from the simple-icons-pack package, imported only when a badge asks for a logo: it
holds every icon in memory, which a process serving badges without logos should not pay for.
"""

import base64
import html
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

# Logos are 14 pixels high in every style; their width is 14 too, unless logoSize=auto.
LOGO_HEIGHT = 14
LOGO_SIZES = ("auto",)
# Simple Icons draw in a 24 × 24 box.
ICON_BOX = 24
# badge-maker recolours a brand colour too dark for the grey label (brightness at most 0.4) in
# whitesmoke, and in the social style's light box one too light (at least 0.6) in #333.
DARK_BRAND_AT_MOST = 0.4
LIGHT_BRAND_AT_LEAST = 0.6
ON_DARK = "#f5f5f5"
ON_LIGHT = "#333"
PATH_DATA = re.compile(r"[MmZzLlHhVvCcSsQqTtAa0-9eE.,+\- \t\r\n]*")
NUMBER = re.compile(r"[ \t\r\n,]*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
FLAG = re.compile(r"[ \t\r\n,]*([01])")
COMMAND = re.compile(r"[ \t\r\n,]*([MmZzLlHhVvCcSsQqTtAa])")
# How many numbers each command takes, and which of an arc's are flags.
ARITY = {"m": 2, "l": 2, "h": 1, "v": 1, "c": 6, "s": 4, "q": 4, "t": 2, "a": 7, "z": 0}
ARC_FLAGS = (3, 4)


class UnknownLogo(LookupError):
    """No Simple Icons icon has this slug."""


@dataclass(frozen=True)
class Logo:
    """A logo ready to place: its data: URI and its width in pixels (it is LOGO_HEIGHT high)."""

    href: str
    width: float


@dataclass(frozen=True)
class Icon:
    """What a badge needs of a Simple Icons icon: its slug, brand colour and path data."""

    slug: str
    hex: str
    path: str


def icon(slug: str) -> Icon:
    """The icon with this slug (case does not matter, as on shields.io); UnknownLogo if none."""
    import simple_icons_pack

    found = simple_icons_pack.get_icon(slug.lower())
    if found is None:
        raise UnknownLogo(slug)
    (path,) = [element.get("d") for element in ET.fromstring(found.svg).iter() if element.tag.endswith("}path")]
    if not PATH_DATA.fullmatch(path):
        raise UnknownLogo(slug)
    return Icon(found.slug, found.hex.lower(), path)


def default_fill(brand_brightness: float, style: str) -> str | None:
    """The colour badge-maker paints a logo without logoColor, or None to keep the brand colour."""
    if style == "social":
        return ON_LIGHT if brand_brightness >= LIGHT_BRAND_AT_LEAST else None
    return ON_DARK if brand_brightness <= DARK_BRAND_AT_MOST else None


def logo(found: Icon, fill: str, size: str | None = None) -> Logo:
    """The icon filled with ``fill`` (an SVG colour), 14 pixels high. With size "auto" a logo
    that is not square is cropped to its path and keeps its shape: wider (or narrower) than 14,
    to the hundredth of a pixel."""
    view_box = f"0 0 {ICON_BOX} {ICON_BOX}"
    width = LOGO_HEIGHT
    if size == "auto":
        left, top, right, bottom = path_bounds(found.path)
        if right - left != bottom - top:
            view_box = " ".join(_decimal(value) for value in (left, top, right - left, bottom - top))
            width = round(LOGO_HEIGHT * (right - left) / (bottom - top), 2)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{view_box}" fill="{html.escape(fill)}">'
        f'<path d="{html.escape(found.path)}"/></svg>'
    )
    return Logo("data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode(), width)


def _decimal(value):
    return f"{value:.4f}".rstrip("0").rstrip(".")


def path_bounds(path: str) -> tuple[float, float, float, float]:
    """The exact bounding box (left, top, right, bottom) of SVG path data, curves and arcs
    included; ValueError if it draws nothing."""
    xs, ys = [], []
    for start, kind, points in _segments(path):
        for x, y in [start, *_extremes(start, kind, points)]:
            xs.append(x)
            ys.append(y)
    if not xs:
        raise ValueError(f"no segment to bound in {path[:32]!r}")
    return min(xs), min(ys), max(xs), max(ys)


def _segments(path):
    """(start point, kind, points) of each segment, in absolute coordinates: kind is "line",
    "cubic" (two controls, end), "quadratic" (control, end) or "arc" (arc parameters, end)."""
    position = 0
    x = y = start_x = start_y = 0.0
    command = None
    last_control = None
    while True:
        if match := COMMAND.match(path, position):
            command, position = match[1], match.end()
        elif command is None or not NUMBER.match(path, position):
            return
        elif command in "Zz":
            return
        lower = command.lower()
        values = []
        for index in range(ARITY[lower]):
            pattern = FLAG if lower == "a" and index in ARC_FLAGS else NUMBER
            match = pattern.match(path, position)
            if match is None:
                return
            values.append(float(match[1]))
            position = match.end()
        dx, dy = (0.0, 0.0) if command.isupper() else (x, y)
        control = None
        if lower == "z":
            yield (x, y), "line", [(start_x, start_y)]
            x, y = start_x, start_y
        elif lower == "m":
            x, y = values[0] + dx, values[1] + dy
            start_x, start_y = x, y
            command = "L" if command == "M" else "l"
        elif lower in "lhv":
            end = (
                values[0] + dx if lower != "v" else x,
                values[-1] + dy if lower != "h" else y,
            )
            yield (x, y), "line", [end]
            x, y = end
        elif lower in "cs":
            if lower == "c":
                first = (values[0] + dx, values[1] + dy)
                values = values[2:]
            else:
                first = (
                    (2 * x - last_control[0], 2 * y - last_control[1])
                    if last_control and last_control[2] == "c"
                    else (x, y)
                )
            second = (values[0] + dx, values[1] + dy)
            end = (values[2] + dx, values[3] + dy)
            yield (x, y), "cubic", [first[:2], second, end]
            control = (*second, "c")
            x, y = end
        elif lower in "qt":
            if lower == "q":
                middle = (values[0] + dx, values[1] + dy)
                values = values[2:]
            else:
                middle = (
                    (2 * x - last_control[0], 2 * y - last_control[1])
                    if last_control and last_control[2] == "q"
                    else (x, y)
                )
            end = (values[0] + dx, values[1] + dy)
            yield (x, y), "quadratic", [middle[:2], end]
            control = (*middle[:2], "q")
            x, y = end
        else:
            end = (values[5] + dx, values[6] + dy)
            yield (x, y), "arc", [tuple(values[:5]), end]
            x, y = end
        last_control = control


def _extremes(start, kind, points):
    """The points of a segment, after its start, where it reaches its furthest on either axis."""
    end = points[-1]
    found = [end]
    if kind == "cubic":
        for axis in (0, 1):
            p0, p1, p2, p3 = start[axis], points[0][axis], points[1][axis], end[axis]
            a, b, c = -p0 + 3 * p1 - 3 * p2 + p3, 2 * (p0 - 2 * p1 + p2), p1 - p0
            for t in _roots(a, b, c):
                found.append(_cubic_at(start, *points, t))
    elif kind == "quadratic":
        for axis in (0, 1):
            denominator = start[axis] - 2 * points[0][axis] + end[axis]
            if denominator:
                t = (start[axis] - points[0][axis]) / denominator
                if 0 < t < 1:
                    found.append(
                        tuple(
                            (1 - t) ** 2 * s + 2 * (1 - t) * t * m + t**2 * e
                            for s, m, e in zip(start, points[0], end, strict=True)
                        )
                    )
    elif kind == "arc":
        found.extend(_arc_extremes(start, *points[0], end))
    return found


def _roots(a, b, c):
    """The roots in (0, 1) of a·t² + b·t + c."""
    if abs(a) < 1e-12:
        return [-c / b] if b and 0 < -c / b < 1 else []
    discriminant = b * b - 4 * a * c
    if discriminant < 0:
        return []
    root = math.sqrt(discriminant)
    return [t for t in ((-b + root) / (2 * a), (-b - root) / (2 * a)) if 0 < t < 1]


def _cubic_at(p0, p1, p2, p3, t):
    u = 1 - t
    return tuple(
        u**3 * a + 3 * u * u * t * b + 3 * u * t * t * c + t**3 * d for a, b, c, d in zip(p0, p1, p2, p3, strict=True)
    )


def _arc_extremes(start, rx, ry, rotation, large_arc, sweep, end):
    """The points of an elliptical arc where it turns on either axis (SVG 1.1, appendix F.6)."""
    rx, ry = abs(rx), abs(ry)
    if not rx or not ry or start == end:
        return []
    phi = math.radians(rotation % 360)
    cos_phi, sin_phi = math.cos(phi), math.sin(phi)
    half_dx, half_dy = (start[0] - end[0]) / 2, (start[1] - end[1]) / 2
    x1 = cos_phi * half_dx + sin_phi * half_dy
    y1 = -sin_phi * half_dx + cos_phi * half_dy
    scale = x1**2 / rx**2 + y1**2 / ry**2
    if scale > 1:
        rx, ry = rx * math.sqrt(scale), ry * math.sqrt(scale)
    numerator = rx**2 * ry**2 - rx**2 * y1**2 - ry**2 * x1**2
    factor = math.sqrt(max(0.0, numerator / (rx**2 * y1**2 + ry**2 * x1**2)))
    if large_arc == sweep:
        factor = -factor
    cx1, cy1 = factor * rx * y1 / ry, -factor * ry * x1 / rx
    cx = cos_phi * cx1 - sin_phi * cy1 + (start[0] + end[0]) / 2
    cy = sin_phi * cx1 + cos_phi * cy1 + (start[1] + end[1]) / 2
    theta1 = math.atan2((y1 - cy1) / ry, (x1 - cx1) / rx)
    theta2 = math.atan2((-y1 - cy1) / ry, (-x1 - cx1) / rx)
    delta = (theta2 - theta1) % (2 * math.pi)
    if not sweep:
        delta -= 2 * math.pi
    turning = [math.atan2(-ry * sin_phi, rx * cos_phi), math.atan2(ry * cos_phi, rx * sin_phi)]
    found = []
    for angle in turning + [a + math.pi for a in turning]:
        along = (angle - theta1) % (2 * math.pi) if sweep else (theta1 - angle) % (2 * math.pi)
        if along < abs(delta):
            found.append(
                (
                    cx + rx * cos_phi * math.cos(angle) - ry * sin_phi * math.sin(angle),
                    cy + rx * sin_phi * math.cos(angle) + ry * cos_phi * math.sin(angle),
                )
            )
    return found
