"""The counter API, version 1: JSON over HTTP, callable from any web page (CORS).

Every error is JSON too, ``{"error": {"status", "code", "message"}}``, with the status that
says what went wrong: the endpoints' own, and those Django answers for any path under /api/
(counter.web.api_errors). Wherever GET works, HEAD does too, and never counts. The API is described
by counter/web/openapi.json, served at /api/v1/openapi.json.
"""

import functools
import json
from pathlib import Path

from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.csrf import csrf_exempt

from counter.engine.base import CounterUnavailable, get_store
from counter.features import carried_history, named, rate_limits
from counter.features import export as exports
from herokuapp.health import RETRY_AFTER_SECONDS

OPENAPI = Path(__file__).with_name("openapi.json")
# Every path under this prefix is the API's, known or not.
PREFIX = "/api/"
MAX_BODY_BYTES = 1024
# A creation may carry a history (counter.features.carried_history): 3,660 days of some 60 bytes each.
MAX_CREATE_BODY_BYTES = 256 * 1024
EXPORT_FORMATS = {"json", "csv"}
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Retry-After, RateLimit, RateLimit-Policy, X-Request-Id",
    # Other sites' pages may read these responses: CORS allows it, and so must this policy.
    "Cross-Origin-Resource-Policy": "cross-origin",
}
PREFLIGHT_MAX_AGE = 86400


class ApiError(Exception):
    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self):
        response = JsonResponse(
            {"error": {"status": self.status, "code": self.code, "message": self.message}}, status=self.status
        )
        for name, value in self.headers.items():
            response[name] = value
        return response


def is_api(request):
    """Whether a request is addressed to the API, and so answered in JSON, errors included."""
    return request.path_info.startswith(PREFIX)


def for_any_origin(response):
    """Make ``response`` readable from any origin (CORS) and never cached, as every answer of the API is."""
    for name, value in CORS_HEADERS.items():
        response[name] = value
    add_never_cache_headers(response)
    return response


def error_response(status, code, message):
    """An API error answered outside an endpoint, as an endpoint would answer it."""
    return for_any_origin(ApiError(status, code, message).response())


# What the counters' own exceptions mean in HTTP.
ERRORS = {
    named.InvalidName: lambda error: ApiError(400, "invalid_name", str(error)),
    named.UnknownCounter: lambda error: ApiError(404, "unknown_counter", f"there is no counter {error}"),
    named.CounterExists: lambda error: ApiError(409, "counter_exists", f"the counter {error} exists already"),
    named.TokenRequired: lambda error: ApiError(
        401,
        "token_required",
        "send the counter's admin token as 'Authorization: Bearer <token>'",
        {"WWW-Authenticate": 'Bearer realm="counters"'},
    ),
    named.WrongToken: lambda error: ApiError(403, "wrong_token", f"that token is not the admin token of {error}"),
    carried_history.InvalidHistory: lambda error: ApiError(400, "invalid_history", str(error)),
    CounterUnavailable: lambda error: unavailable(),
    DatabaseError: lambda error: unavailable(),
}


def unavailable():
    return ApiError(
        503, "unavailable", "counting is unavailable for a moment; try again", {"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


def endpoint(*methods, limited=True, max_body=MAX_BODY_BYTES):
    """Make a view an API endpoint: JSON errors, CORS (with preflight), no caching, no CSRF (the
    API takes no cookies), a bound on request bodies (``max_body`` bytes), and the per-client rate
    limit unless ``limited`` is False. An endpoint that takes GET takes HEAD too; the view answers
    HEAD as GET, and the server leaves out the body."""
    if "GET" in methods:
        methods = (*methods, "HEAD")
    allowed = ", ".join([*methods, "OPTIONS"])

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method == "OPTIONS":
                response = HttpResponse(status=204)
                response["Access-Control-Allow-Methods"] = allowed
                response["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
                response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
            else:
                decision = (
                    rate_limits.take(rate_limits.API_REQUESTS, rate_limits.client_of(request)) if limited else None
                )
                if decision and not decision.allowed:
                    response = rate_limited(decision).response()
                elif request.method not in methods:
                    response = ApiError(
                        405, "method_not_allowed", f"use {' or '.join(methods)}", {"Allow": allowed}
                    ).response()
                else:
                    response = call(view, max_body, request, *args, **kwargs)
                if decision:
                    limited_by(decision, response)
            return for_any_origin(response)

        return csrf_exempt(wrapper)

    return decorate


def call(view, max_body, request, *args, **kwargs):
    try:
        if declared_length(request) > max_body or len(request.body) > max_body:
            raise ApiError(413, "body_too_large", f"request bodies are limited to {max_body} bytes here")
        return view(request, *args, **kwargs)
    except ApiError as error:
        return error.response()
    except tuple(ERRORS) as error:
        return next(make(error) for kind, make in ERRORS.items() if isinstance(error, kind)).response()


def limited_by(decision, response):
    """Give ``response`` the fields of the rate limit its request counted against."""
    for name, value in decision.headers().items():
        response.headers.setdefault(name, value)
    return response


def rate_limited(decision):
    what = "API requests" if decision.limit is rate_limits.API_REQUESTS else "new counters"
    return ApiError(
        429,
        "rate_limited",
        f"at most {decision.limit.quota} {what} per {decision.limit.window} s from one address; "
        f"try again in {decision.reset} s",
        decision.headers(),
    )


def may_create(request):
    """Refuse a new counter beyond the client's hourly allowance."""
    refusal = rate_limits.refuses_new_counter(request)
    if refusal:
        raise rate_limited(refusal)


def declared_length(request):
    """The Content-Length a client announced, checked before any of the body is read."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def body(request):
    """The request's JSON object ({} when there is no body)."""
    if not request.body:
        return {}
    try:
        data = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(400, "invalid_json", "the request body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return data


def integer(data, field, default=0):
    value = data.get(field, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one kind of number: 5.0 is the whole number 5, as for JSON Schema
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > named.MAX_START:
        raise ApiError(400, "invalid_value", f"'{field}' must be a whole number between -10^15 and 10^15")
    return value


def bearer_token(request):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def counter(namespace, key, value, status=200, **extra):
    return JsonResponse({"namespace": namespace, "key": key, "value": value, **extra}, status=status)


@endpoint("POST", max_body=MAX_CREATE_BODY_BYTES)
def create(request):
    """Create a counter, optionally from a starting value and a history carried over from another
    service; the admin token is in this answer only."""
    data = body(request)
    namespace, key = data.get("namespace"), data.get("key")
    name = named.counter_name(namespace, key)
    value = integer(data, "value")
    days = carried_history.parse(data.get("history"), value)
    token = named.create(name, start=value, days=days, before_creating=lambda: may_create(request))
    response = counter(namespace, key, value, status=201, token=token)
    response["Location"] = f"/api/v1/counters/{name}"
    return response


@endpoint("GET", "DELETE")
def detail(request, namespace, key):
    """Read a counter's value and today's views and unique visitors without counting, or delete
    the counter (with its admin token)."""
    name = named.counter_name(namespace, key)
    if request.method == "DELETE":
        named.delete(name, bearer_token(request))
        return HttpResponse(status=204)
    value, today = named.read(name)
    return counter(namespace, key, value, today=today)


# The view counts its request against the API's limit itself: with the view, in one round trip.
@endpoint("GET", "POST", limited=False)
def hit(request, namespace, key):
    """Count one view and return the new value; the counter is created by its first hit. HEAD
    counts nothing and creates nothing: it answers as GET would, with the value as it stands. A
    known crawler's hit counts a bot, not a view (counter.features.bots)."""
    name = named.counter_name(namespace, key)
    window = rate_limits.window(rate_limits.API_REQUESTS, rate_limits.client_of(request))
    counting = request.method != "HEAD"
    used = None if counting else get_store().take(window)
    try:
        if counting:
            counted = named.hit(name, request, before_creating=lambda: may_create(request), limit=window)
            used, value = counted.used, counted.value
        else:
            value = named.get(name) if used is None or used <= window.quota else None
        error = None
    except (CounterUnavailable, DatabaseError):
        if counting:  # the view's round trip, which would have counted the request, never ran
            used = get_store().take(window)
        error = unavailable()
    decision = rate_limits.decision(rate_limits.API_REQUESTS, window, used)
    if not decision.allowed:
        error = rate_limited(decision)
    return limited_by(decision, error.response() if error else counter(namespace, key, value))


@endpoint("GET")
def export(request, namespace, key):
    """A counter's value and every day of its history, as JSON or, with ``?format=csv``, CSV."""
    name = named.counter_name(namespace, key)
    output = request.GET.get("format", "json")
    if output not in EXPORT_FORMATS:
        raise ApiError(400, "invalid_format", "'format' must be json or csv")
    exported = exports.export(name)
    return exports.csv_response(exported) if output == "csv" else JsonResponse(exported)


@endpoint("POST")
def reset(request, namespace, key):
    """Set a counter back to 0, or to the body's "value" (with its admin token)."""
    name = named.counter_name(namespace, key)
    value = integer(body(request), "value")
    return counter(namespace, key, named.reset(name, bearer_token(request), value))


@endpoint("GET", limited=False)  # a fixed document: nothing to protect, and tools load it freely
def openapi(request):
    response = HttpResponse(OPENAPI.read_bytes(), content_type="application/json")
    return response
