import pytest

from herokuapp import environment as env
from herokuapp.environment import ConfigurationError

SQLITE_DEFAULT = "sqlite:////tmp/default.sqlite3"
HEROKU_POSTGRES = "postgres://alice:s3cr3t-pa55@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d1abc"


def database(monkeypatch, url=None, require_ssl=False):
    if url is None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("DATABASE_URL", url)
    return env.database("DATABASE_URL", default=SQLITE_DEFAULT, conn_max_age=600, require_ssl=require_ssl)


def redis_url(monkeypatch, url):
    monkeypatch.setenv("REDIS_URL", url)
    return env.redis_url("REDIS_URL")


# boolean


@pytest.mark.parametrize("spelling", ["1", "true", "True", "TRUE", "yes", "on", " true "])
def test_boolean_reads_true_spellings(monkeypatch, spelling):
    monkeypatch.setenv("FLAG", spelling)
    assert env.boolean("FLAG") is True


@pytest.mark.parametrize("spelling", ["0", "false", "False", "no", "off", ""])
def test_boolean_reads_false_spellings(monkeypatch, spelling):
    monkeypatch.setenv("FLAG", spelling)
    assert env.boolean("FLAG", default=True) is False


@pytest.mark.parametrize("default", [True, False])
def test_boolean_is_the_default_when_unset(monkeypatch, default):
    monkeypatch.delenv("FLAG", raising=False)
    assert env.boolean("FLAG", default=default) is default


def test_boolean_rejects_other_words_naming_the_variable_and_value(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ConfigurationError, match=r"^FLAG must be true or false, not 'maybe'$"):
        env.boolean("FLAG")


def test_configuration_error_is_an_improperly_configured():
    from django.core.exceptions import ImproperlyConfigured

    assert issubclass(ConfigurationError, ImproperlyConfigured)


# integer


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_integer_is_the_default_when_unset_or_blank(monkeypatch, raw):
    if raw is None:
        monkeypatch.delenv("NUMBER", raising=False)
    else:
        monkeypatch.setenv("NUMBER", raw)
    assert env.integer("NUMBER", 8000, minimum=1, maximum=65535) == 8000


def test_integer_reads_a_whole_number(monkeypatch):
    monkeypatch.setenv("NUMBER", " 5000 ")
    assert env.integer("NUMBER", 8000, minimum=1, maximum=65535) == 5000


@pytest.mark.parametrize("value", ["1", "65535"])
def test_integer_accepts_its_bounds(monkeypatch, value):
    monkeypatch.setenv("NUMBER", value)
    assert env.integer("NUMBER", 8000, minimum=1, maximum=65535) == int(value)


@pytest.mark.parametrize("value", ["0", "65536", "-1"])
def test_integer_outside_both_bounds_is_an_error_stating_the_range(monkeypatch, value):
    monkeypatch.setenv("NUMBER", value)
    with pytest.raises(ConfigurationError, match=rf"^NUMBER must be from 1 to 65535, not {value}$"):
        env.integer("NUMBER", 8000, minimum=1, maximum=65535)


def test_integer_below_a_minimum_only_is_an_error_stating_the_minimum(monkeypatch):
    monkeypatch.setenv("NUMBER", "0")
    with pytest.raises(ConfigurationError, match=r"^NUMBER must be at least 1, not 0$"):
        env.integer("NUMBER", 2, minimum=1)


def test_integer_without_bounds_accepts_any_whole_number(monkeypatch):
    monkeypatch.setenv("NUMBER", "-40")
    assert env.integer("NUMBER", 2) == -40


@pytest.mark.parametrize("value", ["eighty", "8.5", "80x"])
def test_integer_that_is_not_a_number_is_an_error_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("NUMBER", value)
    with pytest.raises(ConfigurationError, match=rf"^NUMBER must be a whole number, not '{value}'$"):
        env.integer("NUMBER", 2)


# choice


def test_choice_is_the_default_when_unset(monkeypatch):
    monkeypatch.delenv("LEVEL", raising=False)
    assert env.choice("LEVEL", "info", {"debug", "info"}) == "info"


def test_choice_is_case_insensitive_and_stripped(monkeypatch):
    monkeypatch.setenv("LEVEL", " DEBUG ")
    assert env.choice("LEVEL", "info", {"debug", "info"}) == "debug"


def test_choice_outside_the_choices_is_an_error_listing_them(monkeypatch):
    monkeypatch.setenv("LEVEL", "loud")
    with pytest.raises(ConfigurationError, match=r"^LEVEL must be one of debug, info, not 'loud'$"):
        env.choice("LEVEL", "info", {"info", "debug"})


# comma_list


def test_comma_list_strips_spaces_around_items(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example.com ,b.example.com,  c ")
    assert env.comma_list("HOSTS") == ["a.example.com", "b.example.com", "c"]


def test_comma_list_drops_empty_items(monkeypatch):
    monkeypatch.setenv("HOSTS", ",a,, ,b,")
    assert env.comma_list("HOSTS") == ["a", "b"]


def test_comma_list_set_but_empty_is_an_empty_list_not_the_default(monkeypatch):
    monkeypatch.setenv("HOSTS", "")
    assert env.comma_list("HOSTS", default=["x"]) == []


def test_comma_list_is_the_default_when_unset(monkeypatch):
    monkeypatch.delenv("HOSTS", raising=False)
    assert env.comma_list("HOSTS", default=("x", "y")) == ["x", "y"]


# database


def test_database_is_the_sqlite_default_when_unset(monkeypatch):
    config = database(monkeypatch)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == "/tmp/default.sqlite3"


def test_database_blank_url_is_the_default(monkeypatch):
    assert database(monkeypatch, "  ")["NAME"] == "/tmp/default.sqlite3"


def test_database_parses_the_postgres_url_heroku_gives(monkeypatch):
    config = database(monkeypatch, HEROKU_POSTGRES)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["NAME"] == "d1abc"
    assert config["HOST"] == "ec2-1-2-3-4.compute-1.amazonaws.com"
    assert config["PORT"] == 5432
    assert config["USER"] == "alice"
    assert config["PASSWORD"] == "s3cr3t-pa55"


@pytest.mark.parametrize("url", [None, HEROKU_POSTGRES])
def test_database_connections_persist_ten_minutes_and_are_health_checked(monkeypatch, url):
    config = database(monkeypatch, url)
    assert config["CONN_MAX_AGE"] == 600
    assert config["CONN_HEALTH_CHECKS"] is True


def test_database_postgres_requires_ssl_when_asked(monkeypatch):
    config = database(monkeypatch, HEROKU_POSTGRES, require_ssl=True)
    assert config["OPTIONS"]["sslmode"] == "require"


def test_database_postgres_has_no_sslmode_when_not_asked(monkeypatch):
    config = database(monkeypatch, HEROKU_POSTGRES, require_ssl=False)
    assert "sslmode" not in config.get("OPTIONS", {})


def test_database_sqlite_never_gets_sslmode(monkeypatch):
    config = database(monkeypatch, require_ssl=True)
    assert "sslmode" not in config.get("OPTIONS", {})


def test_database_sslmode_in_the_url_wins_over_require_ssl(monkeypatch):
    config = database(monkeypatch, HEROKU_POSTGRES + "?sslmode=disable", require_ssl=True)
    assert config["OPTIONS"]["sslmode"] == "disable"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nonsense", r"DATABASE_URL must start with postgres:// or sqlite://, not 'nonsense'"),
        ("mysql://u:s3cr3t-pa55@h/db", r"DATABASE_URL must start with postgres:// or sqlite://, not 'mysql'"),
        ("oracle://u:s3cr3t-pa55@h/db", r"DATABASE_URL must start with postgres:// or sqlite://, not 'oracle'"),
        ("postgres://u:s3cr3t-pa55@h:notaport/db", r"DATABASE_URL is not a well-formed URL"),
        ("postgres://u:s3cr3t-pa55@h:99999/db", r"DATABASE_URL is not a well-formed URL"),
        ("postgres://u:s3cr3t-pa55@/db", r"DATABASE_URL must name a host and a database"),
        ("postgres:///db", r"DATABASE_URL must name a host and a database"),
        ("postgres://u:s3cr3t-pa55@h:5432/", r"DATABASE_URL must name a host and a database"),
    ],
    ids=[
        "no-scheme",
        "mysql",
        "oracle",
        "port-not-a-number",
        "port-out-of-range",
        "no-host",
        "no-host-or-user",
        "no-db",
    ],
)
def test_database_rejects_a_bad_url_naming_the_variable_without_the_password(monkeypatch, url, expected):
    with pytest.raises(ConfigurationError, match=f"^{expected}") as error:
        database(monkeypatch, url)
    assert "s3cr3t-pa55" not in str(error.value)


# redis_url


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost:6379",
        "redis://:pw@redis.example.com:6379/0",
        "rediss://:pw@ec2-1-2-3-4.compute-1.amazonaws.com:6380",
    ],
)
def test_redis_url_accepts_redis_and_rediss_urls_unchanged(monkeypatch, url):
    assert redis_url(monkeypatch, url) == url


@pytest.mark.parametrize("raw", ["", "  "])
def test_redis_url_blank_is_empty(monkeypatch, raw):
    assert redis_url(monkeypatch, raw) == ""


def test_redis_url_unset_is_empty(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert env.redis_url("REDIS_URL") == ""


def test_redis_url_rejects_another_scheme(monkeypatch):
    with pytest.raises(
        ConfigurationError, match=r"^REDIS_URL must start with redis://, rediss:// or unix://, not 'http'$"
    ):
        redis_url(monkeypatch, "http://x")


@pytest.mark.parametrize("url", ["redis://h:notaport", "redis://h:99999"])
def test_redis_url_rejects_a_bad_port(monkeypatch, url):
    with pytest.raises(ConfigurationError, match=r"^REDIS_URL is not a Redis URL \("):
        redis_url(monkeypatch, url)


@pytest.mark.parametrize("url", ["redis://", "redis://:pw@:6379", "rediss:///0"])
def test_redis_url_rejects_a_url_without_host(monkeypatch, url):
    with pytest.raises(ConfigurationError, match=r"^REDIS_URL must name a host"):
        redis_url(monkeypatch, url)


@pytest.mark.parametrize(
    "url",
    [
        "http://:s3cr3t-pa55@h:6379",
        "redis://:s3cr3t-pa55@h:notaport",
        "redis://:s3cr3t-pa55@:6379",
        "//:s3cr3t-pa55@h:6379",
    ],
    ids=["http", "bad-port", "no-host", "no-scheme"],
)
def test_redis_url_error_never_shows_the_password(monkeypatch, url):
    with pytest.raises(ConfigurationError, match=r"^REDIS_URL ") as error:
        redis_url(monkeypatch, url)
    assert "s3cr3t-pa55" not in str(error.value)


# exit_on_configuration_error


def test_exit_on_configuration_error_exits_with_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(SystemExit) as exit:
        with env.exit_on_configuration_error():
            env.boolean("DEBUG")
    message = exit.value.code
    assert isinstance(message, str)
    assert message == "herokuapp: configuration error: DEBUG must be true or false, not 'maybe'"
    assert "\n" not in message


def test_exit_on_configuration_error_keeps_a_multiline_value_on_one_line(monkeypatch):
    monkeypatch.setenv("DEBUG", "yes\nno")
    with pytest.raises(SystemExit) as exit:
        with env.exit_on_configuration_error():
            env.boolean("DEBUG")
    assert "DEBUG" in exit.value.code
    assert "\n" not in exit.value.code


def test_exit_on_configuration_error_lets_other_errors_through():
    with pytest.raises(ValueError):
        with env.exit_on_configuration_error():
            raise ValueError("not a configuration problem")


def test_redis_url_scheme_must_be_lowercase_as_redis_py_reads_it(monkeypatch):
    with pytest.raises(ConfigurationError, match="REDIS_URL must start with redis://"):
        redis_url(monkeypatch, "REDISS://:pw@h:6379")


# http_url


def http_url(monkeypatch, url):
    monkeypatch.setenv("ENDPOINT", url)
    return env.http_url("ENDPOINT", example="https://minio.example.com:9000")


@pytest.mark.parametrize(
    "url", ["https://0123abc.r2.cloudflarestorage.com", "http://127.0.0.1:9000", "https://minio.example.com:9000/"]
)
def test_http_url_accepts_http_and_https_urls_with_a_host(monkeypatch, url):
    assert http_url(monkeypatch, url) == url


def test_http_url_is_empty_when_unset(monkeypatch):
    monkeypatch.delenv("ENDPOINT", raising=False)
    assert env.http_url("ENDPOINT", example="https://minio.example.com") == ""


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://files.example.com", r"^ENDPOINT must start with https:// or http://, not 'ftp'$"),
        ("minio.example.com", r"^ENDPOINT must start with https:// or http://, not 'a URL without a scheme'$"),
        ("https://", r"^ENDPOINT must name a host, as https://minio.example.com:9000$"),
        ("http://minio:99999", r"^ENDPOINT is not a URL \(Port out of range 0-65535\)$"),
    ],
)
def test_http_url_rejects_other_urls_naming_the_variable(monkeypatch, url, message):
    with pytest.raises(ConfigurationError, match=message):
        http_url(monkeypatch, url)


def test_number_reads_fractions_and_defaults_when_unset(monkeypatch):
    monkeypatch.setenv("COUNTER_FLUSH_INTERVAL", "0.25")
    assert env.number("COUNTER_FLUSH_INTERVAL", 1.0, minimum=0.1, maximum=60) == 0.25
    monkeypatch.delenv("COUNTER_FLUSH_INTERVAL")
    assert env.number("COUNTER_FLUSH_INTERVAL", 1.0, minimum=0.1, maximum=60) == 1.0


@pytest.mark.parametrize(
    "raw, message",
    [
        ("soon", "must be a number, not 'soon'"),
        ("61", "must be from 0.1 to 60, not 61"),
        ("0", "must be from 0.1 to 60, not 0"),
    ],
)
def test_number_names_the_variable_when_wrong(monkeypatch, raw, message):
    monkeypatch.setenv("COUNTER_FLUSH_INTERVAL", raw)
    with pytest.raises(ConfigurationError, match=f"^COUNTER_FLUSH_INTERVAL {message}$"):
        env.number("COUNTER_FLUSH_INTERVAL", 1.0, minimum=0.1, maximum=60)
