"""The counter page in Chromium, over HTTPS through the router: it counts, and it loads cleanly."""

import pytest

pytestmark = pytest.mark.slow


def shown_count(page):
    return int(page.locator(".count strong").inner_text().replace(",", ""))


def test_loading_the_page_again_shows_the_count_one_higher(site, page):
    assert page.goto(site.url + "/").status == 200
    first = shown_count(page)
    assert page.goto(site.url + "/").status == 200
    assert shown_count(page) == first + 1


def test_the_count_reads_as_one_sentence(site, page):
    page.goto(site.url + "/")
    count = page.locator(".count strong").inner_text()
    assert page.locator(".count").inner_text().split() == [
        "This",
        "page",
        "was",
        "viewed",
        count,
        *(["time."] if count == "1" else ["times."]),
    ]


def test_page_loads_with_no_console_error_failed_request_or_csp_violation(site, page, problems):
    page.goto(site.url + "/")
    page.wait_for_load_state("networkidle")
    problems.collect_csp_violations(page)
    assert problems == []


def test_page_is_served_over_https_with_its_stylesheet_and_favicon(site, page):
    loaded = {}
    page.on("response", lambda response: loaded.setdefault(response.url.split("?")[0], response.status))
    page.goto(site.url + "/")
    page.wait_for_load_state("networkidle")
    stylesheet = page.locator('link[rel="stylesheet"]').get_attribute("href")
    icon = page.locator('link[rel="icon"]').get_attribute("href")
    assert loaded[site.url + stylesheet] == 200
    assert page.evaluate("document.styleSheets.length") == 1
    assert page.evaluate("window.isSecureContext") is True
    assert page.request.get(site.url + icon).status == 200


def test_page_arrives_through_the_router_as_an_https_request_with_a_request_id(site, page):
    response = page.goto(site.url + "/")
    # The app sends HSTS only on requests the router says came over HTTPS.
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert len(response.headers["x-request-id"]) == 32


def test_unknown_address_shows_the_styled_not_found_page_with_no_csp_violation(site, page, problems):
    response = page.goto(site.url + "/no-such-page/")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    assert page.evaluate("document.styleSheets.length") == 1
    problems.collect_csp_violations(page)
    # The one console error Chromium reports is the page's own 404 status.
    assert [problem for problem in problems if "404" not in problem] == []
