"""A strict logfmt reader, to check what a log line says as a log reader would read it."""

import re

PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"=\\]*)(?: |$)')
ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[\\\"nrt])")
SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}


def unescape(text):
    """The text herokuapp.log.escape() was given; any backslash it did not write is an error."""
    if "\\" in ESCAPE.sub("", text):
        raise ValueError(f"a backslash that starts no escape in {text!r}")
    return ESCAPE.sub(lambda match: SIMPLE_ESCAPES.get(match[1]) or chr(int(match[1][1:], 16)), text)


def parse(line):
    """The fields of one logfmt line, values unquoted and unescaped; ValueError if anything in the
    line is not a ``key=value`` pair, if a key comes twice or if the line is more than one line."""
    if line.splitlines() != [line]:
        raise ValueError(f"not one line: {line!r}")
    fields, position = {}, 0
    while position < len(line):
        pair = PAIR.match(line, position)
        if pair is None:
            raise ValueError(f"no key=value pair at {position} in {line!r}")
        key, value = pair[1], pair[2]
        if key in fields:
            raise ValueError(f"{key} twice in {line!r}")
        fields[key] = unescape(value[1:-1]) if value.startswith('"') else value
        position = pair.end()
    return fields
