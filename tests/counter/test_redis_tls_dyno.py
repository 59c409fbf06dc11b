"""The Procfile's processes counting through a TLS-only Redis with a self-signed certificate, as on
Heroku with Key-Value Store: release (whose checks ping Redis), then gunicorn's workers over HTTP."""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from counter.engine import scripts
from counter.web.views import PAGE
from tests.support.dyno import WebDyno, dyno_environment, run_process

pytestmark = pytest.mark.slow

VIEWS = 50
WORKERS = 2
COUNT = re.compile(r"viewed <strong>([\d,]+)</strong>")


@pytest.fixture
def dyno(redis_tls, sqlite_url):
    """A released dyno with two workers whose REDIS_URL is the TLS server's rediss:// URL.

    REDIS_SSL_CERT_REQS is not set: the default must accept the self-signed certificate.
    """
    env = dyno_environment(
        SECRET_KEY="t" * 60, WEB_CONCURRENCY=WORKERS, DATABASE_URL=sqlite_url, REDIS_URL=redis_tls.url
    )
    release = run_process("release", env)
    assert release.returncode == 0, release.stdout + release.stderr
    dyno = WebDyno(env).start()
    yield dyno
    dyno.kill()


def shown_count(response):
    assert response.status_code == 200
    return int(COUNT.search(response.text).group(1).replace(",", ""))


def test_concurrent_views_are_counted_exactly_once_through_tls_redis(dyno, redis_tls):
    with ThreadPoolExecutor(max_workers=16) as pool:
        shown = list(pool.map(lambda _: shown_count(dyno.get("/")), range(VIEWS)))
    assert sorted(shown) == list(range(1, VIEWS + 1)), "every view saw its own number"
    # The store counts in the database while Redis is unreachable: the count must be in Redis, and
    # no worker may have logged an outage.
    with redis_tls.client() as verified:  # read back over TLS, verifying the server this time
        parts = verified.hmget(scripts.count(PAGE), "base", "pending", "inflight")
    assert sum(int(part or 0) for part in parts) == VIEWS
    assert "level=WARNING" not in dyno.output()
    workers = set(re.findall(r"Booting worker with pid: (\d+)", dyno.output()))
    assert len(workers) == WORKERS
