"""Per-client limits on the counter API (counter.features.rate_limits): API requests per minute and new
counters per hour, shared by every process through the counter store (Redis or the database),
announced in the RateLimit header fields, and never in the way when their store is down."""

import json

import pytest
from django.test import RequestFactory

from counter.engine import database, scripts
from counter.features import named, rate_limits
from counter.models import NamedCounter, RateLimitWindow
from herokuapp.redis_client import get_redis

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backend")]

HTTPS = {"secure": True}
BASE = "/api/v1/counters"
DEAD_REDIS = "redis://127.0.0.1:1/0"


def hit(client, key="home", address="198.51.100.7", **extra):
    return client.post(f"{BASE}/example.com/{key}/hit", HTTP_X_FORWARDED_FOR=address, **HTTPS, **extra)


def create(client, key, address="198.51.100.7"):
    return client.post(
        BASE,
        json.dumps({"namespace": "example.com", "key": key}),
        content_type="application/json",
        HTTP_X_FORWARDED_FOR=address,
        **HTTPS,
    )


def test_requests_over_the_quota_get_a_429_saying_when_to_retry(client, settings):
    settings.COUNTER_API_REQUESTS_PER_MINUTE = 3
    answers = [hit(client) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["Access-Control-Allow-Origin"] == "*"
    assert named.get("example.com/home") == 3


def test_every_answer_announces_the_policy_and_what_is_left(client, settings):
    settings.COUNTER_API_REQUESTS_PER_MINUTE = 5
    first, second = hit(client), hit(client)
    assert first["RateLimit-Policy"] == '"api";q=5;w=60'
    assert first["RateLimit"].startswith('"api";r=4;t=')
    assert second["RateLimit"].startswith('"api";r=3;t=')
    assert "RateLimit" in first["Access-Control-Expose-Headers"]


def test_each_client_has_its_own_allowance(client, settings):
    settings.COUNTER_API_REQUESTS_PER_MINUTE = 2
    for _ in range(2):
        hit(client, address="198.51.100.7")
    assert hit(client, address="198.51.100.7").status_code == 429
    assert hit(client, address="203.0.113.9").status_code == 200


def test_the_client_is_the_address_herokus_router_appended_not_one_it_was_sent(client, settings):
    settings.COUNTER_API_REQUESTS_PER_MINUTE = 2
    for forged in ("10.0.0.1", "10.0.0.2"):
        hit(client, address=f"{forged}, 198.51.100.7")
    assert hit(client, address="10.0.0.3, 198.51.100.7").status_code == 429


def test_an_ipv6_client_is_its_64_network_since_one_host_holds_all_of_it(client, settings):
    settings.COUNTER_API_REQUESTS_PER_MINUTE = 2
    hit(client, address="2001:db8:1:2::1")
    hit(client, address="2001:db8:1:2:ffff:ffff:ffff:fffe")
    assert hit(client, address="2001:db8:1:2:abcd::9").status_code == 429
    assert hit(client, address="2001:db8:1:3::1").status_code == 200


def test_a_client_may_create_only_so_many_counters_an_hour(client, settings):
    settings.COUNTER_CREATIONS_PER_HOUR = 2
    assert create(client, "one").status_code == 201
    assert hit(client, "two").status_code == 200  # a first hit creates one too
    refused = create(client, "three")
    assert refused.status_code == 429
    assert refused.json()["error"]["message"].startswith("at most 2 new counters per 3600 s")
    assert hit(client, "four").status_code == 429
    assert hit(client, "one").status_code == 200  # counting on existing counters goes on
    assert sorted(NamedCounter.objects.values_list("name", flat=True)) == ["example.com/one", "example.com/two"]
    assert create(client, "three", address="203.0.113.9").status_code == 201


def test_a_new_window_brings_a_new_allowance():
    limit = rate_limits.API_REQUESTS
    start = 1_800_000_000.0  # the start of a minute
    decisions = [rate_limits.take(limit, "client", now=start + 1) for _ in range(limit.quota + 1)]
    assert [decision.allowed for decision in decisions[-2:]] == [True, False]
    assert decisions[-1].reset == 59
    assert rate_limits.take(limit, "client", now=start + 60).allowed


def test_counts_are_shared_by_every_process_through_redis_or_the_database(client, settings):
    settings.COUNTER_API_REQUESTS_PER_MINUTE = 50
    hit(client)
    hit(client)
    if settings.COUNTER_STORE == "redis":
        keys = [key.decode() for key in get_redis().scan_iter(match=scripts.WINDOWS + "api:*")]
        assert len(keys) == 1 and 0 < get_redis().pttl(keys[0]) <= 60_000
        assert get_redis().get(keys[0]) == b"2"
        assert not RateLimitWindow.objects.exists()
    else:
        assert RateLimitWindow.objects.get(key__startswith="api:").count == 2


def test_with_the_database_store_limits_are_counted_in_the_database_even_with_redis_there(settings, redis_url):
    """COUNTER_STORE=database keeps every count in the database, rate limits included: a REDIS_URL
    set for something else does not move them to Redis."""
    settings.COUNTER_STORE = "database"
    settings.REDIS_URL = redis_url
    settings.COUNTER_API_REQUESTS_PER_MINUTE = 1
    decisions = [rate_limits.take(rate_limits.API_REQUESTS, "client") for _ in range(2)]
    assert [decision.allowed for decision in decisions] == [True, False]
    assert RateLimitWindow.objects.get().count == 2
    assert list(get_redis().scan_iter(match=scripts.WINDOWS + "*")) == []


def test_the_clients_address_is_stored_only_as_a_keyed_hash(settings):
    settings.COUNTER_STORE = "database"
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="198.51.100.7")
    rate_limits.take(rate_limits.API_REQUESTS, rate_limits.client_of(request))
    key = RateLimitWindow.objects.get().key
    assert "198.51.100.7" not in key
    assert key == f"api:{rate_limits.client_of(request)}"
    settings.SECRET_KEY = "another" * 8
    assert key != f"api:{rate_limits.client_of(request)}"


def test_with_redis_down_limits_are_counted_in_the_database(settings):
    settings.COUNTER_STORE = "redis"
    settings.REDIS_URL = DEAD_REDIS
    settings.COUNTER_API_REQUESTS_PER_MINUTE = 1
    decisions = [rate_limits.take(rate_limits.API_REQUESTS, "client") for _ in range(2)]
    assert [decision.allowed for decision in decisions] == [True, False]
    assert RateLimitWindow.objects.get().count == 2


def test_with_no_store_answering_requests_are_let_through(settings, monkeypatch):
    settings.COUNTER_STORE = "redis"
    settings.REDIS_URL = DEAD_REDIS
    settings.COUNTER_API_REQUESTS_PER_MINUTE = 1
    monkeypatch.setattr(RateLimitWindow._meta, "db_table", "no_such_table")  # every query fails
    assert all(rate_limits.take(rate_limits.API_REQUESTS, "client").allowed for _ in range(3))


@pytest.mark.django_db
def test_with_the_database_counting_the_windows_that_ended_are_cleared_now_and_then(database_counter, monkeypatch):
    monkeypatch.setattr(database, "CLEAN_UP_ONE_IN", 1)
    start = 60 * 30_000_000
    for client in ("a", "b"):
        rate_limits.take(rate_limits.API_REQUESTS, client, now=start)
    rate_limits.take(rate_limits.STATS, "a", now=start)
    rate_limits.take(rate_limits.API_REQUESTS, "a", now=start + 60)
    assert sorted(RateLimitWindow.objects.values_list("key", "window")) == [
        ("api:a", 30_000_001),
        ("stats:a", 30_000_000),
    ]
