"""Log lines for Heroku's log router, which takes each line as one event.

Every text a line carries goes through escape(): whatever a client put in it, it can neither break
the line nor close the quotes around a value to add fields of its own.
"""

import logging

ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
BARE_WORD_BREAKERS = frozenset(' ="\\')


def escape(text):
    """``text`` fit to sit between double quotes on one line: backslashes and quotes escaped, and
    every character that is not printable (controls, line and paragraph separators, invisible
    format characters, spaces other than ' ') written as \\n, \\r, \\t, \\xNN, \\uNNNN or \\UNNNNNNNN."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return "".join(map(escape_character, text))


def escape_character(character):
    if character in ESCAPES:
        return ESCAPES[character]
    if character.isprintable():
        return character
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def logfmt_value(text):
    """``text`` as a logfmt value: as it is if it is one plain word, otherwise escaped and quoted."""
    if text and text.isprintable() and BARE_WORD_BREAKERS.isdisjoint(text):
        return text
    return f'"{escape(text)}"'


class OneLineFormatter(logging.Formatter):
    """Format a record on one line, its message escaped with the traceback or stack that follows it,
    so that the format can put it between quotes as one value."""

    def format(self, record):
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        stack = record.stack_info and self.formatStack(record.stack_info)
        message = "\n".join(part for part in (record.message, record.exc_text, stack) if part)
        return self.formatMessage(logging.makeLogRecord({**record.__dict__, "message": escape(message)}))
