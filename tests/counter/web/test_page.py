"""The home page's fast path (counter.web.page): GET / answered in front of Django, with exactly the
answer Django's whole stack gives but for the count, and everything else left to Django."""

import io
import re
import sys
from types import SimpleNamespace

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started

from counter.engine.base import CounterUnavailable, get_store
from counter.features import page_image
from counter.web import page
from herokuapp.request_id import current_request_id
from tests.support.agents import BINGBOT, BROWSER, CURL, GITHUB_CAMO, GOOGLEBOT

pytestmark = pytest.mark.django_db(transaction=True)

NUMBER = re.compile(rb"<strong>[\d,]+</strong>")


@pytest.fixture
def app():
    """A fresh fast path around a fresh Django handler, as a worker has after the fork."""
    return page.CounterPage(WSGIHandler())


@pytest.fixture
def django_requests():
    """How many requests reached Django's own handler."""
    seen = []

    def count(**kwargs):
        seen.append(kwargs["environ"]["PATH_INFO"])

    request_started.connect(count)
    yield seen
    request_started.disconnect(count)


def call(app, path="/", method="GET", https=True, host="localhost", request_id="req-1", **headers):
    """Call a WSGI application as gunicorn does behind Heroku's router, with ``headers`` added (None
    leaves one out), for a reader's browser unless ``user_agent`` says otherwise; returns (status,
    headers, body)."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "HTTP_HOST": host,
        "HTTP_X_REQUEST_ID": request_id,
        "HTTP_X_FORWARDED_FOR": "203.0.113.7",
        "HTTP_USER_AGENT": BROWSER,
    }
    if https:
        environ["HTTP_X_FORWARDED_PROTO"] = "https"
    environ.update({f"HTTP_{name.upper()}": value for name, value in headers.items()})
    environ = {name: value for name, value in environ.items() if value is not None}
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer.update(status=status, headers=response_headers)

    response = app(environ, start_response)
    try:
        body = b"".join(response)
    finally:
        getattr(response, "close", lambda: None)()
    return answer["status"], answer["headers"], body


def without_per_response_headers(headers):
    return sorted((name, value) for name, value in headers if name not in {"Expires", "Content-Length"})


def test_answers_as_djangos_whole_stack_does_but_for_the_count(app, backend):
    call(app.django)  # Django alone counts views 1 and 2
    status, headers, body = call(app.django)
    call(app)  # the first view in this process: the fast path asks Django for its prototypes
    fast_status, fast_headers, fast_body = call(app)
    assert fast_status == status == "200 OK"
    assert without_per_response_headers(fast_headers) == without_per_response_headers(headers)
    assert {name for name, _ in fast_headers} >= {"Expires", "Content-Length", "X-Request-Id"}
    assert b"This page was viewed <strong>4</strong> times." in fast_body
    assert NUMBER.sub(b"N", fast_body) == NUMBER.sub(b"N", body)
    assert dict(fast_headers)["Content-Length"] == str(len(fast_body))


def test_expires_is_the_second_the_response_is_sent(app, backend, monkeypatch):
    clock = [1_800_000_000.25]
    monkeypatch.setattr("counter.web.page.time.time", lambda: clock[0])
    assert dict(call(app)[1])["Expires"] == "Fri, 15 Jan 2027 08:00:00 GMT"
    clock[0] += 0.5
    assert dict(call(app)[1])["Expires"] == "Fri, 15 Jan 2027 08:00:00 GMT"
    clock[0] += 0.5
    assert dict(call(app)[1])["Expires"] == "Fri, 15 Jan 2027 08:00:01 GMT"


def test_each_view_is_counted_once_without_passing_through_django(app, backend, django_requests):
    shown = [call(app)[2] for _ in range(4)]
    for number, body in enumerate(shown, start=1):
        assert f"<strong>{number}</strong> time{'s' if number > 1 else ''}.".encode() in body
    assert get_store().get("index") == 4
    prototypes_rendered = len(django_requests)
    assert prototypes_rendered == 2  # the singular and the plural page, once per process
    call(app)
    assert len(django_requests) == prototypes_rendered


def test_the_first_view_reads_one_time_not_one_times(app, backend):
    assert b"This page was viewed <strong>1</strong> time." in call(app)[2]
    assert b"This page was viewed <strong>2</strong> times." in call(app)[2]


@pytest.mark.parametrize(
    "agent",
    [GOOGLEBOT, BINGBOT, CURL, "", None],
    ids=["Googlebot", "bingbot", "curl", "an empty User-Agent", "no User-Agent"],
)
def test_a_bot_gets_the_page_with_the_count_as_it_stands_without_passing_through_django(
    app, backend, django_requests, agent
):
    assert b"This page was viewed <strong>0</strong> times." in call(app, user_agent=agent)[2]
    call(app)
    prototypes_rendered = len(django_requests)
    status, headers, body = call(app, user_agent=agent)
    assert status == "200 OK" and dict(headers)["Content-Length"] == str(len(body))
    assert b"This page was viewed <strong>1</strong> time." in body
    assert get_store().get("index") == 1
    assert len(django_requests) == prototypes_rendered


def test_with_counter_count_bots_a_bots_view_counts_on_the_fast_path(app, backend, settings):
    settings.COUNTER_COUNT_BOTS = True
    assert b"This page was viewed <strong>1</strong> time." in call(app, user_agent=GOOGLEBOT)[2]
    assert b"This page was viewed <strong>2</strong> times." in call(app, user_agent=CURL)[2]
    assert get_store().get("index") == 2


def test_github_camo_counts_on_the_fast_path(app, backend):
    assert b"This page was viewed <strong>1</strong> time." in call(app, user_agent=GITHUB_CAMO)[2]


def test_a_host_django_refuses_gets_its_400_and_is_not_counted(app, backend):
    status, _, body = call(app, host="evil.example")
    assert status.startswith("400 ")
    assert get_store().get("index") == 0


def test_plain_http_is_redirected_by_django_and_not_counted(app, backend):
    status, headers, _ = call(app, https=False)
    assert status.startswith("301 ")
    assert dict(headers)["Location"] == "https://localhost/"
    assert get_store().get("index") == 0


def test_head_and_other_pages_are_left_to_django(app, backend, django_requests):
    call(app)
    call(app, method="HEAD")
    assert get_store().get("index") == 1
    assert call(app, "/health/live")[0] == "200 OK"
    assert call(app, "/nowhere")[0].startswith("404 ")
    assert django_requests[-3:] == ["/", "/health/live", "/nowhere"]


def test_head_announces_the_length_get_would_send(app, backend):
    _, get_headers, get_body = call(app)
    _, head_headers, _ = call(app, method="HEAD")
    assert int(dict(head_headers)["Content-Length"]) == len(get_body) == int(dict(get_headers)["Content-Length"])


def test_a_body_without_a_length_is_left_to_django_which_refuses_it_uncounted(app, backend):
    status, _, _ = call(app, transfer_encoding="chunked")
    assert status.startswith("411 ")
    assert get_store().get("index") == 0
    assert call(app)[0] == "200 OK"
    assert all(page.kept_prototypes.values())  # the refusal did not stand in for the page


def test_when_nothing_can_count_django_answers_503_and_counting_is_tried_once(app, monkeypatch):
    attempts = []

    class Unavailable:
        def hit(self, name):
            attempts.append(name)
            raise CounterUnavailable("both down")

    monkeypatch.setattr(page, "get_store", Unavailable)
    status, headers, body = call(app)
    assert status.startswith("503 ")
    assert dict(headers)["Retry-After"] == "5"
    assert b"Back in a moment" in body
    assert attempts == ["index"]


def test_the_request_id_is_echoed_and_carried_while_counting(app, monkeypatch):
    seen = []
    store = get_store()

    class Recording:
        def hit(self, name):
            seen.append(current_request_id.get())
            return store.hit(name)

    monkeypatch.setattr(page, "get_store", Recording)
    call(app)
    _, headers, _ = call(app, request_id="f0e1d2c3-router-id")
    assert dict(headers)["X-Request-Id"] == "f0e1d2c3-router-id"
    assert seen[-1] == "f0e1d2c3-router-id"
    assert current_request_id.get() == "-"
    _, headers, _ = call(app, request_id="bad id\nwith a newline")
    assert re.fullmatch(r"[0-9a-f]{32}", dict(headers)["X-Request-Id"])


def test_a_cookie_changes_nothing_in_the_answer(app, backend):
    call(app)
    _, plain_headers, plain = call(app)
    _, cookie_headers, with_cookie = call(app, cookie="sessionid=abc; csrftoken=def")
    assert without_per_response_headers(cookie_headers) == without_per_response_headers(plain_headers)
    assert NUMBER.sub(b"N", with_cookie) == NUMBER.sub(b"N", plain)
    assert b"<strong>3</strong>" in with_cookie


def test_a_new_page_image_is_shown_from_the_next_view(app, backend, monkeypatch):
    assert b"page-image" not in call(app)[2]
    image = SimpleNamespace(pk=7, alt="A lighthouse", file=SimpleNamespace(name="a.png", url="/media/a.png"))
    monkeypatch.setattr(page_image, "current", lambda: image)
    body = call(app)[2]
    assert b'<img class="page-image" src="/media/a.png" alt="A lighthouse">' in body
    assert b"<strong>2</strong>" in body


def test_a_client_cycling_host_headers_cannot_grow_memory(app, settings):
    settings.ALLOWED_HOSTS = [".example.com"]
    for number in range(page.KNOWN_HOSTS_KEPT * 3):
        call(app, host=f"h{number}.example.com")
    assert len(page.known_hosts) <= page.KNOWN_HOSTS_KEPT


def test_each_host_gets_a_page_rendered_for_it(app, settings):
    settings.ALLOWED_HOSTS = [".example.com"]
    call(app, host="one.example.com")
    call(app, host="two.example.com")
    assert {host for host, _ in page.kept_prototypes} == {"one.example.com", "two.example.com"}
    for number in range(page.PROTOTYPES_KEPT * 2):
        call(app, host=f"h{number}.example.com")
    assert len(page.kept_prototypes) <= page.PROTOTYPES_KEPT
