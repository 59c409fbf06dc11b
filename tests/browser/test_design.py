"""How the pages look at desktop and phone widths, in light and dark mode.

Each case saves a screenshot to test-artifacts/screenshots/ (git-ignored) for a person to look at,
and checks what a screenshot would show: the number is the largest text on the page, nothing
runs off the side, and the colours follow the system's scheme.
"""

import pytest

from tests.browser.conftest import SCREENSHOTS, VIEWPORTS, new_page

pytestmark = pytest.mark.slow

PAGES = {"home": ("/", ".count strong"), "404": ("/no-such-page/", ".status")}

LAYOUT = """(hero) => {
  const size = (element) => parseFloat(getComputedStyle(element).fontSize);
  const texts = [...document.querySelectorAll("h1, p, a, strong")].filter((element) => element !== hero);
  const background = getComputedStyle(document.body).backgroundColor.match(/\\d+/g).slice(0, 3).map(Number);
  const box = hero.getBoundingClientRect();
  return {
    heroSize: size(hero),
    largestOtherSize: Math.max(...texts.map(size)),
    heroInView: box.top >= 0 && box.bottom <= window.innerHeight,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    backgroundLightness: (Math.max(...background) + Math.min(...background)) / 2 / 255,
    footerLinks: [...document.querySelectorAll("footer a")].map((link) => link.textContent),
  };
}"""


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("name", list(PAGES))
def test_page_design(site, browser, problems, name, viewport, color_scheme):
    path, hero = PAGES[name]
    page = new_page(browser, problems, viewport, color_scheme)
    try:
        page.goto(site.url + path)
        page.wait_for_load_state("networkidle")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}-{viewport}-{color_scheme}.png")
        layout = page.locator(hero).evaluate(LAYOUT)
    finally:
        page.context.close()

    assert layout["heroSize"] >= 2 * layout["largestOtherSize"], "the number is the hero"
    assert layout["heroInView"], "the number shows without scrolling"
    assert layout["overflow"] <= 0, "nothing runs off the side"
    assert layout["footerLinks"] == ["Source", "Deploy guide"]
    if color_scheme == "dark":
        assert layout["backgroundLightness"] < 0.2
    else:
        assert layout["backgroundLightness"] > 0.8
