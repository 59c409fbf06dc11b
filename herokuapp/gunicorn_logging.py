"""gunicorn's logger for Heroku: everything on stdout, one line per event, and access lines in logfmt.

The access line carries the router's X-Request-Id, the client address the router appended to
X-Forwarded-For, and the time the request waited between the router and the dyno (from
X-Request-Start, milliseconds since the epoch). Every text in it is escaped by herokuapp.log's one
rule, so that a client can neither start a line of its own nor add fields to this one.
"""

import sys
import time
from collections.abc import Mapping

from gunicorn.glogging import Logger

from herokuapp.log import OneLineFormatter, escape, logfmt_value
from herokuapp.router import client_address

# Values that may hold a space are quoted. The method (gunicorn takes only a token), the status and
# the request id (the app's own, checked by herokuapp.request_id) are one word; the client is quoted
# by EscapedAtoms when it is more than one.
ACCESS_LOG_FORMAT = (
    'method=%(m)s path="%(U)s" status=%(s)s duration=%(M)sms queue=%(queue)s '
    'request_id=%({x-request-id}o)s client=%(client)s fwd="%({x-forwarded-for}i)s" '
    'bytes=%(B)s user_agent="%(a)s" query="%(q)s"'
)


def queue_time(request_start_header, received_at):
    """Milliseconds between the router's X-Request-Start and ``received_at``, or '-' if unknown."""
    try:
        started = int(request_start_header)
    except (TypeError, ValueError):
        return "-"
    return f"{max(0, round(received_at * 1000) - started)}ms"


class EscapedAtoms(Mapping):
    """gunicorn's SafeAtoms, one atom at a time: each text escaped to sit between quotes, and '-'
    for an atom not known.

    ``client`` is written without quotes, and without a router in front every X-Forwarded-For entry
    is the client's: it is quoted when it is more than one plain word.
    """

    unquoted = frozenset({"client"})

    def __init__(self, atoms):
        self.atoms = atoms

    def __getitem__(self, key):
        try:
            value = self.atoms[key.lower() if key.startswith("{") else key]
        except KeyError:
            return "-"
        if not isinstance(value, str):
            return value
        return logfmt_value(value) if key in self.unquoted else escape(value)

    def __iter__(self):
        return iter(self.atoms)

    def __len__(self):
        return len(self.atoms)


class HerokuLogger(Logger):
    atoms_wrapper_class = EscapedAtoms

    def setup(self, cfg):
        """gunicorn's own lines go to stdout, as Heroku collects it, each message (a client's
        request line or a traceback among them) escaped onto its line."""
        super().setup(cfg)
        for handler in self.error_log.handlers:
            if getattr(handler, "stream", None) is sys.stderr:
                handler.setStream(sys.stdout)
            handler.setFormatter(OneLineFormatter(self.error_fmt, self.datefmt))

    def atoms(self, resp, req, environ, request_time):
        """gunicorn's atoms and the two it lacks: ``queue``, the wait between the router and the
        dyno, and ``client``, the address the router appended to X-Forwarded-For."""
        atoms = super().atoms(resp, req, environ, request_time)
        received_at = time.time() - request_time.total_seconds()
        atoms["queue"] = queue_time(environ.get("HTTP_X_REQUEST_START"), received_at)
        atoms["client"] = client_address(environ) or "-"
        return atoms
