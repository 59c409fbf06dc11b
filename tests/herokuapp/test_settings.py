"""Settings are read once, at import, from the environment: each test loads them in a fresh process."""

import json
import secrets
import subprocess
import sys

import pytest

from tests.support.dyno import ROOT, dyno_environment

pytestmark = pytest.mark.slow

POSTGRES_URL = "postgres://alice:s3cr3t-pa55@db.example.com:5432/d1abc"
ONE_YEAR = 365 * 24 * 60 * 60

PRINT_SETTINGS = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "herokuapp.settings"
from django.conf import settings
print(json.dumps({name: getattr(settings, name) for name in sys.argv[1:]}, default=str))
"""


def run_python(args, **variables):
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=dyno_environment(**variables),
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_of(*names, **variables):
    """The named settings as a process started with only ``variables`` in its environment sees them."""
    result = run_python(["-c", PRINT_SETTINGS, *names], **variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def setting(name, **variables):
    return settings_of(name, **variables)[name]


def manage(*args, **variables):
    return run_python(["manage.py", *args], **variables)


def production(**variables):
    """What a web dyno gets: a strong key, DYNO, and Heroku Postgres."""
    return {"SECRET_KEY": secrets.token_urlsafe(50), "DYNO": "web.1", "DATABASE_URL": POSTGRES_URL} | variables


def assert_fails_at_start_naming(result, variable):
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("herokuapp: configuration error: ")
    assert variable in lines[0]


# production and development


def test_production_is_the_default():
    values = settings_of("DEBUG", "SECURE_SSL_REDIRECT")
    assert values == {"DEBUG": False, "SECURE_SSL_REDIRECT": True}


def test_production_cookies_are_secure_only():
    values = settings_of("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE")
    assert values == {"SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True}


def test_production_sends_hsts_for_at_least_a_year_with_subdomains_and_preload():
    values = settings_of("SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD")
    assert values["SECURE_HSTS_SECONDS"] >= ONE_YEAR
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is True


def test_debug_true_opts_into_development():
    values = settings_of("DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", DEBUG="true")
    assert values == {
        "DEBUG": True,
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
    }


def test_development_sends_no_hsts():
    assert setting("SECURE_HSTS_SECONDS", DEBUG="true") == 0


def test_development_has_a_secret_key_without_one_being_set():
    assert setting("SECRET_KEY", DEBUG="true")


def test_secret_key_is_read_from_the_environment():
    key = secrets.token_urlsafe(50)
    assert setting("SECRET_KEY", SECRET_KEY=key) == key


# ALLOWED_HOSTS


def test_allowed_hosts_are_local_when_not_on_heroku():
    assert setting("ALLOWED_HOSTS") == ["localhost", "127.0.0.1", "[::1]"]


def test_allowed_hosts_are_herokuapp_subdomains_on_a_dyno():
    assert setting("ALLOWED_HOSTS", DYNO="web.1") == [".herokuapp.com"]


def test_allowed_hosts_are_exactly_the_apps_default_domain_when_dyno_metadata_gives_it():
    domain = "example-app-0123456789ab.herokuapp.com"
    assert setting("ALLOWED_HOSTS", DYNO="web.1", HEROKU_APP_DEFAULT_DOMAIN_NAME=domain) == [domain]


def test_heroku_default_domain_is_ignored_off_heroku():
    assert setting("ALLOWED_HOSTS", HEROKU_APP_DEFAULT_DOMAIN_NAME="x.herokuapp.com") == [
        "localhost",
        "127.0.0.1",
        "[::1]",
    ]


def test_allowed_hosts_are_parsed_from_a_comma_list():
    hosts = setting("ALLOWED_HOSTS", ALLOWED_HOSTS=" www.example.com, example.com ,")
    assert hosts == ["www.example.com", "example.com"]


def test_allowed_hosts_set_explicitly_win_on_heroku():
    hosts = setting(
        "ALLOWED_HOSTS", DYNO="web.1", HEROKU_APP_DEFAULT_DOMAIN_NAME="x.herokuapp.com", ALLOWED_HOSTS="example.com"
    )
    assert hosts == ["example.com"]


# DATABASES


def test_database_is_a_sqlite_file_in_the_project_when_database_url_is_unset():
    database = setting("DATABASES")["default"]
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert database["NAME"] == str(ROOT / "db.sqlite3")


def test_sqlite_uses_wal_and_immediate_transactions_so_workers_queue_for_writes():
    options = setting("DATABASES")["default"]["OPTIONS"]
    assert "journal_mode=WAL" in options["init_command"]
    assert options["transaction_mode"] == "IMMEDIATE"
    assert options["timeout"] > 0


def test_postgres_on_a_dyno_requires_ssl():
    database = setting("DATABASES", DYNO="web.1", DATABASE_URL=POSTGRES_URL)["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert database["OPTIONS"]["sslmode"] == "require"


def test_postgres_off_heroku_has_no_sslmode():
    database = setting("DATABASES", DATABASE_URL=POSTGRES_URL)["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert "sslmode" not in database.get("OPTIONS", {})


def test_sslmode_in_the_database_url_overrides_heroku_default():
    database = setting("DATABASES", DYNO="web.1", DATABASE_URL=POSTGRES_URL + "?sslmode=disable")["default"]
    assert database["OPTIONS"]["sslmode"] == "disable"


@pytest.mark.parametrize("url", [None, POSTGRES_URL], ids=["sqlite", "postgres"])
def test_database_connections_persist_ten_minutes_and_are_health_checked(url):
    database = setting("DATABASES", DATABASE_URL=url)["default"]
    assert database["CONN_MAX_AGE"] == 600
    assert database["CONN_HEALTH_CHECKS"] is True


# counter store


def test_counter_counts_in_redis_when_redis_url_is_set():
    values = settings_of("REDIS_URL", "COUNTER_STORE", REDIS_URL="redis://127.0.0.1:6379/15")
    assert values == {"REDIS_URL": "redis://127.0.0.1:6379/15", "COUNTER_STORE": "redis"}


def test_counter_counts_in_the_database_when_redis_url_is_unset():
    values = settings_of("REDIS_URL", "COUNTER_STORE")
    assert values == {"REDIS_URL": "", "COUNTER_STORE": "database"}


def test_counter_store_database_counts_in_the_database_with_redis_still_configured():
    values = settings_of("REDIS_URL", "COUNTER_STORE", REDIS_URL="redis://127.0.0.1:6379/15", COUNTER_STORE="database")
    assert values == {"REDIS_URL": "redis://127.0.0.1:6379/15", "COUNTER_STORE": "database"}


def test_counter_flush_interval_defaults_to_one_second_and_takes_a_tenth_to_a_minute():
    assert setting("COUNTER_FLUSH_INTERVAL") == 1.0
    assert setting("COUNTER_FLUSH_INTERVAL", COUNTER_FLUSH_INTERVAL="0.1") == 0.1
    assert setting("COUNTER_FLUSH_INTERVAL", COUNTER_FLUSH_INTERVAL="60") == 60.0


@pytest.mark.parametrize("value", ["0", "0.05", "61"])
def test_counter_flush_interval_outside_a_tenth_to_a_minute_stops_with_one_line_naming_it(value):
    """Every process flushes: there is no interval that turns flushing off (0 did, once)."""
    result = manage("check", COUNTER_FLUSH_INTERVAL=value)
    assert_fails_at_start_naming(result, "COUNTER_FLUSH_INTERVAL")
    assert "from 0.1 to 60" in result.stderr


def test_bots_are_not_counted_unless_counter_count_bots_is_true():
    assert setting("COUNTER_COUNT_BOTS") is False
    assert setting("COUNTER_COUNT_BOTS", COUNTER_COUNT_BOTS="true") is True
    assert setting("COUNTER_COUNT_BOTS", COUNTER_COUNT_BOTS="off") is False


def test_counter_store_redis_without_redis_url_stops_with_one_line_naming_both():
    result = manage("check", COUNTER_STORE="redis")
    assert_fails_at_start_naming(result, "COUNTER_STORE=redis needs REDIS_URL")


def test_redis_certificate_check_defaults_to_none_for_heroku_self_signed_certificates():
    assert setting("REDIS_SSL_CERT_REQS") == "none"


def test_log_level_defaults_to_info():
    assert setting("LOG_LEVEL") == "INFO"


# failing at start


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "nonsense"),
        ("DATABASE_URL", "mysql://u@h/db"),
        ("DATABASE_URL", "postgres://alice:s3cr3t-pa55@db.example.com:notaport/d1abc"),
        ("REDIS_URL", "http://x"),
        ("REDIS_URL", "redis://h:notaport"),
        ("LOG_LEVEL", "loud"),
        ("REDIS_SSL_CERT_REQS", "sometimes"),
        ("COUNTER_STORE", "memory"),
        ("COUNTER_COUNT_BOTS", "sometimes"),
        ("ALLOWED_HOSTS", ""),
    ],
)
def test_bad_value_stops_manage_py_with_one_line_naming_the_variable(variable, value):
    result = manage("check", **{variable: value})
    assert_fails_at_start_naming(result, variable)
    assert "s3cr3t-pa55" not in result.stderr + result.stdout


def test_wsgi_in_production_without_secret_key_stops_with_one_line_naming_it():
    result = run_python(["-c", "import herokuapp.wsgi"])
    assert_fails_at_start_naming(result, "SECRET_KEY")


def test_wsgi_in_development_starts_without_secret_key():
    result = run_python(["-c", "import herokuapp.wsgi; print(callable(herokuapp.wsgi.application))"], DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_wsgi_in_production_starts_with_a_secret_key():
    result = run_python(["-c", "import herokuapp.wsgi"], **production())
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


# deployment and build


def test_deploy_check_passes_in_production_configuration(postgres_url):
    # The check connects, and the test server has no TLS: the URL opts out of sslmode=require.
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", **production(DATABASE_URL=postgres_url + "?sslmode=disable")
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_check_fails_in_development_configuration():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production(DEBUG="true"))
    assert result.returncode != 0
    assert "security.W018" in result.stderr


def test_collectstatic_runs_with_build_time_configuration_only():
    """Heroku's build has config vars but no DYNO, and cannot reach the database or Redis."""
    result = manage(
        "collectstatic",
        "--noinput",
        DATABASE_URL="postgres://u:p@127.0.0.1:1/db",
        REDIS_URL="redis://127.0.0.1:1",
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "post-processed" in result.stdout
    assert (ROOT / "staticfiles" / "staticfiles.json").is_file()
