import logging
import re
import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger, SafeAtoms

from herokuapp import gunicorn_logging
from herokuapp.gunicorn_logging import ACCESS_LOG_FORMAT, HerokuLogger, queue_time

REQUEST_ID = "f8c2e1d4-7b3a-4c5e-9f01-23456789abcd"
NOW = 1_700_000_000.5
LOGFMT_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


@pytest.fixture
def logger():
    return HerokuLogger(Config())


@pytest.fixture
def frozen_time(monkeypatch):
    monkeypatch.setattr(gunicorn_logging, "time", SimpleNamespace(time=lambda: NOW))


def exchange(request_headers=(), remote_addr="10.1.2.3", status="200 OK", response_headers=None):
    """A (resp, req, environ) triple shaped like the ones gunicorn's workers pass to the logger."""
    request_headers = list(request_headers)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/?page=1",
        "PATH_INFO": "/",
        "QUERY_STRING": "page=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": remote_addr,
    }
    environ.update({f"HTTP_{name.upper().replace('-', '_')}": value for name, value in request_headers})
    if remote_addr is None:
        del environ["REMOTE_ADDR"]
    req = SimpleNamespace(headers=[(name.upper(), value) for name, value in request_headers])
    resp = SimpleNamespace(
        status=status,
        headers=response_headers if response_headers is not None else [("Content-Type", "text/html"), ("X-Request-Id", REQUEST_ID)],
        sent=1234,
    )
    return resp, req, environ


def atoms(logger, request_headers=(), remote_addr="10.1.2.3", request_time=timedelta(milliseconds=200)):
    resp, req, environ = exchange(request_headers, remote_addr)
    return logger.atoms(resp, req, environ, request_time)


def access_line(logger, request_headers=(), request_time=timedelta(milliseconds=200), **exchange_options):
    resp, req, environ = exchange(request_headers, **exchange_options)
    return ACCESS_LOG_FORMAT % logger.atoms_wrapper_class(logger.atoms(resp, req, environ, request_time))


def logfmt(line):
    return dict(LOGFMT_PAIR.findall(line))


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
    assert logfmt(access_line(logger))["request_id"] == REQUEST_ID


def test_access_line_carries_client_queue_and_status(logger, frozen_time):
    headers = [("X-Forwarded-For", "198.51.100.9, 203.0.113.7"), ("X-Request-Start", str(round(NOW * 1000) - 250))]
    fields = logfmt(access_line(logger, headers, request_time=timedelta(milliseconds=200)))
    assert fields["client"] == "203.0.113.7"
    assert fields["queue"] == "50ms"
    assert fields["status"] == "200"
    assert fields["duration"] == "200ms"
    assert fields["fwd"] == '"198.51.100.9, 203.0.113.7"'


def test_access_line_has_method_path_and_bytes(logger):
    fields = logfmt(access_line(logger))
    assert fields["method"] == "GET"
    assert fields["path"] == '"/"'
    assert fields["bytes"] == "1234"


def test_access_line_has_dashes_for_unknown_values(logger):
    fields = logfmt(access_line(logger, response_headers=[]))
    assert fields["request_id"] == "-"
    assert fields["queue"] == "-"
    assert fields["fwd"] == '"-"'


def test_access_line_escapes_quotes_from_the_client(logger):
    line = access_line(logger, [("User-Agent", 'evil" status=500 x="')])
    fields = logfmt(line)
    assert fields["status"] == "200"
    assert fields["user_agent"] == r'"evil\" status=500 x=\""'


def test_access_line_is_a_single_line(logger):
    assert "\n" not in access_line(logger, [("X-Forwarded-For", "203.0.113.7"), ("User-Agent", "curl/8.0")])


def test_every_atom_reads_as_gunicorn_s_own(logger, monkeypatch):
    """The atoms are worked out one by one, some here and the rest by gunicorn: whatever a format
    asks for (GUNICORN_CMD_ARGS may change it), the line reads as with gunicorn's own atoms."""
    monkeypatch.setattr(logger, "now", lambda: "[25/Nov/2026:12:00:00 +0000]")
    resp, req, environ = exchange(
        [("X-Forwarded-For", "203.0.113.7"), ("User-Agent", 'an "agent"'), ("Authorization", "Basic dXNlcjpwYXNz")],
        response_headers=[("Content-Type", "text/html"), ("X-Request-Id", REQUEST_ID), ("Vary", "a"), ("vary", 'b"')],
    )
    request_time = timedelta(seconds=1, microseconds=234_567)
    theirs = SafeAtoms(Logger.atoms(logger, resp, req, environ, request_time))
    ours = logger.atoms_wrapper_class(logger.atoms(resp, req, environ, request_time))
    keys = [*theirs, "{X-Request-Id}o", "{USER-AGENT}i", "{Path_Info}e", "{missing}i", "{missing}o", "{missing}e", "missing"]
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
    assert logfmt(line)["request_id"] == REQUEST_ID


def test_the_heroku_line_is_made_without_building_gunicorn_s_own_atoms(logger):
    """Building them all (every header and WSGI variable) cost as much as the rest of the line."""
    resp, req, environ = exchange([("X-Forwarded-For", "203.0.113.7")])
    atoms = logger.atoms(resp, req, environ, timedelta(milliseconds=200))
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, ACCESS_LOG_FORMAT, (logger.atoms_wrapper_class(atoms),), None)
    assert logfmt(record.getMessage())["client"] == "203.0.113.7"
    assert atoms.full is None


def test_logger_writes_errors_to_stdout_not_stderr():
    logger = HerokuLogger(Config())
    streams = [handler.stream for handler in logger.error_log.handlers if getattr(handler, "_gunicorn", False)]
    assert streams
    assert all(stream is sys.stdout for stream in streams)
