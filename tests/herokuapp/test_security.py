import re

import pytest

from tests.support.dyno import ROOT
from tests.support.security import security_headers

HTTPS = {"secure": True}
ONE_YEAR = 31536000
HASHED_STYLESHEET = re.compile(r'<link rel="stylesheet" href="/static/site\.[0-9a-f]{12}\.css">')


def csp_directives(response):
    policy = response["Content-Security-Policy"]
    directives = {}
    for directive in filter(None, (part.strip() for part in policy.split(";"))):
        name, *values = directive.split()
        directives[name] = values
    return directives


def login_to_admin(client, username, password, client_address=None):
    """Log in through the admin's form; ``client_address`` is the address Heroku's router appends to X-Forwarded-For."""
    headers = {"X-Forwarded-For": client_address} if client_address else {}
    login_page = client.get("/admin/login/", headers=headers, **HTTPS)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.content.decode()).group(1)
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers=headers,
        **HTTPS,
    )


# HTTPS


@pytest.mark.parametrize("path", ["/", "/admin/login/?next=/admin/"])
def test_plain_http_request_is_redirected_permanently_to_https_on_the_same_path(client, path):
    response = client.get(path)
    assert response.status_code == 301
    assert response["Location"] == f"https://testserver{path}"


@pytest.mark.django_db
def test_request_the_router_forwarded_from_https_is_served_without_redirect(client):
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert "Location" not in response


def test_x_forwarded_proto_other_than_https_is_redirected(client):
    response = client.get("/", headers={"X-Forwarded-Proto": "http"})
    assert response.status_code == 301


def test_strict_transport_security_lasts_a_year_or_more_with_subdomains_and_preload(home):
    directives = [part.strip() for part in home["Strict-Transport-Security"].split(";")]
    max_age = next(int(part.removeprefix("max-age=")) for part in directives if part.startswith("max-age="))
    assert max_age >= ONE_YEAR
    assert "includeSubDomains" in directives
    assert "preload" in directives


# security headers


def test_content_security_policy_allows_nothing_by_default(home):
    assert csp_directives(home)["default-src"] == ["'none'"]


def test_content_security_policy_allows_nothing_inline(home):
    assert "'unsafe-inline'" not in home["Content-Security-Policy"]
    assert "'unsafe-eval'" not in home["Content-Security-Policy"]


def test_content_security_policy_forbids_framing(home):
    assert csp_directives(home)["frame-ancestors"] == ["'none'"]


def test_home_page_uses_nothing_inline_that_the_policy_would_block(home):
    page = home.content.decode()
    assert "<style" not in page
    assert "<script" not in page
    assert " style=" not in page


def test_referrer_policy_keeps_urls_on_the_site(home):
    assert home["Referrer-Policy"] == "same-origin"


def test_frames_are_denied(home):
    assert home["X-Frame-Options"] == "DENY"


def test_content_type_sniffing_is_off(home):
    assert home["X-Content-Type-Options"] == "nosniff"


def test_cross_origin_opener_policy_isolates_the_window(home):
    assert home["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/no-such-page/", "/static/no-such-file.css"])
def test_not_found_answer_carries_the_pages_security_headers(client, page_security_headers, path):
    response = client.get(path, **HTTPS)
    assert response.status_code == 404
    assert security_headers(response) == page_security_headers


def test_bad_request_answer_carries_the_pages_security_headers(client, page_security_headers):
    response = client.get("/", headers={"Host": "evil.example"}, **HTTPS)
    assert response.status_code == 400
    assert security_headers(response) == page_security_headers


@pytest.mark.parametrize("path", ["/", "/favicon.ico", "/static/no-such-file.css"])
def test_redirect_to_https_carries_the_pages_security_headers_but_hsts_which_is_for_https_alone(
    client, page_security_headers, path
):
    response = client.get(path)
    assert response.status_code == 301
    assert security_headers(response) == page_security_headers | {"Strict-Transport-Security": None}


# cookies


def test_csrf_cookie_is_secure_and_hidden_from_scripts(client):
    response = client.get("/admin/login/", **HTTPS)
    assert response.status_code == 200
    cookie = response.cookies["csrftoken"]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True


@pytest.mark.django_db
def test_session_cookie_after_login_is_secure_hidden_from_scripts_and_same_site_lax(client, django_user_model):
    django_user_model.objects.create_superuser("admin", "admin@example.com", "correct horse battery staple")
    response = login_to_admin(client, "admin", "correct horse battery staple")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    cookie = response.cookies["sessionid"]
    assert cookie.value
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


# error pages


def test_request_for_an_unknown_host_is_a_bad_request(client):
    response = client.get("/", headers={"Host": "evil.example"}, **HTTPS)
    assert response.status_code == 400


def test_bad_request_page_is_the_styled_one(client):
    page = client.get("/", headers={"Host": "evil.example"}, **HTTPS).content.decode()
    assert "<h1>Bad request</h1>" in page
    assert HASHED_STYLESHEET.search(page)


def test_unknown_page_is_not_found(client):
    response = client.get("/no-such-page/", **HTTPS)
    assert response.status_code == 404


def test_not_found_page_is_the_styled_one_with_the_hashed_stylesheet(client):
    page = client.get("/no-such-page/", **HTTPS).content.decode()
    assert "Page not found" in page
    assert HASHED_STYLESHEET.search(page)


def test_not_found_page_shows_no_debug_details(client):
    page = client.get("/no-such-page/", **HTTPS).content.decode()
    assert "URLconf" not in page
    assert "herokuapp.urls" not in page


# files at the root


@pytest.mark.parametrize("name", ["favicon.ico", "robots.txt"])
def test_public_file_is_served_at_the_root(client, name):
    response = client.get(f"/{name}", **HTTPS)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == (ROOT / "herokuapp" / "public" / name).read_bytes()


# cross-origin resource policy


def test_page_may_be_loaded_by_this_site_alone(home):
    assert home["Cross-Origin-Resource-Policy"] == "same-origin"


def test_static_file_may_be_loaded_by_this_site_alone(client):
    from django.templatetags.static import static

    response = client.get(static("site.css"), **HTTPS)
    assert response.status_code == 200
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


def test_error_page_may_be_loaded_by_this_site_alone(client):
    response = client.get("/no-such-page/", **HTTPS)
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
