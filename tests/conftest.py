import pytest
import redis
from django.core.management import call_command
from django.test import Client

from herokuapp import process_state
from tests.support.agents import BROWSER
from tests.support.services import REDIS_TEST_URL, PostgresDatabase, redis_available

# Fixtures of tests/support that tests in several folders use, by name.
pytest_plugins = [
    "tests.support.faults",
    "tests.support.postgres_cluster",
    "tests.support.redis_tls",
    "tests.support.s3",
    "tests.support.security",
]


@pytest.fixture(scope="session", autouse=True)
def build():
    """Collect static files into STATIC_ROOT, as Heroku's build does before any dyno starts."""
    call_command("collectstatic", "--noinput", verbosity=0)


@pytest.fixture
def client():
    """Django's test client, as a reader's browser: a request without a User-Agent is a bot's and
    counts no view (see counter.features.bots)."""
    return Client(headers={"User-Agent": BROWSER})


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """Test on a SQLite file, as production does: the in-memory default locks whole tables."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database["TEST"]["NAME"] = str(tmp_path_factory.mktemp("sqlite") / "test.sqlite3")


@pytest.fixture(autouse=True)
def empty_redis(settings):
    """Start every test with no counts in the Redis the settings name, as with a fresh database,
    and a process that has kept nothing (herokuapp.process_state). The test's store is stopped when
    the test ends, while its database is still the test's own: what the store flushes on stopping
    goes with the test's rows, not into the next's."""
    process_state.reset()
    if settings.REDIS_URL:
        client = redis.Redis.from_url(settings.REDIS_URL)
        client.flushdb()
        client.close()
    yield
    process_state.reset()


@pytest.fixture
def database_down(transactional_db):
    """The database refuses connections, as in an outage, for the rest of the test."""
    from django.db import connection

    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent/directory/db.sqlite3"
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT="1")
    yield
    connection.close()
    connection.settings_dict.update(saved)


@pytest.fixture
def database_counter(settings):
    """Count with the database store for this test, whatever the environment chose."""
    settings.COUNTER_STORE = "database"


@pytest.fixture
def sqlite_url(tmp_path):
    """A database URL for a fresh SQLite file of this test's own."""
    return f"sqlite:///{tmp_path / 'db.sqlite3'}"


@pytest.fixture
def postgres_url():
    """A database URL for a fresh PostgreSQL database of this test's own, dropped afterwards."""
    database = PostgresDatabase()
    yield database.url
    database.drop()


@pytest.fixture
def redis_url():
    """The URL of an empty Redis database reserved for tests."""
    redis_available()
    client = redis.Redis.from_url(REDIS_TEST_URL)
    client.flushdb()
    yield REDIS_TEST_URL
    client.flushdb()
    client.close()


@pytest.fixture
def redis_counter(settings, redis_url):
    """Count with the Redis store for this test."""
    settings.REDIS_URL = redis_url
    settings.COUNTER_STORE = "redis"
    yield redis_url
    from counter.engine.base import stop_store

    stop_store()
