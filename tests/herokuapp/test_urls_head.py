"""HEAD wherever GET works, over every route of the URLconf (herokuapp.urls and all it includes):
the same status and Content-Type as GET, no body, and never a view counted. Each route is filled in
with an existing counter's name, and walked by a visitor and by a logged-in admin, with each
counter store."""

import itertools

import pytest
from django.contrib.auth.models import User
from django.urls import Resolver404, get_resolver, resolve

from counter.engine.base import get_store
from counter.features import named
from counter.web.page import PAGE

pytestmark = pytest.mark.django_db(transaction=True)

HTTPS = {"secure": True}
NAMESPACE, KEY = "example.com", "home"
# What each path parameter of the URLconf is filled in with; a route with a parameter not named
# here fails the walk, so that no route is left out unseen.
VALUES = {
    "namespace": [NAMESPACE],
    "key": [KEY],
    "format": ["svg", "json"],
    "app_label": ["counter"],
    "object_id": ["1"],
    "id": ["1"],
    "content_type_id": ["1"],
    "url": ["nowhere/"],
}
# Django's admin sends a logged-in admin's GET of its login page on to the admin's index, and shows
# the form to any other method: HEAD included. Django's own behaviour, and nothing is counted there.
ADMIN_ONLY_GET_REDIRECTS = "/admin/login/"
# Another User-Agent than GET's: a HEAD counted as a visitor would add one to today's visitors.
HEAD_CLIENT = {"HTTP_USER_AGENT": "head-walker/1.0"}


def routes(resolver=None, prefix=""):
    """Each route of the URLconf as a format string with its parameters, namespaced ones included."""
    resolver = resolver or get_resolver()
    for _, entries in resolver.reverse_dict.lists():
        for possibilities, *_ in entries:
            for template, parameters in possibilities:
                yield prefix + template, tuple(parameters)
    for inner_prefix, inner in resolver.namespace_dict.values():
        yield from routes(inner, prefix + inner_prefix)


def paths():
    """A path for every route (and every choice of its parameters that resolves)."""
    found = []
    for template, parameters in sorted(set(routes())):
        assert set(parameters) <= VALUES.keys(), (
            f"VALUES has nothing to fill in {set(parameters) - VALUES.keys()} of {template!r}"
        )
        filled = []
        for values in itertools.product(*(VALUES[name] for name in parameters)):
            path = "/" + template % dict(zip(parameters, values, strict=True))
            try:
                resolve(path)
            except Resolver404:
                continue
            filled.append(path)
        assert filled, f"no value in VALUES fills in the route {template!r}"
        found.extend(filled)
    return found


def counts():
    """Every count a request could change: the page's views, and the counter's value and today's views and visitors."""
    return get_store().get(PAGE), named.get(f"{NAMESPACE}/{KEY}"), named.today(f"{NAMESPACE}/{KEY}")


@pytest.fixture(params=["database_counter", "redis_counter"])
def store(request):
    request.getfixturevalue(request.param)


@pytest.fixture(params=["visitor", "admin"])
def walker(request, client):
    client.is_admin = request.param == "admin"
    if client.is_admin:
        client.force_login(User.objects.create_superuser("admin", "admin@example.com", "a long enough password"))
    return client


@pytest.mark.usefixtures("store")
def test_head_answers_as_get_does_on_every_route_with_no_body_and_counts_nothing(walker):
    named.hit(f"{NAMESPACE}/{KEY}")
    walked = []
    for path in paths():
        got = walker.get(path, **HTTPS)
        if got.status_code == 405 or (walker.is_admin and path == ADMIN_ONLY_GET_REDIRECTS):
            continue
        before = counts()
        head = walker.head(path, **HTTPS, **HEAD_CLIENT)
        assert (head.status_code, head.get("Content-Type")) == (got.status_code, got.get("Content-Type")), path
        assert head.content == b"", path
        assert counts() == before, f"HEAD {path} changed a count"
        walked.append(path)
    named_routes = {
        "api/v1/counters/{}",
        "api/v1/counters/{}/hit",
        "badge/{}.svg",
        "badge/{}.json",
        "stats/{}/",
        "stats/{}/views.csv",
    }
    expected = {"/", "/health/live", "/health/ready", "/admin/", "/api/v1/openapi.json"}
    expected |= {"/" + route.format(f"{NAMESPACE}/{KEY}") for route in named_routes}
    if not walker.is_admin:
        expected.add(ADMIN_ONLY_GET_REDIRECTS)
    assert expected <= set(walked)


@pytest.mark.usefixtures("store")
def test_every_route_that_refuses_a_method_lists_head_beside_get(walker):
    named.hit(f"{NAMESPACE}/{KEY}")
    refusing = []
    for path in paths():
        if walker.get(path, **HTTPS).status_code == 405:
            continue
        refused = walker.put(path, **HTTPS)
        if refused.status_code == 405:
            allowed = {method.strip() for method in refused["Allow"].split(",")}
            assert {"GET", "HEAD"} <= allowed, path
            refusing.append(path)
    assert {"/health/live", "/api/v1/openapi.json", f"/api/v1/counters/{NAMESPACE}/{KEY}/hit"} <= set(refusing)
