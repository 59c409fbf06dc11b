"""Django's own errors under /api/ (counter.web.api_errors, the URLconf's handler400 to handler500): the
API's JSON errors, readable from any origin, where every other path keeps the site's error pages."""

import json

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.urls import get_resolver

from counter.models import NamedCounter
from tests.counter.web.test_api import BASE, HTTPS, error_of, post

# Neither the errors nor what they leave untouched depend on the counter store: the default one serves.
pytestmark = pytest.mark.django_db(transaction=True)


def assert_readable_from_any_origin(response):
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "no-store" in response["Cache-Control"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nope",
        "/api/v1/counters/a/b/c/d",
        "/api/v1/counters/a/b/",
        "/api/v1/counters/a/b/hit/",
        "/api/v2/counters",
    ],
)
@pytest.mark.parametrize("method", ["get", "post", "delete", "options"])
def test_a_path_under_the_api_that_names_no_endpoint_is_a_json_404_any_origin_can_read(client, path, method):
    response = getattr(client, method)(path, **HTTPS)
    assert error_of(response, 404)["code"] == "not_found"
    assert_readable_from_any_origin(response)
    assert not NamedCounter.objects.exists()


def test_a_host_the_app_does_not_serve_is_a_json_400_that_repeats_no_host(client, settings):
    response = post(client, f"{BASE}/example.com/home/hit", HTTP_HOST="attacker.example")
    error = error_of(response, 400)
    assert error["code"] == "unknown_host"
    assert "attacker.example" not in response.content.decode()
    assert not any(host in response.content.decode() for host in settings.ALLOWED_HOSTS)
    assert_readable_from_any_origin(response)
    assert not NamedCounter.objects.exists()


@pytest.mark.parametrize("status, arguments", [(403, (PermissionDenied(),)), (500, ())])
def test_the_urlconfs_other_error_handlers_answer_json_under_the_api_and_the_sites_pages_elsewhere(status, arguments):
    handler = get_resolver().resolve_error_handler(status)
    answer = handler(RequestFactory().get(f"{BASE}/example.com/home"), *arguments)
    assert (answer.status_code, answer["Content-Type"]) == (status, "application/json")
    error = json.loads(answer.content)["error"]
    assert error["status"] == status and error["code"] and error["message"]
    assert_readable_from_any_origin(answer)
    page = handler(RequestFactory().get("/stats/example.com/home/"), *arguments)
    assert page.status_code == status
    assert page["Content-Type"].startswith("text/html")
    assert "Access-Control-Allow-Origin" not in page
