"""A counter's data as a whole (counter.features.export, GET /api/v1/counters/{namespace}/{key}/export):
every day from its first to today, as JSON or CSV, at a cost that does not grow with its days,
and taken back as the history of a new counter. Each test runs with both counter stores; time is
set by the tests: days are UTC dates."""

import csv
import datetime
import io
import json

import pytest
from django.test import RequestFactory

from counter.engine.base import get_store
from counter.features import carried_history, history, named
from counter.models import NamedCounter, RateLimitWindow
from tests.support.agents import BROWSER
from tests.support.days import DAY, days_ago, hits
from tests.support.round_trips import sent_by_the_app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backend")]

HTTPS = {"secure": True}
BASE = "/api/v1/counters"


def export(client, name="site/home", query=""):
    return client.get(f"{BASE}/{name}/export{query}", **HTTPS)


def visit(name, address):
    named.hit(name, RequestFactory().get("/", HTTP_X_FORWARDED_FOR=address, HTTP_USER_AGENT=BROWSER))


def count_bots(name, day, bots):
    """Bots of a day, counted through the store under the day's bots name as views are."""
    for _ in range(bots):
        get_store().hit(history.bots_name(NamedCounter.objects.get(name=name).series, day))


def day(back, views, visitors, bots=0):
    return {"day": days_ago(back).isoformat(), "views": views, "visitors": visitors, "bots": bots}


def test_the_export_holds_the_value_and_every_day_from_the_creation_to_today(client, clock):
    clock["day"] = days_ago(3)
    token = named.create("site/home", start=50)
    for address in ("198.51.100.7", "203.0.113.9", "198.51.100.7"):
        visit("site/home", address)
    count_bots("site/home", days_ago(3), 2)
    clock["day"] = days_ago(1)
    hits("site/home", 1)
    named.reset("site/home", token, 1000)
    clock["day"] = DAY
    visit("site/home", "192.0.2.1")
    count_bots("site/home", DAY, 1)
    response = export(client)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    exported = response.json()
    created = NamedCounter.objects.get().created
    assert exported == {
        "namespace": "site",
        "key": "home",
        "value": 1001,
        "created": created.isoformat(),
        "days": [day(3, 3, 2, bots=2), day(2, 0, 0), day(1, 1, 0), day(0, 1, 1, bots=1)],
    }
    assert datetime.datetime.fromisoformat(exported["created"]) == created


def test_a_counter_created_with_a_history_exports_from_the_historys_first_day(client, clock):
    named.create("site/home", start=20, days=carried_history.parse([day(2, 7, 3, bots=1)], 20))
    hits("site/home", 2)
    assert export(client).json()["days"] == [day(2, 7, 3, bots=1), day(1, 0, 0), day(0, 2, 0)]


def test_a_counter_older_than_its_first_day_field_exports_from_the_day_it_was_created(client, clock):
    hits("site/home", 1)
    created = datetime.datetime.combine(days_ago(2), datetime.time(23, 59), datetime.UTC)
    NamedCounter.objects.update(first_day=None, created=created)
    assert [entry["day"] for entry in export(client).json()["days"]] == [
        days_ago(back).isoformat() for back in (2, 1, 0)
    ]


def test_the_export_as_csv_is_a_file_named_after_the_counter(client, clock):
    named.create("site/home.page", start=20, days=carried_history.parse([day(1, 7, 3, bots=1)], 20))
    hits("site/home.page", 2)
    response = export(client, "site/home.page", "?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="site-home.page.csv"'
    assert response["Access-Control-Allow-Origin"] == "*"
    assert list(csv.reader(io.StringIO(response.content.decode()))) == [
        ["day", "views", "visitors", "bots"],
        [days_ago(1).isoformat(), "7", "3", "1"],
        [DAY.isoformat(), "2", "0", "0"],
    ]
    assert export(client, "site/home.page", "?format=json").json()["days"][0] == day(1, 7, 3, bots=1)


@pytest.mark.parametrize("query", ["?format=xml", "?format=", "?format=CSV"])
def test_an_export_in_another_format_is_a_400(client, clock, query):
    hits("site/home", 1)
    response = export(client, query=query)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "status": 400,
        "code": "invalid_format",
        "message": "'format' must be json or csv",
    }


def test_the_export_of_an_unknown_counter_is_a_404_and_of_a_bad_name_a_400(client):
    assert export(client, "site/nothing").json()["error"]["code"] == "unknown_counter"
    assert export(client, "site/nothing", "?format=csv").status_code == 404
    assert export(client, "bad%20name/x").json()["error"]["code"] == "invalid_name"
    assert not NamedCounter.objects.exists()


def test_head_of_the_export_answers_as_get_with_no_body_and_counts_against_the_allowance(client, clock, settings):
    settings.COUNTER_API_REQUESTS_PER_MINUTE = 2
    hits("site/home", 1)
    head = client.head(f"{BASE}/site/home/export?format=csv", **HTTPS)
    assert (head.status_code, head["Content-Type"], head.content) == (200, "text/csv; charset=utf-8", b"")
    assert export(client).status_code == 200
    refused = export(client)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert named.get("site/home") == 1, "exporting counts nothing"


def test_an_export_taken_back_as_a_new_counters_history_round_trips(client, clock):
    carried = [day(400, 12, 9, bots=3), day(30, 5, 5), day(1, 8, 2, bots=8)]
    body = {"namespace": "site", "key": "home", "value": 500, "history": carried}
    assert client.post(BASE, json.dumps(body), content_type="application/json", **HTTPS).status_code == 201
    visit("site/home", "198.51.100.7")
    first = export(client).json()
    days = first["days"][:-1]
    body = {"namespace": "site", "key": "copy", "value": first["value"], "history": days}
    assert client.post(BASE, json.dumps(body), content_type="application/json", **HTTPS).status_code == 201
    second = export(client, "site/copy").json()
    assert second["value"] == first["value"] == 501
    assert second["days"] == [*days, {"day": DAY.isoformat(), "views": 0, "visitors": 0, "bots": 0}]
    assert [entry for entry in days if entry["views"] or entry["bots"]] == carried
    assert len(days) == 400, "every day from the first to yesterday"


def test_an_exports_queries_and_round_trips_do_not_grow_with_its_days(client, clock, settings, backend):
    """With the database store: the counter's row, one query for the total and every day's views
    and bots, and two for the visitors (counts, and today's rows). With Redis: a call each for the
    rate limit, the counts and the visitors, and queries for the row, the names Redis does not hold
    and the visitors' counts. The rate limit's statements (database store) are left out."""
    for back in (1, 365, carried_history.MAX_DAYS):
        days = carried_history.parse([day(back, 3, 2, bots=1)], 3)
        named.create(f"site/from-{back}", start=3, days=days)
        hits(f"site/from-{back}", 1)  # in Redis: the days come from both Redis and the database
    with sent_by_the_app(settings) as sent:
        export(client, "site/from-1")  # Redis loads the scripts on their first call
        costs, bodies = {}, {}
        for back in (1, 365, carried_history.MAX_DAYS):
            queries, commands, response = sent(
                lambda: export(client, f"site/from-{back}"), leave_out=RateLimitWindow._meta.db_table
            )
            costs[back], bodies[back] = (queries, commands), response.json()
    assert costs[1] == costs[365] == costs[carried_history.MAX_DAYS]
    assert costs[1] == ((3, 3) if backend == "redis" else (4, 0))
    assert [len(bodies[back]["days"]) for back in (1, 365, carried_history.MAX_DAYS)] == [2, 366, 3661]
    assert bodies[carried_history.MAX_DAYS]["days"][0] == day(carried_history.MAX_DAYS, 3, 2, bots=1)
    assert bodies[carried_history.MAX_DAYS]["days"][-1] == day(0, 1, 0)
    assert bodies[carried_history.MAX_DAYS]["value"] == 4
