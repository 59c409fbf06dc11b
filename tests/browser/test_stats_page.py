"""A counter's stats page in Chromium: the previews of its snippets load without counting a view,
the HTML one follows the light or dark scheme as GitHub's would, each copy button copies its
snippet exactly, and the page keeps the site's look at desktop and phone widths."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS, VIEWPORTS, new_page
from tests.browser.test_design import LAYOUT

pytestmark = pytest.mark.slow

NAME = "example.com/readme"
PATH = f"/stats/{NAME}/"
LANGUAGES = ("Markdown", "HTML", "JavaScript")
IMAGES = "(images) => images.map((image) => ({src: image.currentSrc, width: image.complete ? image.naturalWidth : 0}))"


@pytest.fixture(scope="module")
def api(site, browser):
    """Requests to the site from outside any page, as another site's server would make them."""
    context = browser.new_context(ignore_https_errors=True, base_url=site.url)
    yield context.request
    context.close()


@pytest.fixture(scope="module")
def counter(api):
    namespace, key = NAME.split("/")
    response = api.post("/api/v1/counters", data={"namespace": namespace, "key": key, "value": 41999})
    assert response.status == 201, response.text()
    return NAME


def value(api):
    response = api.get(f"/api/v1/counters/{NAME}")
    assert response.ok, response.text()
    return response.json()["value"]


def open_stats(site, page):
    assert page.goto(site.url + PATH).status == 200
    page.wait_for_load_state("networkidle")


def test_the_previews_load_and_the_script_preview_shows_the_value_without_counting_it(
    site, page, problems, api, counter
):
    before = value(api)
    open_stats(site, page)
    expect(page.locator(".preview-value")).to_have_text(str(before))
    images = page.locator(".preview img").evaluate_all(IMAGES)
    assert len(images) == 2 and all(image["width"] > 0 for image in images), images
    assert value(api) == before
    problems.collect_csp_violations(page)
    assert problems == []


@pytest.mark.parametrize("color_scheme, query", [("light", "action=get"), ("dark", "theme=dark&action=get")])
def test_the_html_preview_shows_the_badge_of_the_pages_scheme(site, browser, problems, counter, color_scheme, query):
    page = new_page(browser, problems, color_scheme=color_scheme)
    try:
        open_stats(site, page)
        [image] = page.locator(".preview picture img").evaluate_all(IMAGES)
        problems.collect_csp_violations(page)
    finally:
        page.context.close()
    assert image["src"] == f"{site.url}/badge/{NAME}.svg?{query}"
    assert image["width"] > 0
    assert problems == []


def test_the_html_preview_changes_badge_when_the_scheme_changes(site, page, counter):
    open_stats(site, page)
    image = page.locator(".preview picture img")
    page.emulate_media(color_scheme="dark")
    expect(image).to_have_js_property("currentSrc", f"{site.url}/badge/{NAME}.svg?theme=dark&action=get")
    page.emulate_media(color_scheme="light")
    expect(image).to_have_js_property("currentSrc", f"{site.url}/badge/{NAME}.svg?action=get")


def test_each_copy_button_puts_its_snippet_on_the_clipboard_and_says_copied(site, page, problems, counter):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    open_stats(site, page)
    copied = {}
    for language in LANGUAGES:
        code = page.get_by_role("button", name=f"Copy the {language} snippet").get_attribute("data-copies")
        button = page.locator(f'button[data-copies="{code}"]')  # its name changes with its state
        button.click()
        expect(button.locator(".copy-state")).to_have_text("Copied")
        expect(button).to_have_accessible_name(f"Copied the {language} snippet")
        expect(page.get_by_role("status")).to_have_text(f"Copied the {language} snippet.")
        shown = page.locator(f"#{code}").text_content()
        copied[language] = page.evaluate("navigator.clipboard.readText()")
        assert copied[language] == shown
    assert copied["Markdown"] == f"[![views]({site.url}/badge/{NAME}.svg)]({site.url}{PATH})"
    assert f'srcset="{site.url}/badge/{NAME}.svg?theme=dark"' in copied["HTML"]
    assert f'fetch("{site.url}/api/v1/counters/{NAME}/hit", {{method: "POST"}})' in copied["JavaScript"]
    problems.collect_csp_violations(page)
    assert problems == []


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_stats_page_keeps_the_sites_look_with_its_snippets(
    site, browser, problems, counter, viewport, color_scheme
):
    page = new_page(browser, problems, viewport, color_scheme)
    try:
        open_stats(site, page)
        expect(page.get_by_role("button", name="Copy the Markdown snippet")).to_be_visible()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"stats-{viewport}-{color_scheme}.png", full_page=True)
        layout = page.locator(".count strong").evaluate(LAYOUT)
        problems.collect_csp_violations(page)
    finally:
        page.context.close()
    assert layout["heroSize"] >= 2 * layout["largestOtherSize"], "the total is the hero"
    assert layout["overflow"] <= 0, "nothing runs off the side, the snippets' long URLs included"
    assert layout["footerLinks"] == ["Source", "Deploy guide"]
    assert problems == []
