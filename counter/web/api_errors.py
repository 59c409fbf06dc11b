"""The errors Django answers itself (herokuapp/urls.py names these handler400 to handler500).

Under /api/ they are the API's JSON errors, readable from any origin as the endpoints' are: an
unknown path or a refused Host is still an answer a script can read. Every other path gets the
site's own error page.
"""

import sys

from django.core.exceptions import DisallowedHost
from django.views import defaults

from counter.web import unavailable
from counter.web.api import error_response, is_api


def bad_request(request, exception):
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, DisallowedHost):
        # Names neither the Host sent nor the hosts allowed: the answer tells nothing a client did not know.
        return error_response(400, "unknown_host", "this app does not serve the host named in the Host header")
    return error_response(400, "bad_request", "the request is malformed")


def permission_denied(request, exception):
    if not is_api(request):
        return defaults.permission_denied(request, exception)
    return error_response(403, "forbidden", "this request is not allowed")


def page_not_found(request, exception):
    if not is_api(request):
        return defaults.page_not_found(request, exception)
    return error_response(404, "not_found", "there is no such API route; /api/v1/openapi.json lists them all")


def server_error(request):
    """A middleware's outage is a 503 as a view's is (counter.web.unavailable); anything else a 500."""
    if isinstance(sys.exception(), unavailable.OUTAGES):
        return unavailable.response(request)
    if not is_api(request):
        return defaults.server_error(request)
    return error_response(500, "server_error", "something went wrong on the server; the error is logged, try again")
