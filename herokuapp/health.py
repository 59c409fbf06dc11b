"""Health endpoints for uptime monitors and load balancers; neither counts as a page view.

/health/live answers as long as the process serves requests and touches nothing else.
/health/ready reports each dependency the app is configured with, its status and latency, and
answers 503 when one the page cannot do without is down.
"""

import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

# What every 503 of the app asks a client to wait before it tries again, in seconds.
RETRY_AFTER_SECONDS = 5


@never_cache
@require_safe
def live(request):
    return JsonResponse({"status": "ok"})


def probe(check):
    started = time.perf_counter()
    try:
        check()
    except Exception as error:
        status, detail = "down", type(error).__name__
    else:
        status, detail = "up", None
    report = {"status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
    if detail:
        report["error"] = detail
    return report


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_redis():
    from herokuapp.redis_client import get_redis

    get_redis().ping()


def check_storage():
    from django.core.files.storage import default_storage

    default_storage.exists("health-check")


@never_cache
@require_safe
def ready(request):
    """Ready when the page can count: the database, or Redis with the Redis counter store, must
    answer. Redis is left out with the database store, which keeps nothing there."""
    dependencies = {"database": probe(check_database)}
    if settings.COUNTER_STORE == "redis":
        dependencies["redis"] = probe(check_redis)
    dependencies["storage"] = probe(check_storage)
    counting = [dependencies[name]["status"] == "up" for name in ("database", "redis") if name in dependencies]
    ready = any(counting)
    status = (
        "ok" if all(report["status"] == "up" for report in dependencies.values()) else ("degraded" if ready else "down")
    )
    response = JsonResponse({"status": status, "dependencies": dependencies}, status=200 if ready else 503)
    if not ready:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
