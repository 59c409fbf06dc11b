"""What one Redis instance and one database carry with the Redis counter store, measured.

Counts views through the store in this process against the real PostgreSQL and Redis, and reads
what each service spent: Redis's own time per script call (INFO commandstats), the database's
statements and time per flush round. redis-benchmark then drives the view's script alone, to see
how many views a second one Redis serves. Prints a table and writes bench/capacity.json.

    .venv/bin/python bench/capacity.py [--views N] [--rounds N]

Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (BENCH_POSTGRES_URL and
BENCH_REDIS_URL point elsewhere); makes a database of its own and uses Redis database 10.
"""

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")


def script_time(client):
    """(calls, microseconds) Redis spent in EVALSHA since its statistics were last reset."""
    stats = client.info("commandstats").get("cmdstat_evalsha", {"calls": 0, "usec": 0})
    return stats["calls"], stats["usec"]


def measure(views, rounds, names_per_batch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from counter.engine import scripts
    from counter.engine.base import get_store

    store = get_store()
    client = redis.Redis.from_url(REDIS)
    store.hit("index")
    store.flush()

    client.config_resetstat()
    started = time.perf_counter()
    for _ in range(views):
        store.hit("index")
    view_wall = (time.perf_counter() - started) / views
    calls, usec = script_time(client)
    result = {"views": views, "redis_us_per_view": usec / calls, "client_us_per_view": view_wall * 1e6}

    for names in names_per_batch:
        for number in range(names):
            store.hit(f"capacity/{number}")
        store.flush()
        redis_us, db_ms, statements, writes = [], [], [], []
        for _ in range(rounds):
            for number in range(names):
                store.hit(f"capacity/{number}")
            client.config_resetstat()
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                store.flush()
            db_ms.append((time.perf_counter() - started) * 1000)
            redis_us.append(script_time(client)[1])
            statements.append(len(queries))
            writes.append(sum(1 for query in queries if re.match(r"\s*(INSERT|UPDATE)", query["sql"])))
        middle = rounds // 2
        result[f"round_{names}"] = {
            "names": names,
            "redis_us": sorted(redis_us)[middle],
            "round_ms": sorted(db_ms)[middle],
            "statements": sorted(statements)[middle],
            "writes": sorted(writes)[middle],
        }
        idle, idle_statements, idle_writes = [], [], []
        for _ in range(rounds):
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                store.flush()
            idle.append((time.perf_counter() - started) * 1000)
            idle_statements.append(len(queries))
            idle_writes.append(sum(1 for query in queries if re.match(r"\s*(INSERT|UPDATE)", query["sql"])))
        result[f"round_{names}"].update(
            idle_round_ms=sorted(idle)[middle],
            idle_statements=sorted(idle_statements)[middle],
            idle_writes=sorted(idle_writes)[middle],
        )

    url = redis.connection.parse_url(REDIS)
    # A Redis that wants a password, as Heroku's does (redis-benchmark reads no REDISCLI_AUTH).
    auth = ["-a", url["password"]] if url.get("password") else []
    if url.get("username"):
        auth = ["--user", url["username"], *auth]
    command = [
        "redis-benchmark",
        "-h",
        url.get("host", "127.0.0.1"),
        "-p",
        str(url.get("port", 6379)),
        "--dbnum",
        str(url.get("db", 0)),
        *auth,
        "-n",
        "200000",
        "-c",
        "50",
        "-r",
        "1000000",
        "-q",
        "EVALSHA",
        hashlib.sha1(store.texts[scripts.HIT].encode()).hexdigest(),
        "4",
        scripts.count("index"),
        scripts.DIRTY,
        scripts.sender("__rand_int__"),
        scripts.INSTANCE,
        "index",
        "1",
        store.instance,
        str(scripts.SENDER_SECONDS),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result["redis_views_per_second"] = float(re.findall(r"([\d.]+) requests per second", output)[-1])
    client.flushdb()
    return result


def table(result):
    lines = [
        f"{'measure':<62} {'value':>12}",
        "-" * 75,
        f"{'Redis time inside the view script, per view (µs)':<62} {result['redis_us_per_view']:>12.1f}",
        f"{'views a second one Redis serves (redis-benchmark, 50 clients)':<62} {result['redis_views_per_second']:>12,.0f}",
        f"{'wall time of store.hit in one process, per view (µs)':<62} {result['client_us_per_view']:>12.1f}",
    ]
    for key in sorted(key for key in result if key.startswith("round_")):
        r = result[key]
        lines += [
            f"{'flush round of ' + str(r['names']) + ' counters: Redis time (µs)':<62} {r['redis_us']:>12.1f}",
            f"{'flush round of ' + str(r['names']) + ' counters: database statements':<62} {r['statements']:>12}",
            f"{'flush round of ' + str(r['names']) + ' counters: database writes':<62} {r['writes']:>12}",
            f"{'flush round of ' + str(r['names']) + ' counters: wall time (ms)':<62} {r['round_ms']:>12.2f}",
            f"{'idle flush round: wall time (ms)':<62} {r['idle_round_ms']:>12.2f}",
            f"{'idle flush round: database statements, writes':<62} {r['idle_statements']:>8}, {r['idle_writes']}",
        ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--output", default=str(ROOT / "bench" / "capacity.json"))
    args = parser.parse_args()

    database = f"herokuapp_capacity_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(POSTGRES.replace("postgres://", "postgresql://"), autocommit=True)
    admin.execute(f'CREATE DATABASE "{database}"')
    os.environ.update(
        DATABASE_URL=POSTGRES.rsplit("/", 1)[0] + f"/{database}",
        REDIS_URL=REDIS,
        COUNTER_STORE="redis",
        SECRET_KEY="capacity",
        DJANGO_SETTINGS_MODULE="herokuapp.settings",
    )
    sys.path.insert(0, str(ROOT))
    redis.Redis.from_url(REDIS).flushdb()
    try:
        import django
        from django.core.management import call_command
        from django.db import connections

        django.setup()
        call_command("migrate", verbosity=0)
        result = measure(args.views, args.rounds, [1, 100])
        connections.close_all()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    result["machine"] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    print(table(result))
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
