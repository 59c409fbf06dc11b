import logging
import re
import socket
import sys
import urllib.parse
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger, SafeAtoms

from herokuapp import gunicorn_logging
from herokuapp.gunicorn_logging import ACCESS_LOG_FORMAT, HerokuLogger, queue_time
from tests.support.dyno import WebDyno, dyno_environment, run_process
from tests.support.logfmt import parse, unescape

REQUEST_ID = "f8c2e1d4-7b3a-4c5e-9f01-23456789abcd"
NOW = 1_700_000_000.5
FIELDS = {
    "method",
    "path",
    "status",
    "duration",
    "queue",
    "request_id",
    "client",
    "fwd",
    "bytes",
    "user_agent",
    "query",
}
# What a client would write to end a quoted value and a line, and start fields and a line of its own.
FORGED = 'x\\" status=500 client=6.6.6.6\n\rmethod=GET path="/" \u2028\x85\t\x00\x7f\u202e end'


@pytest.fixture
def logger():
    return HerokuLogger(Config())


@pytest.fixture
def frozen_time(monkeypatch):
    monkeypatch.setattr(gunicorn_logging, "time", SimpleNamespace(time=lambda: NOW))


def exchange(
    request_headers=(),
    remote_addr="10.1.2.3",
    status="200 OK",
    response_headers=None,
    method="GET",
    path="/",
    query="page=1",
):
    """A (resp, req, environ) triple shaped like the ones gunicorn's workers pass to the logger."""
    request_headers = list(request_headers)
    environ = {
        "REQUEST_METHOD": method,
        "RAW_URI": f"{path}?{query}",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": remote_addr,
    }
    environ.update({f"HTTP_{name.upper().replace('-', '_')}": value for name, value in request_headers})
    if remote_addr is None:
        del environ["REMOTE_ADDR"]
    req = SimpleNamespace(headers=[(name.upper(), value) for name, value in request_headers])
    resp = SimpleNamespace(
        status=status,
        headers=response_headers
        if response_headers is not None
        else [("Content-Type", "text/html"), ("X-Request-Id", REQUEST_ID)],
        sent=1234,
    )
    return resp, req, environ


def atoms(logger, request_headers=(), remote_addr="10.1.2.3", request_time=timedelta(milliseconds=200)):
    resp, req, environ = exchange(request_headers, remote_addr)
    return logger.atoms(resp, req, environ, request_time)


def access_line(logger, request_headers=(), request_time=timedelta(milliseconds=200), **exchange_options):
    resp, req, environ = exchange(request_headers, **exchange_options)
    return ACCESS_LOG_FORMAT % logger.atoms_wrapper_class(logger.atoms(resp, req, environ, request_time))


# queue_time


def test_queue_time_is_the_milliseconds_since_the_router_received_the_request():
    assert queue_time("1700000000000", 1_700_000_000.250) == "250ms"


def test_queue_time_is_rounded_to_the_millisecond():
    assert queue_time("1700000000000", 1_700_000_000.0126) == "13ms"


def test_queue_time_is_zero_when_the_router_clock_is_ahead():
    assert queue_time("1700000000900", 1_700_000_000.250) == "0ms"


@pytest.mark.parametrize("header", [None, "", "soon", "1700000000000.5", "t=1700000000000"])
def test_queue_time_is_unknown_without_a_whole_number_of_milliseconds(header):
    assert queue_time(header, NOW) == "-"


# HerokuLogger.atoms


def test_client_is_the_address_the_router_appended_to_x_forwarded_for(logger):
    forwarded = [("X-Forwarded-For", "198.51.100.9, 192.0.2.44,203.0.113.7")]
    assert atoms(logger, forwarded)["client"] == "203.0.113.7"


def test_client_is_the_only_x_forwarded_for_address(logger):
    assert atoms(logger, [("X-Forwarded-For", "203.0.113.7")])["client"] == "203.0.113.7"


@pytest.mark.parametrize("forwarded", [[], [("X-Forwarded-For", "")], [("X-Forwarded-For", "198.51.100.9, ")]])
def test_client_falls_back_to_the_peer_address_without_a_forwarded_one(logger, forwarded):
    assert atoms(logger, forwarded, remote_addr="10.1.2.3")["client"] == "10.1.2.3"


def test_client_is_a_dash_when_no_address_is_known(logger):
    assert atoms(logger, remote_addr=None)["client"] == "-"


def test_queue_atom_is_measured_up_to_when_the_request_arrived(logger, frozen_time):
    """The request arrived request_time ago: at NOW - 0.2 s, 100 ms after the router got it."""
    arrived_at_router = round(NOW * 1000) - 300
    headers = [("X-Request-Start", str(arrived_at_router))]
    assert atoms(logger, headers, request_time=timedelta(milliseconds=200))["queue"] == "100ms"


def test_queue_atom_is_unknown_without_x_request_start(logger):
    assert atoms(logger)["queue"] == "-"


def test_gunicorn_atoms_are_kept(logger):
    values = atoms(logger)
    assert values["s"] == "200"
    assert values["m"] == "GET"
    assert values["U"] == "/"
    assert values["{x-request-id}o"] == REQUEST_ID


# the access line


def test_access_line_carries_the_request_id_the_app_echoed(logger):
    assert parse(access_line(logger))["request_id"] == REQUEST_ID


def test_access_line_carries_client_queue_and_status(logger, frozen_time):
    headers = [("X-Forwarded-For", "198.51.100.9, 203.0.113.7"), ("X-Request-Start", str(round(NOW * 1000) - 250))]
    fields = parse(access_line(logger, headers, request_time=timedelta(milliseconds=200)))
    assert fields["client"] == "203.0.113.7"
    assert fields["queue"] == "50ms"
    assert fields["status"] == "200"
    assert fields["duration"] == "200ms"
    assert fields["fwd"] == "198.51.100.9, 203.0.113.7"


def test_access_line_has_method_path_query_and_bytes(logger):
    fields = parse(access_line(logger))
    assert fields.keys() == FIELDS
    assert fields["method"] == "GET"
    assert fields["path"] == "/"
    assert fields["query"] == "page=1"
    assert fields["bytes"] == "1234"


def test_access_line_has_dashes_for_unknown_values(logger):
    fields = parse(access_line(logger, response_headers=[]))
    assert fields["request_id"] == "-"
    assert fields["queue"] == "-"
    assert fields["fwd"] == "-"


def test_access_line_escapes_quotes_from_the_client(logger):
    line = access_line(logger, [("User-Agent", 'evil" status=500 x="')])
    fields = parse(line)
    assert fields["status"] == "200"
    assert fields["user_agent"] == 'evil" status=500 x="'


@pytest.mark.parametrize(
    ("field", "sent", "expected"),
    [
        ("path", {"path": f"/{FORGED}"}, f"/{FORGED}"),
        ("query", {"query": FORGED}, FORGED),
        ("user_agent", {"request_headers": [("User-Agent", FORGED)]}, FORGED),
        ("fwd", {"request_headers": [("X-Forwarded-For", f"{FORGED}, 203.0.113.7")]}, f"{FORGED}, 203.0.113.7"),
        ("client", {"request_headers": [("X-Forwarded-For", f"203.0.113.7, {FORGED}")]}, FORGED),
    ],
)
def test_access_line_writes_what_the_client_sent_in_a_field_as_that_field_alone(logger, field, sent, expected):
    line = access_line(logger, **sent)
    assert line.isprintable(), "no control character, line or paragraph separator"
    fields = parse(line)
    assert fields.keys() == FIELDS
    assert fields[field] == expected
    assert fields["status"] == "200"


@pytest.mark.parametrize("sent", [{"method": "G\nET"}, {"response_headers": [("X-Request-Id", "id\r\n\u2028")]}])
def test_access_line_stays_one_line_whatever_the_method_and_request_id(logger, sent):
    """Both are written bare: gunicorn takes only a token for a method (see the dyno's test below)
    and the app echoes only a request id it checked. Escaped all the same."""
    line = access_line(logger, **sent)
    assert line.isprintable()
    assert line.splitlines() == [line]


def test_client_is_bare_when_it_is_one_word_and_quoted_when_it_is_not(logger):
    assert " client=203.0.113.7 " in access_line(logger, [("X-Forwarded-For", "203.0.113.7")])
    assert ' client="203.0.113.7 status=500" ' in access_line(logger, [("X-Forwarded-For", "203.0.113.7 status=500")])


def test_access_line_is_a_single_line(logger):
    assert "\n" not in access_line(logger, [("X-Forwarded-For", "203.0.113.7"), ("User-Agent", "curl/8.0")])


def test_every_atom_reads_as_gunicorn_s_own(logger, monkeypatch):
    """Whatever a format asks for (GUNICORN_CMD_ARGS may change it), the line reads as with
    gunicorn's own atoms and SafeAtoms: headers in any case, and '-' for an atom not known."""
    monkeypatch.setattr(logger, "now", lambda: "[25/Nov/2026:12:00:00 +0000]")
    resp, req, environ = exchange(
        [("X-Forwarded-For", "203.0.113.7"), ("User-Agent", 'an "agent"'), ("Authorization", "Basic dXNlcjpwYXNz")],
        response_headers=[("Content-Type", "text/html"), ("X-Request-Id", REQUEST_ID), ("Vary", "a"), ("vary", 'b"')],
    )
    request_time = timedelta(seconds=1, microseconds=234_567)
    theirs = SafeAtoms(Logger.atoms(logger, resp, req, environ, request_time))
    ours = logger.atoms_wrapper_class(logger.atoms(resp, req, environ, request_time))
    keys = [
        *theirs,
        "{X-Request-Id}o",
        "{USER-AGENT}i",
        "{Path_Info}e",
        "{missing}i",
        "{missing}o",
        "{missing}e",
        "missing",
    ]
    assert len(theirs) > 30, "request and response headers and WSGI variables among them"
    for key in keys:
        assert ours[key] == theirs[key], key
    every_atom = " ".join(f"%({key})s" for key in keys)
    assert every_atom % ours == every_atom % theirs


def test_the_access_line_is_written_through_logging_as_formatted(tmp_path):
    """logging formats with the atoms only when it sees them as a mapping that is not empty."""
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    config.set("access_log_format", ACCESS_LOG_FORMAT)
    logger = HerokuLogger(config)
    resp, req, environ = exchange([("X-Forwarded-For", "203.0.113.7")])
    logger.access(resp, req, environ, timedelta(milliseconds=200))
    for handler in logger.access_log.handlers:
        handler.flush()
    line = (tmp_path / "access.log").read_text()
    assert line == access_line(logger, [("X-Forwarded-For", "203.0.113.7")]) + "\n"
    assert parse(line.removesuffix("\n"))["request_id"] == REQUEST_ID


def test_gunicorn_s_own_lines_are_one_line_each_request_and_traceback_included():
    """gunicorn's error log keeps its layout; what it says, a request it could not handle and the
    traceback among it, stays on the line."""
    handlers = [
        handler for handler in HerokuLogger(Config()).error_log.handlers if getattr(handler, "_gunicorn", False)
    ]
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "gunicorn.error", logging.ERROR, __file__, 1, "Error handling request %s", (f"/{FORGED}",), exc_info
    )
    assert handlers
    for line in (handler.format(record) for handler in handlers):
        assert line.isprintable()
        layout = re.fullmatch(r"\[[^]]+\] \[\d+\] \[ERROR\] (.*)", line)
        assert layout, line
        message = unescape(layout[1])
        assert message.startswith(f"Error handling request /{FORGED}\nTraceback (most recent call last):\n")
        assert message.endswith("ValueError: boom\nsecond line")


def test_logger_writes_errors_to_stdout_not_stderr():
    logger = HerokuLogger(Config())
    streams = [handler.stream for handler in logger.error_log.handlers if getattr(handler, "_gunicorn", False)]
    assert streams
    assert all(stream is sys.stdout for stream in streams)


# a web dyno's log, as the Procfile's gunicorn writes it


@pytest.fixture
def dyno(sqlite_url):
    env = dyno_environment(
        DYNO="web.1",
        WEB_CONCURRENCY=1,
        SECRET_KEY="logs-" + "x" * 60,
        ALLOWED_HOSTS="localhost",
        DATABASE_URL=sqlite_url,
    )
    released = run_process("release", env)
    assert released.returncode == 0, released.stdout + released.stderr
    dyno = WebDyno(env).start()
    yield dyno
    dyno.kill()


def send(dyno, request_line, *headers):
    """Send a request as raw bytes, as a client may, and return the response's status line and headers."""
    request = b"\r\n".join(
        [request_line, b"Host: localhost", b"X-Forwarded-Proto: https", b"Connection: close", *headers, b"", b""]
    )
    with socket.create_connection(("127.0.0.1", dyno.port), timeout=10) as connection:
        connection.sendall(request)
        response = b"".join(iter(lambda: connection.recv(65536), b""))
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    return head[0], dict(line.split(": ", 1) for line in head[1:])


@pytest.mark.slow
def test_dyno_writes_one_access_line_that_reads_back_what_the_client_sent(dyno):
    path = b'/nowhere%0Astatus=500%0D%22client=6.6.6.6%5C%E2%80%A8%C2%85/raw"quote\\backslash'
    query = b'q=%0A"x\\y'
    user_agent = b'curl\\" status=500 client=6.6.6.6\t\x85 \xe2\x80\xa8 end'
    forwarded = b'198.51.100.1" status=500, 203.0.113.9 client=6.6.6.6\\'
    status, headers = send(
        dyno,
        b"GET " + path + b"?" + query + b" HTTP/1.1",
        b"User-Agent: " + user_agent,
        b"X-Forwarded-For: " + forwarded,
        b'X-Request-Id: id" status=500 \x85',
    )
    # The access line writes the method bare: gunicorn refuses one that is no token, unlogged.
    no_token, _ = send(dyno, b'G"E\\T /x HTTP/1.1')
    dyno.stop()
    lines = dyno.output().splitlines()

    assert (status, no_token) == ("HTTP/1.1 404 Not Found", "HTTP/1.1 400 Bad Request")
    assert all(line.isprintable() for line in lines), "no control character, line or paragraph separator"
    access = [parse(line) for line in lines if line.startswith("method=")]
    sent_path = urllib.parse.unquote(path.decode())  # as Django decodes it
    assert [fields["path"] for fields in access] == ["/robots.txt", sent_path]
    expected = {
        "method": "GET",
        "status": "404",
        "request_id": headers["X-Request-Id"],
        "client": "203.0.113.9 client=6.6.6.6\\",
        "fwd": forwarded.decode("latin-1"),  # header bytes as gunicorn keeps them, one character each
        "user_agent": user_agent.decode("latin-1"),
        "query": query.decode(),
    }
    assert access[1].keys() == FIELDS
    assert {key: access[1][key] for key in expected} == expected
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-Id"]), "the app's own id, not the client's"
