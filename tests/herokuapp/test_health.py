import pytest

from counter.engine.base import get_store

pytestmark = pytest.mark.django_db


def test_liveness_answers_without_touching_any_service(client, django_assert_num_queries, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    with django_assert_num_queries(0):
        response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_checks_are_served_over_plain_http_for_internal_monitors(client):
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 200


def test_readiness_reports_each_configured_dependency_with_status_and_latency(client, redis_counter):
    report = client.get("/health/ready").json()
    assert report["status"] == "ok"
    assert set(report["dependencies"]) == {"database", "redis", "storage"}
    for dependency in report["dependencies"].values():
        assert dependency["status"] == "up"
        assert dependency["latency_ms"] >= 0


def test_readiness_leaves_out_redis_when_it_is_not_configured(client, settings):
    settings.COUNTER_STORE = "database"
    settings.REDIS_URL = ""
    assert "redis" not in client.get("/health/ready").json()["dependencies"]


def test_readiness_leaves_out_redis_with_the_database_store_which_keeps_nothing_there(client, settings):
    settings.COUNTER_STORE = "database"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert "redis" not in response.json()["dependencies"]


def test_readiness_is_degraded_but_ready_while_redis_is_down(client, settings):
    settings.COUNTER_STORE = "redis"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["dependencies"]["redis"]["status"] == "down"


def test_readiness_is_down_and_says_when_to_look_again_when_nothing_can_count(client, database_counter, database_down):
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "down"
    assert int(response["Retry-After"]) > 0


def test_health_checks_are_not_counted_as_views(client, database_counter):
    client.get("/health/live")
    client.get("/health/ready")
    assert get_store().get("index") == 0
