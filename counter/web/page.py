"""The counter page's fast path: a WSGI layer in front of Django that answers ``GET /`` itself.

The home page is the hottest path there is, and Django's request cycle (building the request,
the middleware stack, URL resolving, the template engine) costs several times the view's own
work: counting a view is one Redis round trip. So each process asks Django, once, to render the
page with a marker in place of the count, headers and all, through the whole stack: the security
and CSP headers, the cache headers, the template. Then it answers each plain request by counting
the view and putting the number in place of the marker; a known crawler's request
(counter.features.bots) is answered alike, with the count as it stands.

What Django would answer differently never takes this path: a method other than GET, another
path, a body without a length (Django answers 411), a Host that ALLOWED_HOSTS refuses (Django
answers 400), a request that did not come over HTTPS (Django redirects it), or a prototype that
set a cookie or varies. What the stack does per
request that matters here is done here too: the router's X-Request-Id is taken, logged and
echoed; the database connections are checked before and after, as Django's request_started and
request_finished signals do (the rest of those signals' work concerns URLconfs and caches, which
this path never touches); and when counting fails, Django renders the 503 page.
"""

import threading
import time

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import close_old_connections
from django.http import HttpRequest
from django.template.loader import get_template
from django.utils.http import http_date
from django.utils.module_loading import import_string

from counter.engine.base import STORES, CounterUnavailable, get_store
from counter.features import bots, page_image
from herokuapp import process_state
from herokuapp.request_id import current_request_id, request_id_of

PAGE = "index"
# The WSGI environ key that hands the view what this layer counted. Clients cannot set it: the
# server puts their headers under HTTP_ names.
COUNTED = "counter.counted"
MARKER = "\x00count\x00"
# Headers that differ from one response to the next, set by this layer for each.
PER_RESPONSE = {"content-length", "expires", "x-request-id", "date"}
KNOWN_HOSTS_KEPT = 64
PROTOTYPES_KEPT = 8

# This process's prototypes, by Host and page image, and its verdicts on Host headers: rendered
# from settings and the page's templates, so dropped with the rest of herokuapp.process_state.
kept_prototypes = {}
known_hosts = {}
_prototypes_lock = threading.Lock()
process_state.on_reset(kept_prototypes.clear)
process_state.on_reset(known_hosts.clear)


class Counted:
    """What the view shows: the number and how it is written. ``views`` is None if counting failed."""

    def __init__(self, views, display=None):
        self.views = views
        self.display = f"{views:,}" if display is None and views is not None else display


class Prototype:
    """The page as Django renders it around a marker: status line, fixed headers, and the body in two parts."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = [(name, value) for name, value in headers if name.lower() not in PER_RESPONSE]
        self.before, self.after = body.split(MARKER.encode())


class CounterPage:
    """Wraps Django's WSGI application; ``GET /`` is answered from a prototype when it can be."""

    def __init__(self, django):
        self.django = django
        # Built in gunicorn's master, which preloads the app: what each worker's first page would
        # load is loaded here once and shared by the forked workers (about 2 MiB each). That is the
        # templates of the page and of its 503, with every template library, and the configured
        # store's code (with Redis, redis-py: about 9 MiB and 80 ms of imports). Only code: the
        # store and its connections are created in each worker, after the fork.
        get_template("counter/index.html")
        get_template("503.html")
        import_string(STORES[settings.COUNTER_STORE])
        self.expires = (None, "")

    def __call__(self, environ, start_response):
        if (
            environ.get("PATH_INFO") != "/"
            or environ.get("REQUEST_METHOD") != "GET"
            or "HTTP_TRANSFER_ENCODING" in environ
            or not self.plain(environ)
        ):
            return self.django(environ, start_response)
        close_old_connections()
        request_id = request_id_of(environ)
        token = current_request_id.set(request_id)
        try:
            prototypes = self.prototypes_for(environ, page_image.current())
            views = None
            if prototypes:
                views = get_store().get(PAGE) if bots.uncounted(environ) else get_store().hit(PAGE)
        except CounterUnavailable:
            views = None
        finally:
            current_request_id.reset(token)
            close_old_connections()
        if prototypes is None:
            return self.django(environ, start_response)
        if views is None:
            return self.django(dict(environ, **{COUNTED: Counted(None)}), start_response)
        prototype = prototypes[views == 1]
        body = b"".join((prototype.before, f"{views:,}".encode(), prototype.after))
        start_response(
            prototype.status,
            [
                *prototype.headers,
                ("Expires", self.expires_now()),
                ("Content-Length", str(len(body))),
                ("X-Request-Id", request_id),
            ],
        )
        return [body]

    def expires_now(self):
        """The Expires header of a response sent now, as Django's cache headers set it: the current
        second, formatted once per second."""
        second = int(time.time())
        formatted_for, expires = self.expires
        if formatted_for != second:
            expires = http_date(second)
            self.expires = (second, expires)
        return expires

    def plain(self, environ):
        """Whether Django would accept this request's Host and see it as HTTPS (decided once per pair)."""
        key = (environ.get("HTTP_HOST"), environ.get("HTTP_X_FORWARDED_PROTO"), environ.get("wsgi.url_scheme"))
        known = known_hosts.get(key)
        if known is None:
            request = HttpRequest()
            request.META = {
                name: environ[name]
                for name in ("HTTP_HOST", "HTTP_X_FORWARDED_PROTO", "wsgi.url_scheme", "SERVER_NAME", "SERVER_PORT")
                if name in environ
            }
            try:
                known = bool(key[0]) and bool(request.get_host()) and request.is_secure()
            except DisallowedHost:
                known = False
            if len(known_hosts) >= KNOWN_HOSTS_KEPT:
                known_hosts.clear()  # a client sending ever new Host headers must not grow it
            known_hosts[key] = known
        return known

    def prototypes_for(self, environ, image):
        """The page for this Host and the image shown now, as (plural, singular) prototypes,
        rendered by Django on first use in this process; None if Django's answer cannot be reused.

        The Host is part of the key so that a page that ever shows it can't show another's.
        """
        key = (environ["HTTP_HOST"], image and (image.pk, image.file.name, image.alt))
        prototypes = kept_prototypes.get(key)
        if prototypes is None:
            prototypes = (self.render_prototype(environ, 2), self.render_prototype(environ, 1))
            if not all(prototypes):
                prototypes = False
            with _prototypes_lock:
                if len(kept_prototypes) >= PROTOTYPES_KEPT:
                    kept_prototypes.clear()  # other images replaced the one shown, or many hosts
                kept_prototypes[key] = prototypes
        return prototypes or None

    def render_prototype(self, environ, views):
        answer = {}

        def keep(status, headers, exc_info=None):
            answer.update(status=status, headers=headers)

        prototype_environ = dict(environ, **{COUNTED: Counted(views, MARKER)})
        prototype_environ.pop("HTTP_COOKIE", None)
        response = self.django(prototype_environ, keep)
        try:
            body = b"".join(response)
        finally:
            response.close()
        usable = (
            answer["status"].startswith("200 ")
            and body.count(MARKER.encode()) == 1
            and not any(name.lower() in {"set-cookie", "vary"} for name, _ in answer["headers"])
        )
        return Prototype(answer["status"], answer["headers"], body) if usable else False
