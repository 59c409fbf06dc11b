"""Request bodies Django would not read (counter.web.request_body): a body sent with Transfer-Encoding:
chunked has no Content-Length, and Django would take it for empty. Sent over a raw socket to the
Procfile's web process (gunicorn, which accepts chunked bodies), such a request is refused with 411
Length Required, in JSON under /api/ and in text elsewhere, and changes nothing."""

import http.client
import json
import socket

import pytest

from tests.support.dyno import WebDyno, dyno_environment, router_headers, run_process

pytestmark = pytest.mark.slow

COUNTER = "/api/v1/counters/example.com/chunked"


@pytest.fixture(scope="module")
def dyno(tmp_path_factory):
    env = dyno_environment(
        DYNO="web.1",
        WEB_CONCURRENCY=1,
        SECRET_KEY="e2e-" + "x" * 60,
        ALLOWED_HOSTS="localhost",
        DATABASE_URL=f"sqlite:///{tmp_path_factory.mktemp('request-body') / 'db.sqlite3'}",
    )
    released = run_process("release", env)
    assert released.returncode == 0, released.stdout + released.stderr
    dyno = WebDyno(env).start()
    yield dyno
    dyno.kill()


def send_chunked(dyno, path, body, **headers):
    """POST ``body`` to the dyno in 100-byte chunks, as Heroku's router forwards a chunked request;
    returns (status, headers, body) of the answer."""
    head = router_headers() | {"Transfer-Encoding": "chunked", "Connection": "close"} | headers
    request = f"POST {path} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in head.items()) + "\r\n"
    chunks = [body[start : start + 100] for start in range(0, len(body), 100)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", dyno.port), timeout=10) as connection:
        connection.sendall(request.encode() + framed)
        response = http.client.HTTPResponse(connection, method="POST")
        response.begin()
        return response.status, response.headers, response.read()


def create(dyno, value):
    created = dyno.post("/api/v1/counters", json={"namespace": "example.com", "key": "chunked", "value": value})
    assert created.status_code == 201, created.text
    return created.json()["token"]


def test_a_chunked_reset_is_refused_with_a_json_411_and_leaves_the_counter_as_it_was(dyno):
    token = create(dyno, 7)
    status, headers, body = send_chunked(
        dyno,
        f"{COUNTER}/reset",
        json.dumps({"value": 50}).encode(),
        **{"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert status == 411
    assert headers["Content-Type"] == "application/json"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert json.loads(body)["error"]["code"] == "length_required"
    assert dyno.get(COUNTER).json()["value"] == 7


def test_a_chunked_body_over_1_kib_is_refused_and_creates_nothing(dyno):
    body = json.dumps({"namespace": "example.com", "key": "big", "padding": "x" * 2000}).encode()
    status, headers, _ = send_chunked(dyno, "/api/v1/counters", body, **{"Content-Type": "application/json"})
    assert status == 411
    assert headers["Content-Type"] == "application/json"
    assert dyno.get("/api/v1/counters/example.com/big").status_code == 404


def test_a_chunked_form_outside_the_api_is_refused_with_a_411_in_text(dyno):
    status, headers, body = send_chunked(
        dyno,
        "/admin/login/",
        b"username=admin&password=secret",
        **{"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 411
    assert headers["Content-Type"].startswith("text/plain")
    assert b"Content-Length" in body
