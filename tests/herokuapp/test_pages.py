"""The counter page and the error pages share one design: the same stylesheet, one heading, a
number as the hero, and a footer linking to the source and the deploy guide."""

import re
from html.parser import HTMLParser

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error

from tests.support.dyno import ROOT

HTTPS = {"secure": True}
DEPLOY_BUTTON = re.compile(r"\(https://www\.heroku\.com/deploy\?template=(https://github\.com/[^)\s]+)\)")


class Outline(HTMLParser):
    """What a page is made of: its language, headings, the hero's text, the footer's links, and
    any inline code the Content-Security-Policy would block."""

    VOID = {"meta", "link", "img", "br", "hr", "input"}

    def __init__(self, page):
        super().__init__()
        self.lang = None
        self.headings = []
        self.hero = []
        self.footer_links = {}
        self.inline = []
        self._open = []  # (tag, role) of each element the parser is inside
        self._link = None
        self.feed(page)

    def _inside(self, role):
        return any(open_role == role for _, open_role in self._open)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "html":
            self.lang = attrs.get("lang")
        if tag in ("script", "style") or "style" in attrs or any(name.startswith("on") for name in attrs):
            self.inline.append(tag)
        if tag == "a" and self._inside("footer"):
            self._link = [attrs.get("href"), ""]
        if tag in self.VOID:
            return
        if "status" in classes or (tag == "strong" and self._inside("count")):
            role = "hero"
        elif tag == "p" and "count" in classes:
            role = "count"
        else:
            role = tag
        self._open.append((tag, role))

    def handle_endtag(self, tag):
        if tag == "a" and self._link:
            href, text = self._link
            self.footer_links[" ".join(text.split())] = href
            self._link = None
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        if self._inside("h1"):
            self.headings.append(data.strip())
        if self._inside("hero"):
            self.hero.append(data.strip())
        if self._link:
            self._link[1] += data


def home(client):
    return client.get("/", **HTTPS)


def not_found(client):
    return client.get("/no-such-page/", **HTTPS)


def bad_request(client):
    return client.get("/", headers={"Host": "evil.example"}, **HTTPS)


def server_error_page(client):
    return server_error(RequestFactory().get("/"))


def unavailable(client):
    from unittest import mock

    from counter.engine.base import CounterUnavailable
    from counter.web import views

    class Unavailable:
        def hit(self, name):
            raise CounterUnavailable("both down")

    with mock.patch.object(views, "get_store", Unavailable):
        return client.get("/", **HTTPS)


PAGES = {
    "home": (home, 200, "Hello, world!", "1"),
    "404": (not_found, 404, "Page not found", "404"),
    "400": (bad_request, 400, "Bad request", "400"),
    "500": (server_error_page, 500, "Something went wrong", "500"),
    "503": (unavailable, 503, "Back in a moment", "503"),
}


@pytest.fixture(params=list(PAGES))
def page(request, client, db):
    fetch, status, heading, hero = PAGES[request.param]
    response = fetch(client)
    assert response.status_code == status
    return Outline(response.content.decode()), heading, hero


def test_page_has_one_heading_saying_what_happened(page):
    outline, heading, _ = page
    assert outline.headings == [heading]


def test_page_shows_its_number_as_the_hero(page):
    outline, _, hero = page
    assert outline.hero == [hero]


def test_page_declares_its_language(page):
    outline, _, _ = page
    assert outline.lang == "en"


def test_page_has_no_inline_script_style_or_event_handler(page):
    outline, _, _ = page
    assert outline.inline == []


def test_page_footer_links_to_the_source_and_the_deploy_guide(page):
    outline, _, _ = page
    source = outline.footer_links["Source"]
    assert source.startswith("https://")
    assert outline.footer_links["Deploy guide"] == f"{source}#deploy-to-heroku"


def test_footer_links_to_the_repository_the_readme_deploy_button_deploys(client, db):
    button = DEPLOY_BUTTON.search((ROOT / "README.md").read_text()).group(1)
    assert Outline(home(client).content.decode()).footer_links["Source"] == button


def test_readme_has_the_deploy_guide_the_footer_links_to():
    assert "\n## Deploy to Heroku\n" in (ROOT / "README.md").read_text()
