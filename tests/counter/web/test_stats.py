"""The stats page and CSV of named counters (counter.web.stats), the chart drawn for them
(counter.features.charts) and the snippets offered to paste (counter.features.snippets): what they show, what a year
of days costs, and each client's allowance. Time is set by the tests: days are UTC dates."""

import csv
import datetime
import io
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from django.templatetags.static import static

from counter.features import charts, history, named
from counter.models import RateLimitWindow
from tests.support.days import DAY, bot_hits, hits
from tests.support.round_trips import sent_by_the_app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backend")]

HTTPS = {"secure": True}
SVG = "{http://www.w3.org/2000/svg}"


def csv_rows(response):
    return list(csv.reader(io.StringIO(response.content.decode())))


class SnippetsSection(HTMLParser):
    """A stats page as a browser reads its snippets: the text of each snippet's code (entities
    decoded), the attributes of the elements that load something or copy, and every script
    element of the page with what it holds."""

    def __init__(self, page):
        super().__init__()
        self.code, self.elements, self.scripts = {}, [], []
        self._code_id = self._script = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "code":
            self._code_id = attrs["id"]
            self.code[self._code_id] = ""
        elif tag == "script":
            self._script = [attrs, ""]
            self.scripts.append(self._script)
        elif tag in ("img", "source", "picture", "button") or "data-value-from" in attrs:
            self.elements.append((tag, attrs))

    def handle_endtag(self, tag):
        if tag == "code":
            self._code_id = None
        elif tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._code_id:
            self.code[self._code_id] += data
        if self._script:
            self._script[1] += data

    def all(self, tag):
        return [attrs for element, attrs in self.elements if element == tag]

    def carrying(self, attribute):
        return [attrs for _, attrs in self.elements if attribute in attrs]


def stats_page(client, path="/stats/example.com/read.me/", **request):
    response = client.get(path, **(request or HTTPS))
    assert response.status_code == 200
    return response.content.decode()


def test_the_stats_page_shows_the_total_today_and_a_chart_of_the_last_30_days(client, clock):
    named.create("site/home", start=1000)
    clock["day"] = DAY - datetime.timedelta(days=2)
    hits("site/home", 2)
    clock["day"] = DAY
    hits("site/home", 3)
    response = client.get("/stats/site/home/", **HTTPS)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<h1>site/home</h1>" in page
    assert "<strong>1,005</strong> views in all, 3 today from 0 visitors." in page  # counted without a request
    chart = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])
    bars = chart.findall(f"{SVG}rect")
    assert len(bars) == history.DAYS_SHOWN
    assert bars[-1].find(f"{SVG}title").text == f"{DAY.isoformat()}: 3"
    assert bars[-3].find(f"{SVG}title").text == f"{(DAY - datetime.timedelta(days=2)).isoformat()}: 2"
    assert "style=" not in page  # the CSP allows styles from the stylesheet only
    assert '<a href="views.csv">' in page


def test_the_stats_page_shows_the_bots_of_each_day_beside_its_views_and_visitors_in_the_table_and_chart(client, clock):
    """Known crawlers' requests (counter.features.bots) are stacked on the day's bar, in a colour of their own
    named by a key, and have a column of the table."""
    clock["day"] = DAY - datetime.timedelta(days=1)
    bot_hits("site/home", 5)
    clock["day"] = DAY
    hits("site/home", 3)
    bot_hits("site/home", 1)
    page = client.get("/stats/site/home/", **HTTPS).content.decode()
    assert "<strong>3</strong> views in all, 3 today from 0 visitors." in page
    assert '<th scope="col">Bots</th>' in page
    assert f"<tr><td>{DAY.isoformat()}</td><td>3</td><td>0</td><td>1</td></tr>" in page
    assert f"<tr><td>{(DAY - datetime.timedelta(days=1)).isoformat()}</td><td>0</td><td>0</td><td>5</td></tr>" in page
    chart = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + 6])
    views = chart.findall(f"{SVG}rect[@class='bar']")
    stacked = chart.findall(f"{SVG}rect[@class='bar bots']")
    assert len(views) == history.DAYS_SHOWN
    assert [bar.find(f"{SVG}title").text for bar in stacked] == [
        f"{(DAY - datetime.timedelta(days=1)).isoformat()}: 5 bots",
        f"{DAY.isoformat()}: 1 bot",
    ]
    today, today_bots = views[-1], stacked[-1]
    assert float(today_bots.get("y")) + float(today_bots.get("height")) == pytest.approx(float(today.get("y")))
    assert float(stacked[0].get("height")) == pytest.approx(charts.HEIGHT - charts.MARGIN_BOTTOM - charts.MARGIN_TOP)
    assert [text.text for text in chart.find(f"{SVG}text[@class='tick key']")] == ["views", "bots"]


def test_the_csv_lists_views_visitors_and_bots_per_day_oldest_first(client, clock):
    clock["day"] = DAY - datetime.timedelta(days=1)
    bot_hits("site/home", 4)
    clock["day"] = DAY
    hits("site/home", 2)
    bot_hits("site/home", 1)
    response = client.get("/stats/site/home/views.csv?days=3", **HTTPS)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="site-home-views.csv"' in response["Content-Disposition"]
    rows = csv_rows(response)
    assert rows == [
        ["day", "views", "visitors", "bots"],
        [(DAY - datetime.timedelta(days=2)).isoformat(), "0", "0", "0"],
        [(DAY - datetime.timedelta(days=1)).isoformat(), "0", "0", "4"],
        [DAY.isoformat(), "2", "0", "1"],
    ]
    assert len(csv_rows(client.get("/stats/site/home/views.csv", **HTTPS))) == 31


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


def test_a_years_csv_costs_the_same_queries_and_redis_round_trips_as_a_days(client, clock, settings, backend):
    """The days are read together, whatever ``?days`` asks for. With the database store: the
    counter's row, the views and bots, the visitors' counts and today's visitor rows. With Redis: a
    call each for the rate limit, the views and bots, and the visitors, and at most the row, the
    days Redis does not hold and the visitors' counts from the database. The rate limit's own statements (with the
    database store) are left out: one request in a hundred also clears its old windows."""
    clock["day"] = DAY - datetime.timedelta(days=1)
    hits("site/home", 2)  # in Redis: the days of a span come from both Redis and the database
    bot_hits("site/home", 1)
    clock["day"] = DAY
    with sent_by_the_app(settings) as sent:
        client.get("/stats/site/home/views.csv?days=1", **HTTPS)  # Redis loads the scripts on their first call
        costs, bodies = {}, {}
        for days in (1, 30, 366):
            queries, commands, response = sent(
                lambda: client.get(f"/stats/site/home/views.csv?days={days}", **HTTPS),
                leave_out=RateLimitWindow._meta.db_table,
            )
            costs[days], bodies[days] = (queries, commands), csv_rows(response)
        page = sent(lambda: client.get("/stats/site/home/", **HTTPS), leave_out=RateLimitWindow._meta.db_table)
    assert costs[1] == costs[30] == costs[366]
    queries, commands = costs[366]
    assert queries <= 4 and commands == (3 if backend == "redis" else 0)
    assert page[0] <= 6 and page[1] == (4 if backend == "redis" else 0), "30 days, and the total"
    assert [len(bodies[days]) for days in (1, 30, 366)] == [2, 31, 367]
    assert bodies[366][-2:] == [
        [(DAY - datetime.timedelta(days=1)).isoformat(), "2", "0", "1"],
        [DAY.isoformat(), "0", "0", "0"],
    ]
    assert bodies[366][1] == [(DAY - datetime.timedelta(days=365)).isoformat(), "0", "0", "0"]


def test_stats_beyond_a_clients_allowance_get_a_429_saying_when_to_retry(client, clock, settings):
    """The page and its CSV share one allowance per client address and minute
    (COUNTER_STATS_REQUESTS_PER_MINUTE); every answer announces the policy and what is left."""
    settings.COUNTER_STATS_REQUESTS_PER_MINUTE = 2
    hits("site/home", 1)
    address = {"HTTP_X_FORWARDED_FOR": "198.51.100.7", **HTTPS}
    first = client.get("/stats/site/home/", **address)
    second = client.get("/stats/site/home/views.csv?days=366", **address)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first["RateLimit-Policy"] == second["RateLimit-Policy"] == '"stats";q=2;w=60'
    assert first["RateLimit"].startswith('"stats";r=1;t=') and second["RateLimit"].startswith('"stats";r=0;t=')
    page, csv_file = client.get("/stats/site/home/", **address), client.get("/stats/site/home/views.csv", **address)
    for refused in (page, csv_file):
        assert refused.status_code == 429
        assert 1 <= int(refused["Retry-After"]) <= 60
        assert refused["RateLimit-Policy"] == '"stats";q=2;w=60' and refused["RateLimit"].startswith('"stats";r=0;t=')
        assert "no-cache" in refused["Cache-Control"]
    message = f"At most 2 stats requests per 60 s from one address; try again in {page['Retry-After']} s."
    assert page["Content-Type"].startswith("text/html")
    assert "<h1>Too many requests</h1>" in page.content.decode() and message in page.content.decode()
    assert csv_file["Content-Type"].startswith("text/plain")
    assert csv_file.content.decode().startswith("At most 2 stats requests per 60 s from one address; try again in ")
    assert client.get("/stats/site/home/", HTTP_X_FORWARDED_FOR="203.0.113.9", **HTTPS).status_code == 200, (
        "another client's own allowance"
    )


ROUTED = {"HTTP_HOST": "example.herokuapp.com", "HTTP_X_FORWARDED_PROTO": "https"}
SNIPPETS = {
    "snippet-markdown": "[![views](https://example.herokuapp.com/badge/example.com/read.me.svg)]"
    "(https://example.herokuapp.com/stats/example.com/read.me/)",
    "snippet-html": """\
<a href="https://example.herokuapp.com/stats/example.com/read.me/">
  <picture>
    <source media="(prefers-color-scheme: dark)" srcset="https://example.herokuapp.com/badge/example.com/read.me.svg?theme=dark">
    <img src="https://example.herokuapp.com/badge/example.com/read.me.svg" alt="views">
  </picture>
</a>""",
    "snippet-javascript": """\
<span id="views"></span>
<script>
  fetch("https://example.herokuapp.com/api/v1/counters/example.com/read.me/hit", {method: "POST"})
    .then((response) => response.json())
    .then((counter) => { document.getElementById("views").textContent = counter.value; });
</script>""",
}


def test_the_stats_page_offers_markdown_html_and_javascript_with_the_sites_https_urls(client, settings):
    """Heroku's router reaches the app over plain HTTP and says in X-Forwarded-Proto that the
    visitor used HTTPS: the snippets' URLs are the ones the visitor's browser used."""
    settings.ALLOWED_HOSTS = ["example.herokuapp.com"]
    named.create("example.com/read.me")
    assert SnippetsSection(stats_page(client, **ROUTED)).code == SNIPPETS


def test_the_snippets_are_shown_as_text_and_never_run_on_the_page(client):
    named.create("example.com/read.me")
    page = stats_page(client)
    assert (
        '<pre><code id="snippet-html">&lt;a href=&quot;https://testserver/stats/example.com/read.me/&quot;&gt;\n'
        in page
    )
    assert "&lt;script&gt;\n  fetch(&quot;https://testserver/api/v1/counters/example.com/read.me/hit&quot;" in page
    snippets = SnippetsSection(page)
    assert snippets.scripts == [[{"src": static("snippets.js"), "defer": None}, ""]], (
        "no inline script, which the CSP blocks"
    )
    assert len(snippets.all("picture")) == 1 and len(snippets.all("source")) == 1, "only the preview's"
    assert "style=" not in page


def test_the_previews_read_the_badges_and_the_value_without_counting(client):
    named.create("example.com/read.me", start=41)
    snippets = SnippetsSection(stats_page(client))
    images, [source], [value] = snippets.all("img"), snippets.all("source"), snippets.carrying("data-value-from")
    assert [image["src"] for image in images] == ["/badge/example.com/read.me.svg?action=get"] * 2
    assert all(image["alt"].endswith("views of example.com/read.me") for image in images)
    assert source == {
        "media": "(prefers-color-scheme: dark)",
        "srcset": "/badge/example.com/read.me.svg?theme=dark&action=get",
    }
    assert value["data-value-from"] == "/api/v1/counters/example.com/read.me"
    loaded = [client.get(url, **HTTPS) for url in (images[0]["src"], source["srcset"], value["data-value-from"])]
    assert [response.status_code for response in loaded] == [200, 200, 200]
    assert loaded[2].json()["value"] == 41
    assert named.get("example.com/read.me") == 41
    assert named.today("example.com/read.me") == {"views": 0, "visitors": 0, "bots": 0}


def test_loading_the_stats_page_counts_no_view(client):
    named.create("example.com/read.me", start=7)
    hits("example.com/read.me", 2)
    for _ in range(3):
        stats_page(client)
    assert named.get("example.com/read.me") == 9
    assert named.today("example.com/read.me") == {"views": 2, "visitors": 0, "bots": 0}


def test_each_copy_button_names_its_snippet_and_stays_hidden_until_the_script_can_copy(client):
    named.create("example.com/read.me")
    page = stats_page(client)
    snippets = SnippetsSection(page)
    buttons = snippets.all("button")
    assert [button["data-copies"] for button in buttons] == list(snippets.code) == list(SNIPPETS)
    assert all(button["type"] == "button" and "hidden" in button for button in buttons)
    for language in ("Markdown", "HTML", "JavaScript"):
        assert (
            f'<span class="copy-state">Copy</span><span class="visually-hidden"> the {language} snippet</span></button>'
            in page
        )
