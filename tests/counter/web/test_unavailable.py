"""A service that is away (counter.web.unavailable): every URL of the URLconf, asked with the database
refusing connections, then with Redis down, then with both, answers on purpose — never a 500 — and
every 503 carries Retry-After in the form of the page asked for (a badge says it is unavailable
with a 200, which GitHub's image proxy shows, and Retry-After all the same)."""

import re

import pytest
from django.contrib.auth.models import User
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from counter.features import named

DEAD_REDIS = "redis://127.0.0.1:1/0"
ROUTER = {"secure": True, "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
# What fills each parameter of a pattern: an existing counter, the admin's first row, and so on.
SAMPLES = {
    "namespace": "example.com",
    "key": "home",
    "format": "svg",
    "object_id": "1",
    "content_type_id": "1",
    "id": "1",
    "app_label": "counter",
    "url": "nothing/here/",
    "path": "page-images/nothing.png",
}
PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def patterns(resolvers=None, prefix=""):
    """(route, pattern) for every pattern of the URLconf, the included ones too."""
    for entry in get_resolver().url_patterns if resolvers is None else resolvers:
        route = prefix + str(entry.pattern).removeprefix("^").removesuffix("$")
        if isinstance(entry, URLResolver):
            yield from patterns(entry.url_patterns, route)
        else:
            assert isinstance(entry, URLPattern)
            yield route, entry


def every_url():
    """A path for each pattern of the URLconf, its parameters filled from SAMPLES; the badge twice,
    once for each of its formats (the trend badge is SVG only)."""
    urls = []
    for route, pattern in patterns():
        path = "/" + PARAMETER.sub(lambda match: SAMPLES[match[1] or match[2]], route).replace("\\", "")
        assert resolve(path).func == pattern.callback, f"{path} does not reach {route}"
        urls.append(path)
        if "badge/" in path and not path.endswith("/trend.svg"):
            urls.append(path.replace(".svg", ".json"))
    return urls


URLS = every_url()


def answer_kind(path):
    """What a 503 of ``path`` must look like: its content type."""
    if path.startswith(("/api/v1/", "/health/")) or path.endswith(".json") and path.startswith("/badge/"):
        return "application/json"
    if path.endswith(".svg"):
        return "image/svg+xml"
    if path.endswith(".csv"):
        return "text/plain"
    return "text/html"


@pytest.fixture
def site(transactional_db, client):
    """A counter with views, and an admin signed in (a second client stays anonymous)."""
    named.hit("example.com/home")
    admin = User.objects.create_superuser("admin", "admin@example.com", "a long and unusual password")
    signed_in = client.__class__()
    signed_in.force_login(admin)
    return {"anonymous": client, "admin": signed_in}


def redis_down(settings):
    settings.COUNTER_STORE = "redis"
    settings.REDIS_URL = DEAD_REDIS


def ask_everything(clients):
    """(who, method, path, response) for every URL, asked by every client with every method."""
    for who, client in clients.items():
        for path in URLS:
            for method in ("get", "head", "post", "delete"):
                yield who, method, path, getattr(client, method)(path, **ROUTER)


def away(path, response):
    """Whether ``response`` says the service is away: a 503, or a badge with Retry-After."""
    return response.status_code == 503 or path.startswith("/badge/") and "Retry-After" in response


def assert_deliberate(clients):
    """Nothing answers 500; every answer that the service is away says when to come back, in its
    page's own form."""
    unavailable = set()
    for who, method, path, response in ask_everything(clients):
        assert response.status_code < 500 or response.status_code == 503, (who, method, path, response.status_code)
        if away(path, response):
            assert int(response["Retry-After"]) > 0, (who, method, path)
            assert response["Content-Type"].startswith(answer_kind(path)), (who, method, path, response["Content-Type"])
            if path.startswith("/api/v1/"):
                assert response["Access-Control-Allow-Origin"] == "*"
            if path.startswith(("/api/v1/counters", "/stats/")):  # a limit applied: it says where the client stands
                assert "RateLimit" in response and "RateLimit-Policy" in response, (who, method, path)
            unavailable.add(path)
    return unavailable


def test_every_url_is_walked():
    assert len(URLS) == len(list(patterns())) + 1
    assert {
        "/",
        "/api/v1/counters/example.com/home/hit",
        "/badge/example.com/home.svg",
        "/stats/example.com/home/views.csv",
        "/admin/login/",
    } <= set(URLS)


def test_with_the_database_refusing_connections(site, request):
    request.getfixturevalue("database_down")
    unavailable = assert_deliberate(site)
    assert {
        "/api/v1/counters/example.com/home",
        "/badge/example.com/home.svg",
        "/badge/example.com/home.json",
        "/stats/example.com/home/",
        "/stats/example.com/home/views.csv",
        "/admin/",
    } <= unavailable


def test_with_redis_down(site, settings):
    redis_down(settings)
    unavailable = assert_deliberate(site)
    assert unavailable <= {"/health/ready"}  # the database counts in Redis's stead


def test_with_the_database_and_redis_down(site, settings, request):
    redis_down(settings)
    request.getfixturevalue("database_down")
    unavailable = assert_deliberate(site)
    assert {
        "/",
        "/api/v1/counters/example.com/home/hit",
        "/badge/example.com/home.svg",
        "/stats/example.com/home/views.csv",
        "/admin/",
        "/health/ready",
    } <= unavailable
