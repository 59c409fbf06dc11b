import io
import logging
import sys
import urllib.parse

import pytest

from herokuapp.log import OneLineFormatter, escape, logfmt_value
from tests.support.logfmt import parse, unescape

# The format the app's lines would take with their message as one quoted value.
QUOTED_MESSAGE = 'level=%(levelname)s logger=%(name)s msg="%(message)s"'
FORGED = 'x" status=500 client=6.6.6.6\nmethod=GET path="/" status=200 \u2028level=ERROR \\" y'


def record(message, exc_info=None, stack_info=None):
    return logging.LogRecord("herokuapp", logging.WARNING, __file__, 1, message, None, exc_info, sinfo=stack_info)


def raised():
    try:
        raise ValueError('boom "quoted"\nsecond line')
    except ValueError:
        return sys.exc_info()


# escape


def test_escape_leaves_printable_text_alone():
    assert escape("Not Found: /café/a b?x=1&y='2'") == "Not Found: /café/a b?x=1&y='2'"


def test_escape_escapes_backslashes_and_quotes():
    assert escape('a\\"b"') == 'a\\\\\\"b\\"'


@pytest.mark.parametrize(
    ("character", "escaped"),
    [
        ("\n", "\\n"),
        ("\r", "\\r"),
        ("\t", "\\t"),
        ("\x00", "\\x00"),
        ("\x0b", "\\x0b"),
        ("\x0c", "\\x0c"),
        ("\x1b", "\\x1b"),
        ("\x1c", "\\x1c"),
        ("\x7f", "\\x7f"),
        ("\x85", "\\x85"),
        ("\x9f", "\\x9f"),
        ("\xa0", "\\xa0"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
        ("\u202e", "\\u202e"),
        ("\ufeff", "\\ufeff"),
        ("\ud800", "\\ud800"),
        ("\U000e0041", "\\U000e0041"),
    ],
)
def test_escape_writes_each_control_separator_and_invisible_character_as_an_escape(character, escaped):
    assert escape(f"a{character}b") == f"a{escaped}b"


def test_escaped_text_is_printable_and_reads_back_as_it_was_for_every_character_of_the_basic_plane():
    """The basic plane holds every kind of control, separator, format character and surrogate."""
    every_character = "".join(map(chr, range(0x10000)))
    escaped = escape(every_character)
    assert escaped.isprintable(), "no control character, line or paragraph separator is left"
    assert escaped.splitlines() == [escaped]
    assert '"' not in escaped.replace("\\\\", "").replace('\\"', ""), "every quote is escaped"
    assert unescape(escaped) == every_character


# logfmt_value


@pytest.mark.parametrize("word", ["203.0.113.7", "2001:db8::1", "-", "café"])
def test_logfmt_value_is_a_plain_word_as_it_is(word):
    assert logfmt_value(word) == word


@pytest.mark.parametrize("text", ["", "a b", "a=b", 'a"b', "a\\b", "a\nb", "a\u2028b", "a\xa0b", "2 status=5\\"])
def test_logfmt_value_quotes_and_escapes_anything_else(text):
    value = logfmt_value(text)
    assert value == f'"{escape(text)}"'
    assert parse(f"key={value} status=200") == {"key": text, "status": "200"}


# OneLineFormatter


def test_one_line_formatter_writes_a_message_from_a_client_as_one_quoted_value():
    line = OneLineFormatter(QUOTED_MESSAGE).format(record(FORGED))
    assert parse(line) == {"level": "WARNING", "logger": "herokuapp", "msg": FORGED}


def test_one_line_formatter_keeps_the_traceback_inside_the_message():
    line = OneLineFormatter(QUOTED_MESSAGE).format(record("it broke", exc_info=raised()))
    fields = parse(line)
    assert fields.keys() == {"level", "logger", "msg"}
    assert fields["msg"].startswith("it broke\nTraceback (most recent call last):\n")
    assert fields["msg"].endswith('ValueError: boom "quoted"\nsecond line')


def test_one_line_formatter_keeps_the_stack_inside_the_message():
    line = OneLineFormatter(QUOTED_MESSAGE).format(
        record("where", stack_info='Stack (most recent call last):\n  File "x.py"')
    )
    assert parse(line)["msg"] == 'where\nStack (most recent call last):\n  File "x.py"'


# the app's lines, as settings.LOGGING writes them


@pytest.fixture
def app_log():
    """What the app's log handler writes during the test."""
    handler = next(
        handler for handler in logging.getLogger("django").handlers if isinstance(handler.formatter, OneLineFormatter)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_django_s_not_found_line_is_one_line_that_reads_back_the_client_s_path(client, app_log):
    path = "/nowhere%0Astatus=500%22client=6.6.6.6%5C%E2%80%A8%C2%85end/"
    assert client.get(path, headers={"X-Request-Id": "req-1"}, secure=True).status_code == 404
    lines = app_log.getvalue().splitlines()
    assert all(line.isprintable() for line in lines)
    django_escaped = (
        urllib.parse.unquote(path).encode("unicode_escape").decode("ascii")
    )  # Django escapes it, then the line
    assert [parse(line) for line in lines] == [
        {"level": "WARNING", "logger": "django.request", "request_id": "req-1", "msg": f"Not Found: {django_escaped}"}
    ]
