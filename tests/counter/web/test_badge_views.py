"""Badges of named counters served over HTTP (counter.web.badge_views): an SVG that counts each time
it is fetched and that GitHub's image proxy must fetch every time, a shields.io endpoint JSON
that only reads, and errors that are badges too, answered 200 so that GitHub's proxy and
shields.io show them."""

import base64
import re
import xml.etree.ElementTree as ET

import pytest

from counter.features import named
from counter.models import NamedCounter
from tests.counter.test_text import HIDDEN, VISIBLE
from tests.support.dyno import WebDyno, dyno_environment
from tests.support.services import free_port

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
    assert response.json() == {
        "schemaVersion": 1,
        "label": "hits",
        "message": "1.5K",
        "color": "green",
        "labelColor": "#555",
    }
    assert named.get("example.com/readme") == 1500


def test_logo_and_theme_options_reach_both_badges(client):
    named.create("example.com/readme", start=3)
    query = {"logo": "github", "logoColor": "orange", "theme": "dark", "action": "get"}
    svg = ET.fromstring(badge(client, "example.com/readme.svg", **query).content)
    (image,) = svg.iter(f"{SVG}image")
    logo = base64.b64decode(image.get("{http://www.w3.org/1999/xlink}href").removeprefix("data:image/svg+xml;base64,"))
    assert ET.fromstring(logo).get("fill") == "#ea7233"
    assert [rect.get("fill") for rect in svg.iter(f"{SVG}rect")][1:3] == ["#6e7681", "#1f6feb"]
    endpoint = badge(client, "example.com/readme.json", **query).json()
    assert (endpoint["namedLogo"], endpoint["logoColor"], endpoint["color"]) == ("github", "orange", "#1f6feb")


def test_errors_are_badges_that_show_through_github_s_proxy_and_say_what_is_wrong(client):
    # GitHub's image proxy shows a broken image for an answer other than 200, and shields.io's
    # endpoint badge says "invalid" or "inaccessible" instead of reading the JSON: every error
    # badge answers 200, the SVG naming what is wrong and why, the JSON saying isError.
    unknown = badge(client, "example.com/nothing.json")
    assert unknown.status_code == 200 and unknown.json()["message"] == "not found" and unknown.json()["isError"]
    assert title_of(badge(client, "example.com/nothing.svg", action="get")) == "views: not found"
    bad_style = badge(client, "example.com/readme.svg", style="3d")
    assert bad_style.status_code == 200 and title_of(bad_style) == "style: unknown style '3d'"
    bad_colour = badge(client, "example.com/readme.svg", color="blueviolett", style="for-the-badge")
    assert title_of(bad_colour) == "color: unknown colour 'blueviolett'"
    bad_colour = badge(client, "example.com/readme.json", color="red;<script>")
    assert bad_colour.status_code == 200 and bad_colour.json()["message"].startswith("color must be")
    assert bad_colour.json()["isError"] is True
    bad_logo = badge(client, "example.com/readme.svg", logo="nosuchbrand")
    assert title_of(bad_logo) == "logo: unknown logo 'nosuchbrand'"
    bad_name = client.get("/badge/bad%20space/readme.svg", **HTTPS)
    assert bad_name.status_code == 200 and title_of(bad_name) == "name: must be 1-64 of A-Za-z0-9_.-"
    assert not NamedCounter.objects.exists()


def test_an_error_badge_is_grey_whatever_colour_was_asked_for(client):
    svg = ET.fromstring(badge(client, "example.com/nothing.svg", action="get", color="green").content)
    assert [rect.get("fill") for rect in svg.iter(f"{SVG}rect")][2] == "#939393"
    assert badge(client, "example.com/nothing.json", color="green").json()["color"] == "lightgrey"


@pytest.mark.parametrize("char", SENDABLE.values(), ids=list(SENDABLE))
def test_a_label_that_would_not_show_as_written_is_refused_by_both_badges_naming_it(client, char):
    svg = badge(client, "example.com/readme.svg", label=f"views{char}")
    assert svg.status_code == 200 and title_of(svg) == f"label: hidden character U+{ord(char):04X}"
    endpoint = badge(client, "example.com/readme.json", label=f"views{char}")
    assert endpoint.status_code == 200 and endpoint.json()["isError"] is True
    assert endpoint.json()["message"].startswith("label must be visible text")
    assert f"U+{ord(char):04X}" in endpoint.json()["message"]
    assert not NamedCounter.objects.exists()


@pytest.mark.parametrize(
    "parameter", ["style", "color", "labelColor", "logo", "logoColor", "logoSize", "theme", "action", "metric"]
)
def test_any_other_option_with_a_hidden_character_is_refused_naming_the_option(client, parameter):
    svg = badge(client, "example.com/readme.svg", **{parameter: "flat\u202e"})
    assert svg.status_code == 200 and title_of(svg).startswith(f"{parameter}: ")
    assert "\u202e" not in title_of(svg)
    endpoint = badge(client, "example.com/readme.json", **{parameter: "flat\u202e"})
    assert endpoint.status_code == 200 and endpoint.json()["message"].startswith(f"{parameter} ")
    assert "\u202e" not in endpoint.json()["message"]  # an error never repeats the character itself
    assert not NamedCounter.objects.exists()


@pytest.mark.parametrize("label", VISIBLE)
def test_a_label_in_any_script_or_with_emoji_is_shown_as_written(client, label):
    svg = badge(client, "example.com/readme.svg", label=label)
    assert svg.status_code == 200 and title_of(svg) == f"{label}: 1"
    assert badge(client, "example.com/readme.json", label=label).json()["label"] == label


def test_badges_cannot_create_counters_without_limit(client, settings):
    settings.COUNTER_CREATIONS_PER_HOUR = 1
    assert badge(client, "example.com/one.svg").status_code == 200
    refused = badge(client, "example.com/two.svg")
    assert refused.status_code == 200 and title_of(refused) == "views: rate limited"
    assert badge(client, "example.com/one.svg").status_code == 200


def test_a_badge_refused_a_new_counter_says_when_to_retry_and_may_not_be_cached(client, settings):
    settings.COUNTER_CREATIONS_PER_HOUR = 1
    badge(client, "example.com/one.svg")
    for refused in (badge(client, "example.com/two.svg"), badge(client, "example.com/two.json", action="hit")):
        assert refused.status_code == 200
        assert refused["RateLimit-Policy"] == '"create";q=1;w=3600'
        remaining = re.fullmatch(r'"create";r=0;t=(\d+)', refused["RateLimit"])
        assert remaining and refused["Retry-After"] == remaining[1] and 0 < int(remaining[1]) <= 3600
        assert "no-store" in refused["Cache-Control"]


@pytest.mark.slow
def test_with_nothing_able_to_count_a_badge_says_unavailable_and_when_to_retry(backend):
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
    assert svg.status_code == 200 and title_of(svg) == "views: unavailable"
    assert endpoint.status_code == 200 and endpoint.json()["message"] == "unavailable" and endpoint.json()["isError"]
    for unavailable in (svg, endpoint):
        assert unavailable.headers["Retry-After"] == "5"
        assert "Retry-After" in unavailable.headers["Access-Control-Expose-Headers"]
        assert "no-store" in unavailable.headers["Cache-Control"]


def test_metric_visitors_shows_todays_unique_visitors(client):
    for address in ("198.51.100.7", "198.51.100.7", "203.0.113.9"):
        response = client.get(
            "/badge/example.com/readme.svg", {"metric": "visitors"}, HTTP_X_FORWARDED_FOR=address, **HTTPS
        )
    assert title_of(response) == "visitors: 2"
    assert named.get("example.com/readme") == 3
    assert badge(client, "example.com/readme.json", metric="visitors", label="readers").json()["message"] == "2"
    assert (
        title_of(badge(client, "example.com/readme.svg", metric="everything"))
        == "metric: must be one of views, visitors"
    )


def test_view_today_total_shows_todays_views_beside_the_total(client, clock):
    client.post(
        "/api/v1/counters",
        {"namespace": "example.com", "key": "readme", "value": 1500},
        content_type="application/json",
        **HTTPS,
    )
    assert title_of(badge(client, "example.com/readme.svg", view="today-total")) == "views: 1 / 1.5K"
    assert title_of(badge(client, "example.com/readme.svg", view="today-total", action="get")) == "views: 1 / 1.5K"
    clock["day"] = clock["day"].replace(day=clock["day"].day + 1)
    assert title_of(badge(client, "example.com/readme.svg", view="today-total")) == "views: 1 / 1.5K"
    assert badge(client, "example.com/readme.json", view="today-total").json()["message"] == "1 / 1.5K"


def test_view_today_total_does_not_go_with_visitors(client):
    response = badge(client, "example.com/readme.svg", view="today-total", metric="visitors")
    assert title_of(response).startswith("view: ")
    assert not NamedCounter.objects.exists()


def points_of(response):
    """The sparkline's points, from the path the trend badge draws of them."""
    paths = [element.get("d") for element in ET.fromstring(response.content).iter(f"{SVG}path")]
    return paths


def test_the_trend_badge_draws_the_last_days_views_without_counting_unless_asked(client, clock):
    for _ in range(3):
        badge(client, "example.com/readme.svg")
    response = client.get("/badge/example.com/readme/trend.svg", {"days": "7"}, **HTTPS)
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml; charset=utf-8"
    assert "no-cache" in response["Cache-Control"]
    assert title_of(response) == "views: 3 in the last 7 days"
    assert points_of(response)
    assert named.get("example.com/readme") == 3
    counted = client.get("/badge/example.com/readme/trend.svg", {"action": "hit"}, **HTTPS)
    assert title_of(counted) == "views: 4 in the last 30 days"
    assert named.get("example.com/readme") == 4


@pytest.mark.parametrize("days", ["6", "91", "x", "-7"])
def test_a_trend_of_too_few_or_too_many_days_is_a_badge_naming_days(client, days):
    badge(client, "example.com/readme.svg")
    response = client.get("/badge/example.com/readme/trend.svg", {"days": days}, **HTTPS)
    assert response.status_code == 200 and title_of(response).startswith("days: must be a whole number from 7 to 90")


def test_the_trend_of_an_unknown_counter_says_not_found_and_creates_nothing(client):
    response = client.get("/badge/example.com/nothing/trend.svg", **HTTPS)
    assert title_of(response).endswith("not found")
    assert not NamedCounter.objects.exists()
