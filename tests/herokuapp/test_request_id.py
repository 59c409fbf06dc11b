import logging
import re
import sys

import pytest
from django.http import HttpResponse

from herokuapp.log import OneLineFormatter
from herokuapp.request_id import RequestIdLogFilter, RequestIdMiddleware

HTTPS = {"secure": True}
ROUTER_ID = "f8c2e1d4-7b3a-4c5e-9f01-23456789abcd"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []
        self.addFilter(RequestIdLogFilter())

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def records_of():
    """Collect, through RequestIdLogFilter, what the named logger emits during the test."""
    attached = []

    def attach(name):
        handler = Records()
        logging.getLogger(name).addHandler(handler)
        attached.append((name, handler))
        return handler.records

    yield attach
    for name, handler in attached:
        logging.getLogger(name).removeHandler(handler)


def request_id_of(client, path="/robots.txt", **headers):
    return client.get(path, headers=headers, **HTTPS)["X-Request-Id"]


# RequestIdMiddleware


def test_router_request_id_is_echoed_in_the_response(client):
    assert request_id_of(client, **{"X-Request-Id": ROUTER_ID}) == ROUTER_ID


def test_router_request_id_is_echoed_on_an_error_page(client):
    assert request_id_of(client, "/no-such-page/", **{"X-Request-Id": ROUTER_ID}) == ROUTER_ID


def test_request_id_is_echoed_on_the_https_redirect(client):
    response = client.get("/", headers={"X-Request-Id": ROUTER_ID})
    assert response.status_code == 301
    assert response["X-Request-Id"] == ROUTER_ID


def test_request_id_of_200_characters_is_kept(client):
    long_id = "a" * 200
    assert request_id_of(client, **{"X-Request-Id": long_id}) == long_id


@pytest.mark.parametrize(
    "invalid",
    ["has spaces in it", "line\nbreak", "a" * 201, 'quote"d', "semi;colon", ""],
    ids=["spaces", "newline", "201-chars", "quote", "semicolon", "empty"],
)
def test_invalid_router_request_id_is_replaced_by_a_generated_one(client, invalid):
    request_id = request_id_of(client, **{"X-Request-Id": invalid})
    assert request_id != invalid
    assert GENERATED_ID.fullmatch(request_id)


def test_request_without_an_id_gets_a_generated_one(client):
    assert GENERATED_ID.fullmatch(request_id_of(client))


def test_each_request_without_an_id_gets_a_fresh_one(client):
    assert len({request_id_of(client) for _ in range(3)}) == 3


def test_view_sees_the_request_id_on_the_request(rf):
    seen = []

    def view(request):
        seen.append(request.request_id)
        return HttpResponse()

    RequestIdMiddleware(view)(rf.get("/", HTTP_X_REQUEST_ID=ROUTER_ID))
    assert seen == [ROUTER_ID]


# RequestIdLogFilter


def test_log_record_emitted_inside_a_request_carries_its_id(client, records_of):
    """DisallowedHost is logged by the exception handling around the middleware, inside the request."""
    records = records_of("django.security.DisallowedHost")
    client.get("/", headers={"Host": "evil.example", "X-Request-Id": ROUTER_ID}, **HTTPS)
    assert [record.request_id for record in records] == [ROUTER_ID]


def test_not_found_log_record_carries_the_request_id(client, records_of):
    records = records_of("django.request")
    response = client.get("/no-such-page/", headers={"X-Request-Id": ROUTER_ID}, **HTTPS)
    assert response.status_code == 404
    not_found = [record for record in records if record.getMessage().startswith("Not Found")]
    assert len(not_found) == 1
    assert not_found[0].request_id == ROUTER_ID


def test_log_record_outside_a_request_has_a_dash_for_request_id(records_of):
    records = records_of("herokuapp.test")
    logging.getLogger("herokuapp.test").warning("no request here")
    assert [record.request_id for record in records] == ["-"]


def test_request_id_does_not_leak_into_logs_after_the_request(client, records_of):
    """The id is forgotten when the response is closed, as a WSGI server does once it is sent."""
    client.get("/no-such-page/", headers={"X-Request-Id": ROUTER_ID}, **HTTPS)
    records = records_of("herokuapp.test")
    logging.getLogger("herokuapp.test").warning("after the request")
    assert records[0].request_id == "-"


def test_log_filter_never_drops_a_record():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "message", None, None)
    assert RequestIdLogFilter().filter(record) is True


# OneLineFormatter


def record_with_traceback(message="it broke"):
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    return logging.LogRecord("herokuapp", logging.ERROR, __file__, 1, message, None, exc_info)


def test_one_line_formatter_puts_a_traceback_on_a_single_line():
    line = OneLineFormatter("%(levelname)s %(message)s").format(record_with_traceback())
    assert "\n" not in line
    assert line.startswith("ERROR it broke\\nTraceback (most recent call last):\\n")
    assert line.endswith("ValueError: boom")


def test_one_line_formatter_escapes_line_breaks_in_the_message():
    record = logging.LogRecord("herokuapp", logging.INFO, __file__, 1, "first\r\nsecond", None, None)
    assert OneLineFormatter("%(message)s").format(record) == "first\\r\\nsecond"


def test_one_line_formatter_leaves_a_one_line_message_alone():
    record = logging.LogRecord("herokuapp", logging.INFO, __file__, 1, "all on one line", None, None)
    assert OneLineFormatter("%(levelname)s %(message)s").format(record) == "INFO all on one line"


def test_settings_log_every_line_through_the_formatter_with_the_request_id(settings):
    logging_config = settings.LOGGING
    assert logging_config["formatters"]["line"]["()"] == "herokuapp.log.OneLineFormatter"
    assert "request_id=%(request_id)s" in logging_config["formatters"]["line"]["format"]
    assert logging_config["handlers"]["stdout"]["filters"] == ["request_id"]
    assert settings.MIDDLEWARE[0] == "herokuapp.request_id.RequestIdMiddleware"
