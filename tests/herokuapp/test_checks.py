"""`manage.py check` (and so the release phase) names each configured service that does not answer."""

import subprocess
import sys

import pytest
from django.core import checks

from herokuapp.checks import SERVICES
from tests.support.dyno import ROOT, dyno_environment

pytestmark = pytest.mark.django_db


def service_errors():
    return {message.id: message.msg for message in checks.run_checks(tags=[SERVICES])}


def test_reachable_services_pass(redis_counter):
    assert service_errors() == {}


def test_redis_is_not_checked_when_not_configured(settings):
    settings.COUNTER_STORE = "database"
    settings.REDIS_URL = ""
    assert "herokuapp.E002" not in service_errors()


def test_redis_is_not_checked_with_the_database_store_which_keeps_nothing_there(settings):
    settings.COUNTER_STORE = "database"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert "herokuapp.E002" not in service_errors()


def test_unreachable_redis_is_an_error_naming_redis_url(settings):
    settings.COUNTER_STORE = "redis"
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    errors = service_errors()
    assert errors["herokuapp.E002"].startswith("REDIS_URL: cannot reach Redis")


@pytest.mark.slow
@pytest.mark.parametrize(
    "url, reason",
    [
        ("postgres://postgres@127.0.0.1:1/test", "Connection refused"),
        ("postgres://postgres@127.0.0.1:5432/no_such_database", 'database "no_such_database" does not exist'),
    ],
)
def test_unreachable_database_fails_check_naming_database_url(url, reason):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=dyno_environment(DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "(herokuapp.E001) DATABASE_URL: cannot connect to the database" in result.stderr
    assert reason in result.stderr
