"""bench/capacity.py, run once for real on a few views: it measures the services and writes its
figures. Nothing here asserts a speed; the counts of statements and writes are the engine's."""

import json
import os
import subprocess
import sys

import pytest

from tests.support.dyno import ROOT
from tests.support.services import (
    POSTGRES_ADMIN_URL,
    REDIS_TEST_URL,
    postgres_available,
    redis_available,
    require_program,
)

pytestmark = pytest.mark.slow


def test_capacity_measures_the_services_and_writes_a_table_and_json(tmp_path):
    postgres_available()
    redis_available()
    require_program("redis-benchmark", "redis-tools")
    output = tmp_path / "capacity.json"
    result = subprocess.run(
        [sys.executable, "bench/capacity.py", "--views", "300", "--rounds", "3", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env=os.environ | {"BENCH_POSTGRES_URL": POSTGRES_ADMIN_URL, "BENCH_REDIS_URL": REDIS_TEST_URL},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(output.read_text())
    assert figures["views"] == 300
    assert figures["redis_us_per_view"] > 0 and figures["redis_views_per_second"] > 0
    # A round writes one row per counter viewed since the last, and the instance's ``taken``.
    assert (figures["round_1"]["writes"], figures["round_100"]["writes"]) == (2, 101)
    assert figures["round_1"]["idle_writes"] == 0, "a round with nothing to add writes nothing"
    assert "Redis time inside the view script, per view" in result.stdout
