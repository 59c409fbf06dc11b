"""Many gunicorn worker processes counting at once, over real HTTP, on every backend."""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.dyno import WebDyno, dyno_environment, run_process

pytestmark = pytest.mark.slow

VIEWS = 300
COUNT = re.compile(r"viewed <strong>([\d,]+)</strong>")


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def dyno(request):
    """A dyno with three worker processes, released on a fresh database."""
    database = request.getfixturevalue("postgres_url" if request.param == "postgres" else "sqlite_url")
    env = dyno_environment(
        SECRET_KEY="c" * 60,
        WEB_CONCURRENCY=3,
        DATABASE_URL=database,
        REDIS_URL=request.getfixturevalue("redis_url") if request.param == "redis" else None,
    )
    assert run_process("release", env).returncode == 0
    dyno = WebDyno(env).start()
    yield dyno
    dyno.kill()


def shown_count(response):
    assert response.status_code == 200
    return int(COUNT.search(response.text).group(1).replace(",", ""))


def test_concurrent_views_across_workers_are_each_counted_exactly_once(dyno):
    with ThreadPoolExecutor(max_workers=16) as pool:
        shown = list(pool.map(lambda _: shown_count(dyno.get("/")), range(VIEWS)))
    assert sorted(shown) == list(range(1, VIEWS + 1)), "every view saw its own number"
    assert shown_count(dyno.get("/")) == VIEWS + 1
    workers = set(re.findall(r"Booting worker with pid: (\d+)", dyno.output()))
    assert len(workers) == 3
