"""What a process keeps for itself is dropped together: in a forked child, on a settings change, and
when a test calls reset()."""

import ast
import os
import subprocess
import sys

import pytest

from herokuapp import process_state
from tests.support.dyno import ROOT, dyno_environment


@process_state.cache()
def square(number):
    return number * number


def test_reset_drops_what_a_cache_kept():
    square(3)
    assert square.cache_info().currsize == 1
    process_state.reset()
    assert square.cache_info().currsize == 0


def test_a_settings_change_drops_what_a_cache_kept(settings):
    square(4)
    settings.COUNTER_COUNT_BOTS = not settings.COUNTER_COUNT_BOTS
    assert square.cache_info().currsize == 0


def in_a_forked_child(check):
    """Run ``check`` in a forked child and return what it returned, as text."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write_end, str(check()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as reader:
        return reader.read()


def fork_after_serving():
    """The scenario the fork test runs in a process of its own, which, like gunicorn's master, runs
    no other thread when it forks: keep a cache entry, a Redis client and a store that counted,
    fork, and report what the child finds and what the parent still has."""
    from django.core.management import call_command

    from counter.engine import base
    from herokuapp.redis_client import get_redis

    call_command("migrate", verbosity=0)
    square(5)
    client, store = get_redis(), base.get_store()
    store.hit("page")
    child = in_a_forked_child(
        lambda: (
            square.cache_info().currsize,
            get_redis() is client,
            get_redis().ping(),
            base.get_store() is store,
        )
    )
    parent = (square.cache_info().currsize, get_redis() is client, client.ping(), store.hit("page"))
    process_state.reset()
    return child, parent, base.get_store().hit("page")


@pytest.mark.slow
def test_a_forked_child_keeps_nothing_of_its_parent_s_and_the_parent_keeps_it_all(tmp_path, redis_url):
    """The child starts with empty caches, a Redis client and a store of its own; the parent's
    client, connections and store still serve after the child is gone; and a reset in the parent
    stops its store, whose views are flushed, not lost."""
    script = (
        "import django; django.setup(); "
        "from tests.herokuapp.test_process_state import fork_after_serving; print(fork_after_serving())"
    )
    env = dyno_environment(
        SECRET_KEY="p" * 60,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        REDIS_URL=redis_url,
        COUNTER_STORE="redis",
        DJANGO_SETTINGS_MODULE="herokuapp.settings",
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    child, parent, after_reset = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert ast.literal_eval(child) == (0, False, True, False), "nothing kept, a client and a store of its own"
    assert parent == (1, True, True, 2), "the parent's cache, client and store as they were, still serving"
    assert after_reset == 3, "the view the stopped store held was flushed, and counted once"
