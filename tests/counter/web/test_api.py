"""The counter API (counter.web.api, counter.features.named): named counters anyone can hit, read, create with
an admin token, reset and delete, from any web page, with a JSON answer for every error. Each test
runs with both counter stores."""

import json

import pytest

from counter.engine.base import get_store
from counter.features import named
from counter.models import Counter, NamedCounter
from counter.web import urls as counter_urls

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backend")]

HTTPS = {"secure": True}
BASE = "/api/v1/counters"


def post(client, path, data=None, token=None, **extra):
    if token:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    content = json.dumps(data) if data is not None and not isinstance(data, (str, bytes)) else (data or "")
    return client.post(path, content, content_type="application/json", **HTTPS, **extra)


def get(client, path, **extra):
    return client.get(path, **HTTPS, **extra)


def error_of(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == status and error["code"] and error["message"]
    return error


def create(client, namespace="example.com", key="home", **data):
    response = post(client, BASE, {"namespace": namespace, "key": key, **data})
    assert response.status_code == 201, response.content
    return response.json()


# -- hit and get ------------------------------------------------------------------------------------


def test_the_first_hit_creates_a_counter_and_each_hit_counts_one(client):
    values = [post(client, f"{BASE}/example.com/home/hit").json()["value"] for _ in range(3)]
    assert values == [1, 2, 3]
    assert get(client, f"{BASE}/example.com/home/hit").json() == {"namespace": "example.com", "key": "home", "value": 4}
    assert get(client, f"{BASE}/example.com/home").json() == {
        "namespace": "example.com",
        "key": "home",
        "value": 4,
        "today": {"views": 4, "visitors": 1, "bots": 0},
    }
    assert get(client, f"{BASE}/example.com/home").json()["value"] == 4  # reading does not count


def test_counters_count_apart_from_each_other_and_from_the_home_page(client):
    post(client, f"{BASE}/a/one/hit")
    post(client, f"{BASE}/a/two/hit")
    post(client, f"{BASE}/a/two/hit")
    post(client, f"{BASE}/b/one/hit")
    client.get("/", **HTTPS)
    assert [get(client, f"{BASE}/{path}").json()["value"] for path in ("a/one", "a/two", "b/one")] == [1, 2, 1]
    assert get_store().get("index") == 1


def test_an_unknown_counter_is_a_404_and_reading_it_creates_nothing(client):
    error = error_of(get(client, f"{BASE}/example.com/nothing"), 404)
    assert error["code"] == "unknown_counter"
    assert not NamedCounter.objects.exists()


@pytest.mark.parametrize("path", ["bad%20space/key", "ns/" + "k" * 65, "ns/ké", "ns/a:b"])
def test_a_namespace_or_key_outside_the_allowed_characters_is_a_400(client, path):
    error = error_of(post(client, f"{BASE}/{path}/hit"), 400)
    assert error["code"] == "invalid_name"
    assert "A-Z a-z 0-9 _ . -" in error["message"]
    assert not NamedCounter.objects.exists()


def test_views_of_named_counters_reach_the_database_like_the_home_pages(client, backend):
    for _ in range(5):
        post(client, f"{BASE}/example.com/home/hit")
    if backend == "redis":
        get_store().flush()
    assert Counter.objects.get(name="example.com/home").views == 5


# -- create -----------------------------------------------------------------------------------------


def test_creating_a_counter_returns_its_admin_token_once_and_stores_only_a_hash(client):
    created = create(client, value=0)
    assert set(created) == {"namespace", "key", "value", "token"}
    assert len(created["token"]) >= 40
    row = NamedCounter.objects.get(name="example.com/home")
    assert row.token_hash == named.token_hash(created["token"]) != created["token"]
    assert "token" not in get(client, f"{BASE}/example.com/home").json()


def test_a_counter_can_start_from_a_value_carried_over_from_another_service(client):
    assert create(client, value=123_456)["value"] == 123_456
    assert post(client, f"{BASE}/example.com/home/hit").json()["value"] == 123_457


def test_creating_a_counter_that_exists_is_a_409_and_leaves_it_alone(client):
    first = create(client, value=10)
    error = error_of(post(client, BASE, {"namespace": "example.com", "key": "home", "value": 99}), 409)
    assert error["code"] == "counter_exists"
    assert get(client, f"{BASE}/example.com/home").json()["value"] == 10
    assert NamedCounter.objects.get().token_hash == named.token_hash(first["token"])


def test_a_counter_a_hit_created_cannot_be_claimed_by_creating_it(client):
    post(client, f"{BASE}/example.com/home/hit")
    error_of(post(client, BASE, {"namespace": "example.com", "key": "home"}), 409)


@pytest.mark.parametrize(
    "body, code",
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_json"),
        ({"namespace": "ns"}, "invalid_name"),
        ({"namespace": "ns", "key": 5}, "invalid_name"),
        ({"namespace": "ns", "key": "k", "value": "7"}, "invalid_value"),
        ({"namespace": "ns", "key": "k", "value": True}, "invalid_value"),
        ({"namespace": "ns", "key": "k", "value": 10**16}, "invalid_value"),
        ({"namespace": "ns", "key": "k", "value": 1.5}, "invalid_value"),
    ],
)
def test_a_create_request_that_is_not_valid_is_a_400_saying_why(client, body, code):
    assert error_of(post(client, BASE, body), 400)["code"] == code
    assert not NamedCounter.objects.exists()


def test_a_request_body_over_1_kib_is_refused_with_a_413_but_a_creation_may_carry_up_to_256_kib(client):
    """A creation may carry a history of up to 3,660 days (test_carried_history.py)."""
    over_1_kib = {"namespace": "ns", "key": "k", "padding": "x" * 1100}
    for path in (f"{BASE}/ns/k/hit", f"{BASE}/ns/k/reset"):
        assert error_of(post(client, path, over_1_kib), 413)["code"] == "body_too_large"
    over_256_kib = {**over_1_kib, "padding": "x" * 256 * 1024}
    assert (
        error_of(post(client, BASE, over_256_kib), 413)["message"] == "request bodies are limited to 262144 bytes here"
    )
    assert not NamedCounter.objects.exists()
    assert create(client, "ns", "k", padding=over_1_kib["padding"])["value"] == 0


# -- reset and delete -------------------------------------------------------------------------------


def test_the_admin_token_resets_a_counter_to_zero_or_to_a_value(client):
    token = create(client)["token"]
    for _ in range(3):
        post(client, f"{BASE}/example.com/home/hit")
    assert post(client, f"{BASE}/example.com/home/reset", token=token).json()["value"] == 0
    assert post(client, f"{BASE}/example.com/home/hit").json()["value"] == 1
    assert post(client, f"{BASE}/example.com/home/reset", {"value": 500}, token=token).json()["value"] == 500
    assert get(client, f"{BASE}/example.com/home").json()["value"] == 500


def test_reset_without_a_token_is_a_401_and_with_a_wrong_one_a_403(client):
    create(client)
    post(client, f"{BASE}/example.com/home/hit")
    missing = post(client, f"{BASE}/example.com/home/reset")
    assert error_of(missing, 401)["code"] == "token_required"
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert error_of(post(client, f"{BASE}/example.com/home/reset", token="guess"), 403)["code"] == "wrong_token"
    assert get(client, f"{BASE}/example.com/home").json()["value"] == 1


def test_a_counter_a_hit_created_has_no_token_that_can_reset_it(client):
    post(client, f"{BASE}/example.com/home/hit")
    error_of(post(client, f"{BASE}/example.com/home/reset", token="anything"), 403)


def test_the_admin_token_deletes_a_counter_and_a_new_one_of_that_name_starts_afresh(client):
    token = create(client)["token"]
    for _ in range(4):
        post(client, f"{BASE}/example.com/home/hit")
    assert error_of(client.delete(f"{BASE}/example.com/home", **HTTPS), 401)
    assert error_of(client.delete(f"{BASE}/example.com/home", HTTP_AUTHORIZATION="Bearer guess", **HTTPS), 403)
    deleted = client.delete(f"{BASE}/example.com/home", HTTP_AUTHORIZATION=f"Bearer {token}", **HTTPS)
    assert deleted.status_code == 204
    error_of(get(client, f"{BASE}/example.com/home"), 404)
    assert create(client)["value"] == 0
    assert post(client, f"{BASE}/example.com/home/hit").json()["value"] == 1


# -- HTTP -------------------------------------------------------------------------------------------


def test_every_answer_allows_use_from_other_sites(client):
    for response in (
        post(client, f"{BASE}/example.com/home/hit"),
        get(client, f"{BASE}/example.com/nothing"),
        post(client, f"{BASE}/bad%20name/x/hit"),
    ):
        assert response["Access-Control-Allow-Origin"] == "*"
        assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert "no-store" in response["Cache-Control"]


def test_a_preflight_request_names_the_methods_and_headers_allowed(client):
    response = client.options(
        f"{BASE}/example.com/home/reset",
        HTTP_ORIGIN="https://example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        **HTTPS,
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert "Authorization" in response["Access-Control-Allow-Headers"]
    assert int(response["Access-Control-Max-Age"]) > 0
    assert not NamedCounter.objects.exists()


def test_a_method_an_endpoint_does_not_take_is_a_405_naming_those_it_does(client):
    response = client.put(f"{BASE}/example.com/home/hit", **HTTPS)
    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert response["Allow"] == "GET, POST, HEAD, OPTIONS"


def test_every_endpoint_that_takes_get_takes_head_and_says_so(client):
    preflight = client.options(
        f"{BASE}/example.com/home",
        HTTP_ORIGIN="https://example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="HEAD",
        **HTTPS,
    )
    assert preflight["Access-Control-Allow-Methods"] == "GET, DELETE, HEAD, OPTIONS"
    assert client.put("/api/v1/openapi.json", **HTTPS)["Allow"] == "GET, HEAD, OPTIONS"
    assert client.put(BASE, **HTTPS)["Allow"] == "POST, OPTIONS"


def test_head_of_a_get_endpoint_answers_as_get_with_no_body(client):
    post(client, f"{BASE}/example.com/home/hit")
    for path in (f"{BASE}/example.com/home", "/api/v1/openapi.json"):
        got, head = get(client, path), client.head(path, **HTTPS)
        assert (
            (head.status_code, head["Content-Type"])
            == (got.status_code, got["Content-Type"])
            == (200, "application/json")
        )
        assert head["Access-Control-Allow-Origin"] == "*"
        assert head.content == b""


def test_head_of_the_hit_endpoint_neither_counts_nor_creates(client):
    post(client, f"{BASE}/example.com/home/hit")
    head = client.head(f"{BASE}/example.com/home/hit", **HTTPS)
    assert (head.status_code, head["Content-Type"]) == (200, "application/json")
    assert client.head(f"{BASE}/example.com/other/hit", **HTTPS).status_code == 404
    assert get(client, f"{BASE}/example.com/home").json()["value"] == 1
    assert get(client, f"{BASE}/example.com/home").json()["today"]["views"] == 1
    assert list(NamedCounter.objects.values_list("name", flat=True)) == ["example.com/home"]


def test_the_api_needs_no_csrf_token_but_still_redirects_plain_http(client):
    client.handler.enforce_csrf_checks = True
    assert post(client, f"{BASE}/example.com/home/hit").status_code == 200
    assert client.post(f"{BASE}/example.com/home/hit").status_code == 301


def test_the_openapi_document_describes_every_api_route(client):
    response = get(client, "/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    routes = {
        "/" + str(pattern.pattern).replace("<str:namespace>", "{namespace}").replace("<str:key>", "{key}")
        for pattern in counter_urls.urlpatterns
        if str(pattern.pattern).startswith(("api/", "badge/<"))
    }
    badges = {"/badge/{namespace}/{key}.svg", "/badge/{namespace}/{key}.json"}  # one pattern for both
    assert routes | badges == set(document["paths"])
