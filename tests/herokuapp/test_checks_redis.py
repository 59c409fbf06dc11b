"""The Redis service check (herokuapp.E002) against a real TLS-only Redis with a self-signed
certificate, as Heroku Key-Value Store is (see tests/support/redis_tls.py)."""

import pytest
from django.core import checks

from herokuapp.checks import SERVICES

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(autouse=True)
def redis_store(settings):
    """Redis is checked where the counter store counts there."""
    settings.COUNTER_STORE = "redis"


def redis_errors():
    return [message for message in checks.run_checks(tags=[SERVICES]) if message.id == "herokuapp.E002"]


def test_a_reachable_tls_redis_passes_with_the_default_cert_reqs(settings, redis_tls):
    settings.REDIS_URL = redis_tls.url
    assert settings.REDIS_SSL_CERT_REQS == "none"
    assert redis_errors() == []


def test_a_wrong_password_over_tls_is_refused_credentials(settings, redis_tls):
    settings.REDIS_URL = redis_tls.url_for(password="wrong-password")
    [error] = redis_errors()
    assert error.msg.startswith("REDIS_URL: Redis refused the credentials"), error.msg
    assert error.hint == "Check the password in the URL."
    assert "wrong-password" not in error.msg, "the message does not repeat the password"


def test_verifying_the_self_signed_certificate_fails_naming_the_setting(settings, redis_tls):
    settings.REDIS_URL = redis_tls.url
    settings.REDIS_SSL_CERT_REQS = "required"
    [error] = redis_errors()
    assert error.msg.startswith("REDIS_URL: cannot reach Redis"), error.msg
    assert "certificate" in error.msg and "CERTIFICATE_VERIFY_FAILED" in error.msg
    assert "REDIS_SSL_CERT_REQS" in error.hint
    assert redis_tls.password not in error.msg
