"""Brand logos for badges (counter.features.badge_logos): which slugs exist, the colour a logo takes, the
size logoSize=auto gives it, and an image that shows the icon and can do nothing else."""

import base64
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import simple_icons_pack

from counter.features.badge_logos import LOGO_HEIGHT, UnknownLogo, default_fill, icon, logo, path_bounds

NS = "{http://www.w3.org/2000/svg}"
DATA_URI = "data:image/svg+xml;base64,"
EVERY_SLUG = sorted(getattr(simple_icons_pack, name).slug for name in dir(simple_icons_pack) if name.startswith("SI_"))


def decoded(found_logo):
    assert found_logo.href.startswith(DATA_URI)
    return base64.b64decode(found_logo.href.removeprefix(DATA_URI), validate=True).decode()


# Slugs


def test_an_icon_is_found_by_its_simple_icons_slug_in_any_case():
    assert icon("github").slug == icon("GitHub").slug == "github"
    assert icon("github").hex == "181717"
    assert icon("github").path.startswith("M12 .297")


@pytest.mark.parametrize("slug", ["nosuchbrand", "", "github ", "../github", "<svg>"])
def test_a_slug_simple_icons_lacks_is_unknown(slug):
    with pytest.raises(UnknownLogo):
        icon(slug)


def test_the_icons_are_loaded_only_when_a_logo_is_asked_for():
    # simple-icons-pack holds every icon in memory: a process that draws no logo never imports it.
    script = (
        "import sys; from counter.features.badges import BadgeOptions, render_svg; "
        "render_svg('views', '1', BadgeOptions(style='social')); "
        "assert 'simple_icons_pack' not in sys.modules; "
        "render_svg('views', '1', BadgeOptions(logo='github')); "
        "assert 'simple_icons_pack' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


# Colours


@pytest.mark.parametrize(
    ("slug", "style", "fill"),
    [
        # badge-maker's own cases (badge-maker/lib/simple-icons-utils/logos.spec.mjs in badges/shields).
        ("javascript", "flat", None),  # a light brand colour shows on the grey label
        ("javascript", "social", "#333"),  # but not in social's light box
        ("nuget", "social", None),  # a dark one shows in the light box
        ("nuget", "flat", "#f5f5f5"),  # but not on the grey label: whitesmoke
        ("mastodon", "flat", None),
        ("mastodon", "social", None),
    ],
)
def test_a_logo_keeps_its_brand_colour_unless_it_would_not_show_on_its_background(slug, style, fill):
    brand = icon(slug).hex
    red, green, blue = (int(brand[i : i + 2], 16) for i in (0, 2, 4))
    brightness = round((red * 299 + green * 587 + blue * 114) / 255000, 2)
    assert default_fill(brightness, style) == fill


def test_a_logo_is_filled_with_the_colour_given():
    root = ET.fromstring(decoded(logo(icon("github"), "#dd4343")))
    assert root.get("fill") == "#dd4343"


# Size


def test_a_logo_is_fourteen_pixels_square_in_the_icon_s_own_box():
    drawn = logo(icon("amd"), "#fff")
    root = ET.fromstring(decoded(drawn))
    assert drawn.width == LOGO_HEIGHT == 14
    assert root.get("viewBox") == "0 0 24 24"


def test_logo_size_auto_crops_a_wide_logo_to_its_path_and_keeps_its_shape():
    # badge-maker draws AMD's logo with logoSize=auto in a box 24 wide and 5.726 high
    # (badge-maker/lib/simple-icons-utils/logos.spec.mjs in badges/shields).
    drawn = logo(icon("amd"), "#fff", "auto")
    root = ET.fromstring(decoded(drawn))
    assert root.get("viewBox") == "0 9.137 24 5.726"
    assert drawn.width == pytest.approx(14 * 24 / 5.726, abs=0.01)


def test_logo_size_auto_leaves_a_square_logo_as_it_is_and_widens_one_a_little_wider_than_high():
    square = logo(icon("npm"), "#fff", "auto")
    assert square.width == 14
    assert ET.fromstring(decoded(square)).get("viewBox") == "0 0 24 24"
    assert logo(icon("github"), "#fff", "auto").width == pytest.approx(14 * 24 / 23.403, abs=0.01)


# Bounds of path data


@pytest.mark.parametrize(
    ("path", "bounds"),
    [
        ("M1 2L3 4H0V-1Z", (0, -1, 3, 4)),
        ("m1 2l2 2h-3v-5z", (0, -1, 3, 4)),
        ("M1 2 3 4", (1, 2, 3, 4)),  # a moveto's further pairs are linetos
        ("M0 0C0 10 10 10 10 0", (0, 0, 10, 7.5)),  # a cubic bulges past its ends, not to its controls
        ("M0 0c0 10 10 10 10 0s10-10 10 0", (0, -7.5, 20, 7.5)),
        ("M0 0Q5 10 10 0", (0, 0, 10, 5)),
        ("M0 0q5 10 10 0t10 0", (0, -5, 20, 5)),
        ("M0 5A5 5 0 1 0 10 5A5 5 0 1 0 0 5", (0, 0, 10, 10)),  # a circle in two arcs
        ("M0 5a5 5 0 1010 0", (0, 5, 10, 10)),  # flags written without separators
        ("M0 5a5 5 0 0110 0", (0, 0, 10, 5)),
        ("M0 0a1 1 0 0 0 10 0", (0, 0, 10, 5)),  # radii too small are scaled up
        ("M0 0a10 5 90 0 0 0 20", (-5, 0, 0, 20)),  # a rotated ellipse, either way round
        ("M0 0a10 5 90 0 1 0 20", (0, 0, 5, 20)),
        (".5.5l1 1", None),  # no moveto: no segment to bound
    ],
)
def test_the_bounds_of_a_path_take_in_its_curves_and_arcs(path, bounds):
    if bounds is None:
        with pytest.raises(ValueError):
            path_bounds(path)
        return
    assert path_bounds(path) == pytest.approx(bounds, abs=1e-9)


def test_every_icon_s_bounds_fit_the_icon_box_and_span_it_one_way():
    # Simple Icons scales each icon to fill its 24 × 24 box in width or in height.
    for slug in EVERY_SLUG:
        left, top, right, bottom = path_bounds(icon(slug).path)
        assert -0.1 < left and -0.1 < top and right < 24.1 and bottom < 24.1, slug
        assert max(right - left, bottom - top) == pytest.approx(24, abs=0.15), slug


# Safety


@pytest.mark.parametrize("slug", EVERY_SLUG[::50])
def test_a_logo_is_an_svg_of_one_path_that_loads_and_runs_nothing(slug):
    drawn = logo(icon(slug), "#fff", "auto")
    root = ET.fromstring(decoded(drawn))
    assert [element.tag for element in root.iter()] == [f"{NS}svg", f"{NS}path"]
    assert set(root.attrib) == {"viewBox", "fill"}
    (path,) = root
    assert set(path.attrib) == {"d"}
