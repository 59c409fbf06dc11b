"""What a process keeps for itself is dropped together: in a forked child, on a settings change, and
when a test calls reset()."""

import os

import pytest

from counter.engine import base
from herokuapp import process_state
from herokuapp.redis_client import get_redis


@process_state.cache()
def square(number):
    return number * number


def in_a_forked_child(check):
    """Run ``check`` in a forked child and return what it returned (a short string)."""
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


def test_reset_drops_what_a_cache_kept():
    square(3)
    assert square.cache_info().currsize == 1
    process_state.reset()
    assert square.cache_info().currsize == 0


def test_a_settings_change_drops_what_a_cache_kept(settings):
    square(4)
    settings.COUNTER_COUNT_BOTS = not settings.COUNTER_COUNT_BOTS
    assert square.cache_info().currsize == 0


def test_a_forked_child_starts_with_nothing_kept_while_its_parent_keeps_its_own():
    square(5)
    assert in_a_forked_child(lambda: square.cache_info().currsize) == "0"
    assert square.cache_info().currsize == 1


def test_a_forked_child_gets_a_redis_client_of_its_own(redis_counter):
    parent = get_redis()
    parent.ping()
    assert in_a_forked_child(lambda: get_redis() is not parent and get_redis().ping()) == "True"
    assert get_redis() is parent and parent.ping()  # the child closed none of the parent's sockets


@pytest.mark.django_db(transaction=True)
def test_reset_stops_this_process_s_store_and_a_forked_child_only_drops_its_parent_s(redis_counter):
    store = base.get_store()
    store.hit("page")
    assert in_a_forked_child(lambda: base.get_store() is not store) == "True"
    assert base.get_store() is store  # the parent's store still counts
    assert store.hit("page") == 2
    process_state.reset()
    assert base.get_store() is not store
    assert base.get_store().hit("page") == 3  # what the stopped store held was flushed, not lost
