"""Badges of named counters served over HTTP (counter.badge_views): an SVG that counts each time
it is fetched and that GitHub's image proxy must fetch every time, a shields.io endpoint JSON
that only reads, and errors that are badges too."""

import re
import xml.etree.ElementTree as ET

import pytest

from counter import named
from counter.models import NamedCounter
from tests.counter.test_text import HIDDEN, VISIBLE
from tests.dyno import WebDyno, dyno_environment
from tests.services import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backend")]

HTTPS = {"secure": True}
SVG = "{http://www.w3.org/2000/svg}"
# What a query string can carry: UTF-8, and so a URL, has no encoding for a surrogate.
SENDABLE = {kind: char for kind, char in HIDDEN.items() if kind != "surrogate"}


def badge(client, path, **query):
    return client.get(f"/badge/{path}", query, **HTTPS)


def title_of(response):
    return ET.fromstring(response.content).find(f"{SVG}title").text


def test_each_fetch_of_an_svg_badge_counts_a_view_and_shows_the_count(client):
    titles = [title_of(badge(client, "example.com/readme.svg")) for _ in range(3)]
    assert titles == ["views: 1", "views: 2", "views: 3"]
    assert named.get("example.com/readme") == 3


def test_a_key_may_hold_dots(client):
    assert badge(client, "example.com/v1.2.readme.svg").status_code == 200
    assert NamedCounter.objects.get().name == "example.com/v1.2.readme"


def test_the_badge_is_svg_that_github_s_proxy_fetches_every_time_and_any_site_may_embed(client):
    response = badge(client, "example.com/readme.svg")
    assert response["Content-Type"] == "image/svg+xml; charset=utf-8"
    assert "no-cache" in response["Cache-Control"] and "max-age=0" in response["Cache-Control"]
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "default-src 'none'" in response["Content-Security-Policy"]  # no script runs if opened directly


def test_action_get_shows_the_count_without_counting(client):
    badge(client, "example.com/readme.svg")
    assert title_of(badge(client, "example.com/readme.svg", action="get")) == "views: 1"
    assert client.head("/badge/example.com/readme.svg", **HTTPS).status_code == 200
    assert named.get("example.com/readme") == 1


def test_large_counts_are_abbreviated_and_options_change_the_look(client):
    named.create("example.com/readme", start=12_345)
    response = badge(client, "example.com/readme.svg", style="for-the-badge", label="visitors", color="orange")
    svg = ET.fromstring(response.content)
    assert svg.find(f"{SVG}title").text == "visitors: 12.3K"
    assert int(svg.get("height")) == 28
    assert "VISITORS" in response.content.decode()


def test_the_pixel_counts_and_shows_nothing(client):
    response = badge(client, "example.com/page.svg", style="pixel")
    svg = ET.fromstring(response.content)
    assert (svg.get("width"), svg.get("height")) == ("1", "1")
    assert named.get("example.com/page") == 1


def test_the_shields_endpoint_reads_without_counting(client):
    named.create("example.com/readme", start=1500)
    response = badge(client, "example.com/readme.json", label="hits", color="green")
    assert response.status_code == 200
    assert response.json() == {"schemaVersion": 1, "label": "hits", "message": "1.5K", "color": "green", "labelColor": "#555"}
    assert named.get("example.com/readme") == 1500


def test_errors_are_badges_with_the_status_that_says_why(client):
    unknown = badge(client, "example.com/nothing.json")
    assert unknown.status_code == 404 and unknown.json()["message"] == "not found"
    bad_style = badge(client, "example.com/readme.svg", style="3d")
    assert bad_style.status_code == 400 and title_of(bad_style) == "views: invalid style"
    bad_colour = badge(client, "example.com/readme.json", color="red;<script>")
    assert bad_colour.status_code == 400 and bad_colour.json()["message"].startswith("color")
    bad_name = client.get("/badge/bad%20space/readme.svg", **HTTPS)
    assert bad_name.status_code == 400
    assert not NamedCounter.objects.exists()


@pytest.mark.parametrize("char", SENDABLE.values(), ids=list(SENDABLE))
def test_a_label_that_would_not_show_as_written_is_refused_by_both_badges_naming_it(client, char):
    svg = badge(client, "example.com/readme.svg", label=f"views{char}")
    assert svg.status_code == 400 and title_of(svg) == "views: invalid label"
    endpoint = badge(client, "example.com/readme.json", label=f"views{char}")
    assert endpoint.status_code == 400
    assert endpoint.json()["message"].startswith("label must be visible text")
    assert f"U+{ord(char):04X}" in endpoint.json()["message"]
    assert not NamedCounter.objects.exists()


@pytest.mark.parametrize("parameter", ["style", "color", "labelColor", "action", "metric"])
def test_any_other_option_with_a_hidden_character_is_refused_naming_the_option(client, parameter):
    svg = badge(client, "example.com/readme.svg", **{parameter: "flat\u202e"})
    assert svg.status_code == 400 and title_of(svg) == f"views: invalid {parameter}"
    endpoint = badge(client, "example.com/readme.json", **{parameter: "flat\u202e"})
    assert endpoint.status_code == 400 and endpoint.json()["message"].startswith(f"{parameter} ")
    assert "\u202e" not in endpoint.json()["message"]  # an error never repeats the character itself


@pytest.mark.parametrize("label", VISIBLE)
def test_a_label_in_any_script_or_with_emoji_is_shown_as_written(client, label):
    svg = badge(client, "example.com/readme.svg", label=label)
    assert svg.status_code == 200 and title_of(svg) == f"{label}: 1"
    assert badge(client, "example.com/readme.json", label=label).json()["label"] == label


def test_badges_cannot_create_counters_without_limit(client, settings):
    settings.COUNTER_CREATIONS_PER_HOUR = 1
    assert badge(client, "example.com/one.svg").status_code == 200
    refused = badge(client, "example.com/two.svg")
    assert refused.status_code == 429 and title_of(refused) == "views: rate limited"
    assert badge(client, "example.com/one.svg").status_code == 200


def test_a_badge_refused_a_new_counter_says_when_to_retry_and_may_not_be_cached(client, settings):
    settings.COUNTER_CREATIONS_PER_HOUR = 1
    badge(client, "example.com/one.svg")
    for refused in (badge(client, "example.com/two.svg"), badge(client, "example.com/two.json", action="hit")):
        assert refused.status_code == 429
        assert refused["RateLimit-Policy"] == '"create";q=1;w=3600'
        remaining = re.fullmatch(r'"create";r=0;t=(\d+)', refused["RateLimit"])
        assert remaining and refused["Retry-After"] == remaining[1] and 0 < int(remaining[1]) <= 3600
        assert "no-store" in refused["Cache-Control"]


@pytest.mark.slow
def test_with_nothing_able_to_count_a_badge_answers_503_saying_when_to_retry(backend):
    """A real dyno whose database, and Redis with the Redis store, listen nowhere."""
    env = dyno_environment(
        SECRET_KEY="b" * 60,
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/h5",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0" if backend == "redis" else None,
        COUNTER_STORE=backend,
        WEB_CONCURRENCY=1,
    )
    dyno = WebDyno(env).start()
    try:
        svg, endpoint = dyno.get("/badge/example.com/readme.svg"), dyno.get("/badge/example.com/readme.json")
    finally:
        dyno.stop()
    assert svg.status_code == 503 and title_of(svg) == "views: unavailable"
    assert endpoint.status_code == 503 and endpoint.json()["message"] == "unavailable"
    for unavailable in (svg, endpoint):
        assert unavailable.headers["Retry-After"] == "5"
        assert "Retry-After" in unavailable.headers["Access-Control-Expose-Headers"]
        assert "no-store" in unavailable.headers["Cache-Control"]


def test_metric_visitors_shows_todays_unique_visitors(client):
    for address in ("198.51.100.7", "198.51.100.7", "203.0.113.9"):
        response = client.get("/badge/example.com/readme.svg", {"metric": "visitors"}, HTTP_X_FORWARDED_FOR=address, **HTTPS)
    assert title_of(response) == "visitors: 2"
    assert named.get("example.com/readme") == 3
    assert badge(client, "example.com/readme.json", metric="visitors", label="readers").json()["message"] == "2"
    assert badge(client, "example.com/readme.svg", metric="everything").status_code == 400
