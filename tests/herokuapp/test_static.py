"""Static files as WhiteNoise serves them after the build's collectstatic (the session fixture ``build``)."""

import gzip
import re
from pathlib import Path

import brotli
import pytest
from django.contrib.staticfiles.storage import staticfiles_storage
from django.templatetags.static import static

from tests.support.dyno import ROOT
from tests.support.security import security_headers

HTTPS = {"secure": True}
ONE_YEAR = 31536000


@pytest.fixture
def stylesheet_url():
    return static("site.css")


def get(client, url, accept_encoding=None):
    headers = {"Accept-Encoding": accept_encoding} if accept_encoding is not None else {}
    response = client.get(url, headers=headers, **HTTPS)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def served_urls(settings):
    """Every URL WhiteNoise answers: each file in STATIC_ROOT under STATIC_URL and each in
    WHITENOISE_ROOT at the root, less the compressed copies it serves in their stead."""
    for root, prefix in [(Path(settings.STATIC_ROOT), settings.STATIC_URL), (Path(settings.WHITENOISE_ROOT), "/")]:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not (path.suffix in (".gz", ".br") and path.with_suffix("").is_file()):
                yield prefix + path.relative_to(root).as_posix()


@pytest.fixture
def collected_css():
    """The stylesheet as collectstatic wrote it, under its hashed name."""
    return Path(staticfiles_storage.path(staticfiles_storage.stored_name("site.css"))).read_bytes()


def test_stylesheet_has_a_content_hashed_name(stylesheet_url):
    assert re.fullmatch(r"/static/site\.[0-9a-f]{12}\.css", stylesheet_url)


@pytest.mark.django_db
def test_home_page_links_the_hashed_stylesheet(client, stylesheet_url):
    page = client.get("/", **HTTPS).content.decode()
    assert f'<link rel="stylesheet" href="{stylesheet_url}">' in page


def test_stylesheet_is_served_brotli_compressed_to_clients_that_accept_it(client, stylesheet_url, collected_css):
    response, body = get(client, stylesheet_url, "gzip, deflate, br")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "br"
    assert brotli.decompress(body) == collected_css


def test_stylesheet_is_served_gzip_compressed_to_clients_without_brotli(client, stylesheet_url, collected_css):
    response, body = get(client, stylesheet_url, "gzip")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == collected_css


@pytest.mark.parametrize("accept_encoding", [None, "identity"])
def test_stylesheet_is_served_uncompressed_to_clients_that_accept_no_compression(
    client, stylesheet_url, collected_css, accept_encoding
):
    response, body = get(client, stylesheet_url, accept_encoding)
    assert response.status_code == 200
    assert "Content-Encoding" not in response
    assert response["Content-Type"].startswith("text/css")
    assert body == collected_css


def test_stylesheet_response_varies_on_accept_encoding(client, stylesheet_url):
    response, _ = get(client, stylesheet_url, "br")
    assert "Accept-Encoding" in response["Vary"]


def test_hashed_stylesheet_is_cached_for_a_year_or_more_and_immutable(client, stylesheet_url):
    response, _ = get(client, stylesheet_url, "br")
    directives = [part.strip() for part in response["Cache-Control"].split(",")]
    max_age = next(int(part.removeprefix("max-age=")) for part in directives if part.startswith("max-age="))
    assert max_age >= ONE_YEAR
    assert "immutable" in directives


def test_unhashed_stylesheet_is_not_served(client):
    """Only hashed names are kept, so a stale unhashed URL can never be cached for good."""
    response, _ = get(client, "/static/site.css")
    assert response.status_code == 404
    assert "immutable" not in response.get("Cache-Control", "")


def test_collected_stylesheet_is_the_source_stylesheet(collected_css):
    assert collected_css == (ROOT / "herokuapp" / "static" / "site.css").read_bytes()


def test_unhashed_stylesheet_is_not_kept_in_static_root(settings):
    assert not (settings.STATIC_ROOT / "site.css").exists()


def test_every_file_whitenoise_serves_carries_the_pages_security_headers(client, settings, page_security_headers):
    answers = {url: get(client, url)[0] for url in served_urls(settings)}
    assert {"/favicon.ico", "/robots.txt", static("favicon.svg"), static("site.css")} <= answers.keys()
    assert {url: response.status_code for url, response in answers.items() if response.status_code != 200} == {}
    headers = {url: security_headers(response) for url, response in answers.items()}
    assert {url: carried for url, carried in headers.items() if carried != page_security_headers} == {}
