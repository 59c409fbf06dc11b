"""Per-client limits on the counter API, counted where every process sees the same numbers.

A limit allows a quota of requests per fixed window (a minute, an hour). The counter store counts
them (CounterStore.take: in Redis with the Redis store, or in the database, which counts while
Redis does not answer), so the limit holds across workers and dynos; if nothing can count, the
request is let through: a limit must not take the API down with its store. A view can carry its
limit's window to the store, which counts both in one round trip. Clients are known by the address
Heroku's router appended to X-Forwarded-For, kept only as a keyed hash.
"""

import hashlib
import hmac
import time
from dataclasses import dataclass

from django.conf import settings

from counter.engine.base import Window, get_store
from herokuapp.router import client_network


@dataclass(frozen=True)
class Limit:
    name: str
    setting: str
    window: int  # seconds

    @property
    def quota(self):
        return getattr(settings, self.setting)


API_REQUESTS = Limit("api", "COUNTER_API_REQUESTS_PER_MINUTE", 60)
CREATIONS = Limit("create", "COUNTER_CREATIONS_PER_HOUR", 3600)
STATS = Limit("stats", "COUNTER_STATS_REQUESTS_PER_MINUTE", 60)


@dataclass(frozen=True)
class Decision:
    limit: Limit
    count: int
    reset: int  # seconds until the window ends

    @property
    def allowed(self):
        return self.count <= self.limit.quota

    def headers(self):
        """The RateLimit and RateLimit-Policy fields of the IETF httpapi draft, and Retry-After when refused."""
        headers = {
            "RateLimit-Policy": f'"{self.limit.name}";q={self.limit.quota};w={self.limit.window}',
            "RateLimit": f'"{self.limit.name}";r={max(0, self.limit.quota - self.count)};t={self.reset}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset)
        return headers


def client_of(request):
    """A keyed hash of the client's network as Heroku's router gave it (see client_network)."""
    address = client_network(request.META)
    return hmac.new(settings.SECRET_KEY.encode(), address.encode(), hashlib.sha256).hexdigest()[:32]


def refuses_new_counter(request):
    """The creation limit's refusal if the client has made its hour's share of new counters, else
    None. Called only when a counter is about to be created: counting on one costs no allowance."""
    decision = take(CREATIONS, client_of(request))
    return None if decision.allowed else decision


def window(limit, client, now=None):
    """The window of ``limit`` that ``client``'s request made now falls in."""
    now = time.time() if now is None else now
    return Window(f"{limit.name}:{client}", int(now // limit.window), limit.quota, limit.window)


def decision(limit, window, used, now=None):
    """Whether the request that made ``used`` requests in ``window`` of ``limit`` is allowed (None:
    nothing could count it, so it is)."""
    now = time.time() if now is None else now
    reset = max(1, int((window.number + 1) * window.seconds - now + 0.999))
    return Decision(limit, used if used is not None else 0, reset)


def take(limit, client, now=None):
    """Count one request of ``client`` against ``limit`` and say whether it is allowed."""
    requested = window(limit, client, now)
    return decision(limit, requested, get_store().take(requested), now)
