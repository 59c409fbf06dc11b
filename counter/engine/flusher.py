"""Moving views from Redis to the database exactly once, and keeping Redis level with it.

A round takes the pending views into a batch numbered in the instance's sequence, adds it to the
database with that number unless the database has it already, and settles Redis: the batch joins
its bases, and each base whose total changed lately rises to it. Repeating a round is harmless.
"""

import datetime
import logging
import uuid

from django.db import connection, transaction

from counter.engine import scripts
from counter.engine.database import add_views
from counter.models import Counter, RedisInstance

log = logging.getLogger(__name__)

# A round refreshes the bases of the totals written this long before the last refresh too: a
# write's timestamp is its transaction's start, and it may commit after a refresh has read.
REFRESH_MARGIN = 10.0


def database_now():
    """The database's clock, in seconds since the epoch: the clock ``updated`` is written by."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT CURRENT_TIMESTAMP")
        now = cursor.fetchone()[0]
    if isinstance(now, str):  # SQLite answers text, in UTC
        now = datetime.datetime.fromisoformat(now).replace(tzinfo=datetime.UTC)
    return now.timestamp()


def reconcile(client, texts):
    """Make a Redis server that started anew agree with the database before anything counts there.

    An emptied server gets an instance id. Otherwise, once per server process (run id) and under
    the lock of its instance's row: if the database took its batches further than the server
    numbered them, it came back from older data, all in the database already, and starts afresh
    as a new instance; if not, it keeps its data in a new epoch, so that a batch taken before the
    restart and still on its way to the database is not added. Then the scripts load."""
    server = client.info("server")["run_id"]
    instance = client.hget(scripts.INSTANCE, "id")
    if instance is None and client.hsetnx(scripts.INSTANCE, "id", uuid.uuid4().hex):
        client.hset(scripts.INSTANCE, "run_id", server)
    elif instance is not None:
        with transaction.atomic():
            row, _ = RedisInstance.objects.select_for_update().get_or_create(id=instance.decode())
            epoch = client.hget(scripts.INSTANCE, "epoch") or b"0"
            args = [instance, epoch, row.taken, row.epoch + 1, uuid.uuid4().hex, scripts.PREFIX + "*", server]
            outcome = client.eval(scripts.RECONCILE, 1, scripts.INSTANCE, *args)
            if outcome == 1:
                row.epoch += 1
                row.save(update_fields=["epoch"])
            elif outcome == 2:
                log.warning("Redis came back with data older than the database's: starting it afresh")
    for text in texts.values():
        client.script_load(text)


def flush_round(client, run):
    """One round through ``run`` (RedisStore.run: a script call, reconciling Redis if needed).
    Returns (instance id, views added to the database, whether the bases were refreshed)."""
    server = client.info("server")["run_id"]  # a restart NOSCRIPT did not show (another database's)
    taken = run(scripts.TAKE, [scripts.INSTANCE, scripts.DIRTY, scripts.BATCH], [scripts.COUNTS, server])
    instance, epoch, seq, refreshed, flat = taken
    instance, epoch, seq = instance.decode(), int(epoch), seq and int(seq)
    batch = {name.decode(): int(views) for name, views in zip(flat[::2], flat[1::2], strict=True)}
    added = 0
    with transaction.atomic():
        row, _ = RedisInstance.objects.select_for_update().get_or_create(id=instance)
        if row.epoch < epoch:  # a reconcile whose commit failed: Redis is in the epoch it began
            row.epoch = epoch
            row.save(update_fields=["epoch"])
        if row.epoch != epoch:  # taken before the server restarted: its views went with it
            log.warning("a batch of epoch %s reached the database at epoch %s: not added", epoch, row.epoch)
            return instance, 0, False
        if seq is not None and row.taken < seq:
            for name, views in batch.items():
                add_views(name, views)
            row.taken = seq
            row.save(update_fields=["taken"])
            added = sum(batch.values())
        now = database_now()
        changed = []
        if refreshed is not None:
            since = datetime.datetime.fromtimestamp(float(refreshed) - REFRESH_MARGIN, datetime.UTC)
            changed = Counter.objects.filter(updated__gte=since).values_list("name", "views")
        pairs = [value for name, views in changed for value in (name, views)]
    settled = run(
        scripts.SETTLE,
        [scripts.INSTANCE, scripts.BATCH],
        [instance, epoch, row.taken, repr(now), scripts.COUNTS, *pairs],
    )
    return instance, added, bool(settled)
