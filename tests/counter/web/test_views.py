import pytest
from django.test import Client

from counter.engine.base import get_store
from counter.models import Counter
from tests.support.agents import BINGBOT, CURL, GITHUB_CAMO, GOOGLEBOT

pytestmark = pytest.mark.django_db

HTTPS = {"secure": True}
# None: no User-Agent header at all.
BOTS = {"Googlebot": GOOGLEBOT, "bingbot": BINGBOT, "curl": CURL, "an empty User-Agent": "", "no User-Agent": None}


def view_page(client):
    response = client.get("/", **HTTPS)
    assert response.status_code == 200
    return response.content.decode()


def test_page_greets_and_counts_each_view_once(client, backend):
    first = view_page(client)
    assert "Hello, world!" in first
    assert "This page was viewed <strong>1</strong> time." in first
    assert "This page was viewed <strong>2</strong> times." in view_page(client)
    assert "This page was viewed <strong>3</strong> times." in view_page(client)


def test_count_is_formatted_with_thousands_separators(client, backend):
    Counter.objects.create(name="index", views=1_234_566)
    assert "<strong>1,234,567</strong> times" in view_page(client)


def test_head_request_shows_the_count_without_counting(client, backend):
    view_page(client)
    assert client.head("/", **HTTPS).status_code == 200
    assert get_store().get("index") == 1


@pytest.mark.parametrize("agent", BOTS.values(), ids=list(BOTS))
def test_a_bot_gets_the_page_with_the_count_as_it_stands_without_adding_a_view(client, backend, agent):
    bot = Client(headers={} if agent is None else {"User-Agent": agent})
    assert "viewed <strong>0</strong> times." in bot.get("/", **HTTPS).content.decode()
    view_page(client)
    response = bot.get("/", **HTTPS)
    assert response.status_code == 200
    assert "This page was viewed <strong>1</strong> time." in response.content.decode()
    assert get_store().get("index") == 1


def test_a_page_fetched_through_githubs_image_proxy_counts(backend):
    proxy = Client(headers={"User-Agent": GITHUB_CAMO})
    assert "viewed <strong>1</strong> time." in proxy.get("/", **HTTPS).content.decode()
    assert get_store().get("index") == 1


def test_with_counter_count_bots_a_bots_view_counts(client, backend, settings):
    settings.COUNTER_COUNT_BOTS = True
    assert (
        "viewed <strong>1</strong> time."
        in Client(headers={"User-Agent": GOOGLEBOT}).get("/", **HTTPS).content.decode()
    )
    assert "viewed <strong>2</strong> times." in Client().get("/", **HTTPS).content.decode()


def test_page_is_never_cached(client):
    response = client.get("/", **HTTPS)
    assert "no-store" in response["Cache-Control"]


def test_other_methods_are_refused_and_not_counted(client):
    assert client.post("/", **HTTPS).status_code in (403, 405)
    assert client.put("/", **HTTPS).status_code == 405
    assert get_store().get("index") == 0


def test_with_no_store_able_to_count_the_page_is_a_styled_503_asking_to_retry(client, monkeypatch):
    from counter.engine.base import CounterUnavailable
    from counter.web import views

    class Unavailable:
        def hit(self, name):
            raise CounterUnavailable("both down")

    monkeypatch.setattr(views, "get_store", Unavailable)
    response = client.get("/", **HTTPS)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "Back in a moment" in response.content.decode()
    assert "/static/site." in response.content.decode()
