"""The security headers every answer of the app carries, as the home page shows them (fixtures)."""

import pytest

SECURITY_HEADERS = [
    "Content-Security-Policy",
    "X-Frame-Options",
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Cross-Origin-Resource-Policy",
]


def security_headers(response):
    return {name: response.get(name) for name in SECURITY_HEADERS}


@pytest.fixture
def home(client, db):
    """The home page, over HTTPS."""
    response = client.get("/", secure=True)
    assert response.status_code == 200
    return response


@pytest.fixture
def page_security_headers(home):
    """The security headers as a page carries them, each one set: every other answer must carry the same."""
    headers = security_headers(home)
    assert None not in headers.values(), headers
    return headers
