"""gunicorn's logger for Heroku: everything on stdout, and access lines in logfmt.

The access line carries the router's X-Request-Id, the client address the router appended to
X-Forwarded-For, and the time the request waited between the router and the dyno (from
X-Request-Start, milliseconds since the epoch).
"""

import sys
import time

from gunicorn.glogging import Logger

from herokuapp.router import client_address

ACCESS_LOG_FORMAT = (
    'method=%(m)s path="%(U)s" status=%(s)s duration=%(M)sms queue=%(queue)s '
    'request_id=%({x-request-id}o)s client=%(client)s fwd="%({x-forwarded-for}i)s" '
    'bytes=%(B)s user_agent="%(a)s"'
)


def queue_time(request_start_header, received_at):
    """Milliseconds between the router's X-Request-Start and ``received_at``, or '-' if unknown."""
    try:
        started = int(request_start_header)
    except (TypeError, ValueError):
        return "-"
    return f"{max(0, round(received_at * 1000) - started)}ms"


class HerokuLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers:
            if getattr(handler, "stream", None) is sys.stderr:
                handler.setStream(sys.stdout)

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        received_at = time.time() - request_time.total_seconds()
        atoms["queue"] = queue_time(environ.get("HTTP_X_REQUEST_START"), received_at)
        atoms["client"] = client_address(environ) or "-"
        return atoms
