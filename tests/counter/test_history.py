"""Views per day of named counters (counter.history), their stats page and CSV (counter.stats),
and the chart drawn for them (counter.charts). Time is set by the tests: days are UTC dates."""

import csv
import datetime
import io
import json
import xml.etree.ElementTree as ET

import pytest

from counter import charts, history, named
from counter.engine.base import get_store
from counter.models import Counter, NamedCounter

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backend")]

HTTPS = {"secure": True}
SVG = "{http://www.w3.org/2000/svg}"
DAY = datetime.date(2026, 11, 24)


@pytest.fixture
def clock(monkeypatch):
    """The UTC day it is, as the test sets it."""
    now = {"day": DAY}
    monkeypatch.setattr(history, "today", lambda: now["day"])
    return now


def hits(name, count):
    for _ in range(count):
        named.registry.hit(name)


def series(name):
    return NamedCounter.objects.get(name=name).series


def test_each_view_is_counted_on_its_day_across_midnight(clock):
    hits("site/home", 3)
    clock["day"] = DAY + datetime.timedelta(days=1)
    hits("site/home", 2)
    days = history.views_per_day(series("site/home"), days=3)
    assert days == [(DAY - datetime.timedelta(days=1), 0), (DAY, 3), (DAY + datetime.timedelta(days=1), 2)]
    assert named.registry.get("site/home") == 5


def test_days_are_kept_as_durably_as_the_counts(clock, backend):
    hits("site/home", 4)
    if backend == "redis":
        get_store().flush()
    assert Counter.objects.get(name=history.day_name(series("site/home"), DAY)).views == 4


def test_a_reset_changes_the_total_not_the_days(client, clock):
    token = json.loads(client.post("/api/v1/counters", {"namespace": "site", "key": "home"},
                                   content_type="application/json", **HTTPS).content)["token"]
    hits("site/home", 3)
    named.registry.reset("site/home", token)
    assert history.views_per_day(series("site/home"), days=1) == [(DAY, 3)]


def test_a_counter_created_again_after_deletion_starts_a_new_history(client, clock):
    created = client.post("/api/v1/counters", {"namespace": "site", "key": "home"},
                          content_type="application/json", **HTTPS).json()
    hits("site/home", 3)
    old_series = series("site/home")
    named.registry.delete("site/home", created["token"])
    hits("site/home", 1)
    assert series("site/home") != old_series
    assert history.views_per_day(series("site/home"), days=1) == [(DAY, 1)]


def test_the_stats_page_shows_the_total_today_and_a_chart_of_the_last_30_days(client, clock):
    named.registry.create("site/home", start=1000)
    clock["day"] = DAY - datetime.timedelta(days=2)
    hits("site/home", 2)
    clock["day"] = DAY
    hits("site/home", 3)
    response = client.get("/stats/site/home/", **HTTPS)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<h1>site/home</h1>" in page
    assert "<strong>1,005</strong> views in all, 3 today from 0 visitors." in page  # counted without a request
    chart = ET.fromstring(page[page.index("<svg"):page.index("</svg>") + 6])
    bars = chart.findall(f"{SVG}rect")
    assert len(bars) == history.DAYS_SHOWN
    assert bars[-1].find(f"{SVG}title").text == f"{DAY.isoformat()}: 3"
    assert bars[-3].find(f"{SVG}title").text == f"{(DAY - datetime.timedelta(days=2)).isoformat()}: 2"
    assert "style=" not in page  # the CSP allows styles from the stylesheet only
    assert '<a href="views.csv">' in page


def test_the_csv_lists_views_per_day_oldest_first(client, clock):
    hits("site/home", 2)
    response = client.get("/stats/site/home/views.csv?days=3", **HTTPS)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="site-home-views.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["day", "views", "visitors"],
        [(DAY - datetime.timedelta(days=2)).isoformat(), "0", "0"],
        [(DAY - datetime.timedelta(days=1)).isoformat(), "0", "0"],
        [DAY.isoformat(), "2", "0"],
    ]
    assert len(list(csv.reader(io.StringIO(client.get("/stats/site/home/views.csv", **HTTPS).content.decode())))) == 31


@pytest.mark.parametrize("days", ["0", "367", "many"])
def test_the_csv_refuses_a_span_outside_a_year(client, clock, days):
    hits("site/home", 1)
    response = client.get(f"/stats/site/home/views.csv?days={days}", **HTTPS)
    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/stats/site/nothing/", "/stats/site/nothing/views.csv", "/stats/bad%20name/x/"])
def test_stats_of_an_unknown_counter_are_the_styled_404(client, path):
    response = client.get(path, **HTTPS)
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_the_chart_draws_bars_in_proportion_with_the_tallest_full_height():
    points = [(DAY + datetime.timedelta(days=n), value) for n, value in enumerate([0, 5, 10, 2])]
    chart = ET.fromstring(charts.bar_chart(points, "Views <per> day"))
    assert chart.get("role") == "img" and chart.get("aria-label") == "Views <per> day"
    assert chart.find(f"{SVG}title").text == "Views <per> day"
    heights = [float(bar.get("height")) for bar in chart.findall(f"{SVG}rect")]
    full = charts.HEIGHT - charts.MARGIN_BOTTOM - charts.MARGIN_TOP
    assert heights[0] == 0 and heights[2] == pytest.approx(full)
    assert heights[1] == pytest.approx(full / 2) and heights[3] == pytest.approx(full / 5)
