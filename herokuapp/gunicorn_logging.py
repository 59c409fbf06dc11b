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


class AccessAtoms(Mapping):
    """The atoms of one access line, each worked out when the format asks for it.

    gunicorn's own atoms are built in full for every request: each request header, response
    header and WSGI variable, the time in Apache's format, the process id. The line uses eleven
    of them. Those eleven are worked out here as gunicorn would; any other atom a format asks for
    comes from gunicorn's own, built once for the line.
    """

    def __init__(self, logger, resp, req, environ, request_time):
        self.logger = logger
        self.resp, self.req, self.environ, self.request_time = resp, req, environ, request_time
        self.full = None

    def __getitem__(self, key):
        if key.startswith("{") and key[-2:] in ("}i", "}o"):
            headers = self.req.headers if key[-1] == "i" else self.resp.headers
            return header(headers, key[1:-2])
        atom = getattr(self, f"atom_{key}", None)
        if atom is not None:
            return atom()
        return self.gunicorn_atoms()[key]

    def gunicorn_atoms(self):
        if self.full is None:
            self.full = Logger.atoms(self.logger, self.resp, self.req, self.environ, self.request_time)
        return self.full

    def __iter__(self):
        yield from self.gunicorn_atoms()
        yield from ("queue", "client")

    def __len__(self):
        return len(self.gunicorn_atoms()) + 2

    def atom_m(self):
        return self.environ.get("REQUEST_METHOD")

    def atom_U(self):
        return self.environ.get("PATH_INFO")

    def atom_q(self):
        return self.environ.get("QUERY_STRING")

    def atom_s(self):
        status = self.resp.status
        return status.split(None, 1)[0] if isinstance(status, str) else status

    def atom_M(self):
        return self.request_time.seconds * 1000 + self.request_time.microseconds // 1000

    def atom_B(self):
        return getattr(self.resp, "sent", None)

    def atom_a(self):
        return self.environ.get("HTTP_USER_AGENT", "-")

    def atom_queue(self):
        received_at = time.time() - self.request_time.total_seconds()
        return queue_time(self.environ.get("HTTP_X_REQUEST_START"), received_at)

    def atom_client(self):
        return client_address(self.environ) or "-"


def header(headers, name):
    """The value of the last header called ``name`` (any case), as gunicorn's atoms keep it."""
    name = name.lower()
    for key, value in reversed(headers):
        if key.lower() == name:
            return value
    raise KeyError(name)


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

    def __bool__(self):  # logging formats with a mapping only if it is true; len() would build it all
        return True


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
        return AccessAtoms(self, resp, req, environ, request_time)
