"""Known crawlers (counter.features.bots): shown badges and counts without adding views or visitors, and
counted per day on named counters as bots; the image proxies that fetch for readers count as those
readers, and with COUNTER_COUNT_BOTS everyone counts."""

import datetime
import threading
import time
import xml.etree.ElementTree as ET

import pytest
from crawlerdetect import CrawlerDetect
from django.test import Client

from counter.features import bots, history, named
from counter.models import NamedCounter
from tests.support.agents import BINGBOT, BROWSER, CURL, GITHUB_CAMO, GMAIL_PROXY, GOOGLEBOT, SLACKBOT, YAHOO_MAIL_PROXY
from tests.support.days import DAY

HTTPS = {"secure": True}
SVG = "{http://www.w3.org/2000/svg}"
# None: no User-Agent header at all.
BOTS = {
    "Googlebot": GOOGLEBOT,
    "bingbot": BINGBOT,
    "curl": CURL,
    "Slack's link preview": SLACKBOT,
    "an empty User-Agent": "",
    "a blank User-Agent": "  ",
    "no User-Agent": None,
}
READER_PROXIES = {
    "GitHub's image proxy": GITHUB_CAMO,
    "Gmail's image proxy": GMAIL_PROXY,
    "Yahoo Mail's image proxy": YAHOO_MAIL_PROXY,
}
ADDRESS = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
OTHER_ADDRESS = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}


def as_agent(agent):
    """A test client sending ``agent`` as its User-Agent, or none if it is None."""
    return Client(headers={} if agent is None else {"User-Agent": agent})


def title_of(response):
    return ET.fromstring(response.content).find(f"{SVG}title").text


def today_of(name):
    """(views, visitors, bots) of ``name`` today."""
    series = NamedCounter.objects.get(name=name).series
    figures = named.today(name)
    return figures["views"], figures["visitors"], history.bots_per_day(series, days=1)[0][1]


# -- who is a bot ---------------------------------------------------------------------------------


@pytest.mark.parametrize("agent", BOTS.values(), ids=list(BOTS))
def test_known_crawlers_scripts_and_requests_without_a_user_agent_are_bots(agent):
    meta = {} if agent is None else {"HTTP_USER_AGENT": agent}
    assert bots.uncounted(meta)


@pytest.mark.parametrize("agent", [BROWSER, *READER_PROXIES.values()], ids=["a browser", *READER_PROXIES])
def test_browsers_and_the_image_proxies_that_fetch_for_readers_are_not_bots(agent):
    assert not bots.is_bot(agent)
    assert not bots.uncounted({"HTTP_USER_AGENT": agent})


@pytest.mark.parametrize("agent", READER_PROXIES.values(), ids=list(READER_PROXIES))
def test_the_reader_proxies_are_excepted_from_crawlerdetects_list(agent):
    assert CrawlerDetect(user_agent=agent).is_crawler()
    assert not bots.is_bot(agent)


def test_a_user_agent_longer_than_any_browsers_is_a_bot_decided_without_matching_or_keeping_it():
    """crawlerdetect takes seconds over 8 KB of letters, the most gunicorn lets a header carry."""
    kept = bots.listed.cache_info().currsize
    started = time.perf_counter()
    assert bots.is_bot("Mozilla/5.0 " + "a" * 8000)
    assert time.perf_counter() - started < 0.05
    assert bots.listed.cache_info().currsize == kept
    assert not bots.is_bot(BROWSER + " " + "a" * (bots.MAX_AGENT - len(BROWSER) - 1))


def test_verdicts_are_kept_for_a_bounded_number_of_user_agents():
    for number in range(bots.CACHED_AGENTS + 100):
        bots.is_bot(f"{BROWSER} build/{number}")
    assert bots.listed.cache_info().currsize == bots.CACHED_AGENTS
    assert bots.listed.cache_info().misses == bots.CACHED_AGENTS + 100


def test_threads_checking_at_once_each_get_the_verdict_on_their_own_user_agent():
    """gunicorn serves a worker's requests on several threads, each checking its own User-Agent."""
    wrong = []

    def check(thread):
        for number in range(200):
            agent, bot = (
                (f"Googlebot/{thread}.{number}", True) if number % 2 else (f"{BROWSER} build/{thread}.{number}", False)
            )
            if bots.is_bot(agent) != bot:
                wrong.append(agent)

    threads = [threading.Thread(target=check, args=(thread,)) for thread in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert bots.listed.cache_info().misses == 8 * 200


# -- named counters -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("backend", "clock")
@pytest.mark.parametrize("agent", BOTS.values(), ids=list(BOTS))
def test_a_bots_badge_fetch_shows_the_count_and_counts_a_bot_not_a_view_or_a_visitor(agent):
    reader = as_agent(BROWSER).get("/badge/example.com/readme.svg", **ADDRESS, **HTTPS)
    fetched = as_agent(agent).get("/badge/example.com/readme.svg", **OTHER_ADDRESS, **HTTPS)
    assert title_of(reader) == "views: 1"
    assert fetched.status_code == 200 and title_of(fetched) == "views: 1"
    assert named.get("example.com/readme") == 1
    assert today_of("example.com/readme") == (1, 1, 1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("backend", "clock")
@pytest.mark.parametrize("agent", BOTS.values(), ids=list(BOTS))
def test_a_bots_api_hit_answers_the_value_and_counts_a_bot_not_a_view_or_a_visitor(agent):
    path = "/api/v1/counters/example.com/home/hit"
    assert as_agent(BROWSER).post(path, **ADDRESS, **HTTPS).json()["value"] == 1
    hit = as_agent(agent).post(path, **OTHER_ADDRESS, **HTTPS)
    assert hit.status_code == 200 and hit.json()["value"] == 1
    detail = as_agent(BROWSER).get("/api/v1/counters/example.com/home", **HTTPS).json()
    assert detail["value"] == 1 and detail["today"] == {"views": 1, "visitors": 1, "bots": 1}
    assert today_of("example.com/home") == (1, 1, 1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("backend", "clock")
def test_a_badge_a_crawler_fetches_first_shows_0_and_counts_its_first_reader():
    crawled = as_agent(GOOGLEBOT).get("/badge/example.com/new.svg", **HTTPS)
    assert crawled.status_code == 200 and title_of(crawled) == "views: 0"
    assert title_of(as_agent(BROWSER).get("/badge/example.com/new.svg", **HTTPS)) == "views: 1"
    assert today_of("example.com/new") == (1, 1, 1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("backend")
def test_crawlers_create_counters_within_the_same_allowance_as_anyone(settings):
    settings.COUNTER_CREATIONS_PER_HOUR = 1
    assert as_agent(GOOGLEBOT).get("/badge/example.com/one.svg", **HTTPS).status_code == 200
    refused = as_agent(GOOGLEBOT).get("/badge/example.com/two.svg", **HTTPS)
    assert "Retry-After" in refused and title_of(refused) == "views: rate limited"  # a 200: GitHub shows no other
    assert list(NamedCounter.objects.values_list("name", flat=True)) == ["example.com/one"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("backend", "clock")
@pytest.mark.parametrize("agent", READER_PROXIES.values(), ids=list(READER_PROXIES))
def test_the_image_proxies_that_fetch_for_readers_count_each_fetch_as_a_view(agent):
    proxy = as_agent(agent)
    titles = [title_of(proxy.get("/badge/example.com/readme.svg", **HTTPS)) for _ in range(3)]
    assert titles == ["views: 1", "views: 2", "views: 3"]
    assert today_of("example.com/readme") == (3, 1, 0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("backend", "clock")
def test_with_counter_count_bots_bots_count_as_views_and_visitors_like_anyone(settings):
    settings.COUNTER_COUNT_BOTS = True
    assert title_of(as_agent(GOOGLEBOT).get("/badge/example.com/readme.svg", **ADDRESS, **HTTPS)) == "views: 1"
    assert as_agent(CURL).post("/api/v1/counters/example.com/readme/hit", **ADDRESS, **HTTPS).json()["value"] == 2
    assert title_of(as_agent(None).get("/badge/example.com/readme.svg", **OTHER_ADDRESS, **HTTPS)) == "views: 3"
    assert today_of("example.com/readme") == (3, 3, 0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("backend", "clock")
def test_bots_are_never_visitors_whatever_their_address(client):
    for number, agent in enumerate([GOOGLEBOT, BINGBOT, CURL, "", None] * 2):
        address = {"HTTP_X_FORWARDED_FOR": f"198.51.100.{number}"}
        as_agent(agent).get("/badge/example.com/readme.svg", {"metric": "visitors"}, **address, **HTTPS)
    assert (
        title_of(client.get("/badge/example.com/readme.svg", {"metric": "visitors", "action": "get"}, **HTTPS))
        == "visitors: 0"
    )
    assert today_of("example.com/readme") == (0, 0, 10)
    assert history.bots_per_day(NamedCounter.objects.get().series, days=2) == [
        (DAY - datetime.timedelta(days=1), 0),
        (DAY, 10),
    ]
