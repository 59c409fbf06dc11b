"""Log formatting for Heroku's log router, which treats each line as one event."""

import logging


class OneLineFormatter(logging.Formatter):
    """Format a record, traceback included, on a single line by escaping its line breaks."""

    def format(self, record):
        return super().format(record).replace("\r", "\\r").replace("\n", "\\n")
