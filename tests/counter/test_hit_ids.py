"""Ids of views sent to Redis: unique in a process, across threads, and in a forked child."""

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from counter import hit_ids


def test_ids_are_32_hex_digits_that_the_database_takes_as_a_uuid():
    hit = hit_ids.new()
    assert uuid.UUID(hit).hex == hit


def test_ids_drawn_by_many_threads_at_once_are_all_different():
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: hit_ids.new(), range(20_000)))
    assert len(set(ids)) == len(ids)


# The child only draws ids and writes them to a pipe, so the other threads' locks cannot hang it.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_draws_ids_no_other_process_draws():
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what gunicorn's workers are to the master that imported the app
        os.write(writing, "".join(hit_ids.new() for _ in range(3)).encode())
        os._exit(0)
    os.close(writing)
    os.waitpid(pid, 0)
    with os.fdopen(reading) as pipe:
        child = pipe.read()
    child_ids = [child[i : i + 32] for i in range(0, len(child), 32)]
    parent_ids = [hit_ids.new() for _ in range(3)]
    assert len(child_ids) == 3
    assert {hit[:16] for hit in child_ids}.isdisjoint(hit[:16] for hit in parent_ids)
