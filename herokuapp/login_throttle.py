"""How django-axes knows a client and answers a login it locked out (see AXES_* in settings).

The client is the address Heroku's router appended, never one a client wrote in a header itself.
A lockout is a 429 that says when to try again, in the page and in the same Retry-After and
RateLimit fields as the counter API's limits.
"""

import ipaddress
import math

from django.conf import settings
from django.shortcuts import render

from herokuapp.router import client_network

POLICY = "login"


def client(request):
    """The client as the throttle counts it (see client_network): its IPv4 address, or its IPv6 /64
    written as the network's first address, since axes stores an address. Text that is no address,
    which only a request that bypassed the router can carry, counts as one client: None."""
    try:
        return str(ipaddress.ip_network(client_network(request.META), strict=False).network_address)
    except ValueError:
        return None


def lockout_response(request, response, credentials):
    """The lockout page. Axes counts every locked-out attempt as a failure, which starts the
    cool-off again, so the lockout ends one whole cool-off from now."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    limit = settings.AXES_FAILURE_LIMIT
    locked = render(request, "login_locked.html", {"limit": limit, "minutes": math.ceil(seconds / 60)}, status=429)
    locked.headers["Retry-After"] = str(seconds)
    locked.headers["RateLimit-Policy"] = f'"{POLICY}";q={limit};w={seconds}'
    locked.headers["RateLimit"] = f'"{POLICY}";r=0;t={seconds}'
    return locked
