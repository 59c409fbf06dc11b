"""Moving views between Redis and the database, exactly once.

Views counted in Redis reach the database in batches: a batch is moved atomically from the
pending counts into an in-flight hash, added to the database together with its id (so a retried
batch is recognised) and the sequence number it reaches, then deleted. Views counted in the
database during a Redis outage are merged back into Redis's total. Only the process holding the
flush lock does either, and it also recreates a total that Redis lost, starting a new generation
when the pending views went with it (see redis_scripts.RESTORE for how they come back). Every
process runs a flusher thread; a lost lock or a failed step is simply retried on the next round.
"""

import collections
import logging
import os
import threading
import time
import uuid
from datetime import timedelta

import redis
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F, Sum
from django.db.models.functions import Greatest
from django.utils import timezone

from counter import redis_scripts as keys
from counter import visitors
from counter.models import Counter, FlushedBatch, OutageView, UncertainHit
from herokuapp.redis_client import registered_script

log = logging.getLogger(__name__)

# A round takes milliseconds. The lock outlives a holder that died or a SET that Redis ran after
# the caller gave up on it, so it must be short: flushing pauses for at most this long.
LOCK_SECONDS = 1
KEEP_BATCH_IDS = timedelta(days=1)
# A command sent to a Redis that then stalled runs when it resumes; wait that long before deciding.
SETTLE_UNCERTAIN_AFTER = timedelta(seconds=5)
COMPACT_OUTAGES_AFTER = timedelta(days=1)


def add_views(name, views):
    """Add views to a counter's durable row in one statement, creating the row if needed."""
    table = connection.ops.quote_name(Counter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, views) VALUES (%s, %s) "
            f"ON CONFLICT (name) DO UPDATE SET views = {table}.views + EXCLUDED.views",
            [name, views],
        )


COUNTER_STATE = ("views", "generation", "flushed_seq", "seen_seq")


def counted_total(name, seen=None, lock=False, at_place=False):
    """The durable total, plus the views Redis numbered that no batch has brought to the database
    yet, as far as processes saw them: up to ``seen`` (generation, seq: the last view this process
    saw counted in Redis), or further if another process reported seeing more (``seen_seq``).

    While Redis cannot be reached, processes number their views from this, so that each takes in
    the others' outage views and what Redis showed them. With ``lock`` (inside a transaction that
    has just counted a view in an outage row) the counter's row stays locked until it commits, so
    that such views are numbered one at a time, and it records how far this process saw Redis
    count, for the others to number above that too. With ``at_place``, ``seen`` is the place of a
    view Redis has just counted, and the total is taken there: Redis's views after it are left out.
    A view whose Redis call failed midway counts in an outage row: if Redis did run that call and a
    process saw a later view counted, it is in both parts, one too many until the flusher settles
    it (see settle_uncertain_hits).
    """
    if lock:
        row = report_seen(name, seen)
    else:
        row = Counter.objects.filter(name=name).values_list(*COUNTER_STATE).first() or (0, 0, 0, 0)
    flushed, generation, flushed_seq, seen_seq = row
    if seen is not None and seen[0] == generation:
        seen_seq = seen[1] if at_place else max(seen_seq, seen[1])
    # A statement of its own, after the lock: one that waited for the row reads what others
    # committed meanwhile only from its next statement on (PostgreSQL's READ COMMITTED).
    outage = OutageView.objects.filter(name=name).aggregate(views=Sum("views"))["views"] or 0
    return flushed + outage + max(0, seen_seq - flushed_seq)


def report_seen(name, seen):
    """Lock the counter's row (creating it if needed) and record ``seen`` (generation, seq) as how
    far processes saw Redis count, if it is further into the row's generation. One statement, so
    that the row is held for as short a time as possible. Returns the row's COUNTER_STATE."""
    table = connection.ops.quote_name(Counter._meta.db_table)
    generation, seq = seen if seen is not None else (None, 0)
    statement = (
        f"UPDATE {table} SET seen_seq = CASE WHEN generation = %s AND seen_seq < %s THEN %s ELSE seen_seq END "
        f"WHERE name = %s RETURNING {', '.join(COUNTER_STATE)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [generation, seq, seq, name])
        row = cursor.fetchone()
        if row is None:
            Counter.objects.get_or_create(name=name)
            cursor.execute(statement, [generation, seq, seq, name])
            row = cursor.fetchone()
    return tuple(row)


def parse_batch(flat):
    """An in-flight batch as Redis holds it: {name: (views, seq, gen)} (see redis_scripts.TAKE_BATCH)."""
    items = flat.items() if isinstance(flat, dict) else zip(flat[::2], flat[1::2])
    return {name.decode(): tuple(int(part) for part in value.split(b":")) for name, value in items}


def apply_batch(batch, counts):
    """Add a batch of views to the database unless that batch was added before.

    A batch of a generation the database has moved past (Redis lost the name's state while the
    batch was in flight, and the total was recreated without it) is not added: its views are the
    lost generation's, which RESTORE brings back. Returns those batches' entries, for the caller
    to restore.
    """
    late = {}
    with transaction.atomic():
        _, created = FlushedBatch.objects.get_or_create(batch=batch)
        if created:
            for name, (views, seq, gen) in counts.items():
                if not add_batch_views(name, views, seq, gen):
                    late[name] = (views, seq, gen)
    return late


def add_batch_views(name, views, seq, gen):
    """Add views of generation ``gen`` up to ``seq`` to the counter's row, unless the row has moved
    on to a later generation. A row behind ``gen`` (its seed could not record the new generation)
    catches up."""
    rows = Counter.objects.filter(name=name, generation=gen).update(
        views=F("views") + views, flushed_seq=Greatest("flushed_seq", seq)
    )
    if rows:
        return True
    row, _ = Counter.objects.select_for_update().get_or_create(name=name)
    if row.generation > gen:
        return False
    if row.generation == gen:  # created just now by another transaction
        row.flushed_seq = max(row.flushed_seq, seq)
    else:
        row.generation, row.flushed_seq, row.seen_seq = gen, seq, 0
    row.views += views
    row.save(update_fields=["views", "generation", "flushed_seq", "seen_seq"])
    return True


class Scripts:
    """The counter's Lua scripts for one Redis client (see herokuapp.redis_client.registered_script)."""

    def __init__(self, client):
        self.hit = registered_script(client, keys.HIT)
        self.take_batch = registered_script(client, keys.TAKE_BATCH)
        self.seed = registered_script(client, keys.SEED)
        self.merge = registered_script(client, keys.MERGE)
        self.release = registered_script(client, keys.RELEASE)
        self.restore = registered_script(client, keys.RESTORE)
        self.raise_ceiling = registered_script(client, keys.RAISE_CEILING)
        self.read = registered_script(client, keys.READ)


class FlushLock:
    """Redis lock with a token, so that a process releases only a lock it still holds."""

    def __init__(self, client, scripts):
        self.client = client
        self.scripts = scripts
        self.token = uuid.uuid4().hex

    def acquire(self, wait=0.0):
        deadline = time.monotonic() + wait
        while True:
            if self.client.set(keys.FLUSH_LOCK, self.token, nx=True, px=int(LOCK_SECONDS * 1000)):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def release(self):
        self.scripts.release(keys=[keys.FLUSH_LOCK], args=[self.token])


def recover_inflight(client, scripts):
    """Finish batches a process left in flight when it died between Redis and the database."""
    for key in client.scan_iter(match=keys.INFLIGHT_PATTERN, count=100):
        batch = key.decode().rsplit(":", 1)[1]
        late = apply_batch(uuid.UUID(batch), parse_batch(client.hgetall(key)))
        restore_late(scripts, late)
        client.delete(key)


def flush_batch(client, scripts, verdicts=()):
    """Move all pending views into one batch and add it to the database, in the transaction that
    settles the uncertain hits judged by ``verdicts`` (see settleable_hits). Returns the views moved.

    A hit Redis counted may be in the batch: were it added before being taken out of its outage
    row, or taken out before being added, the numbers taken from the database in between would
    count it twice or not at all.
    """
    batch = uuid.uuid4()
    counts = parse_batch(scripts.take_batch(keys=[keys.DIRTY, keys.inflight(batch)], args=[keys.PREFIX]))
    with transaction.atomic():
        settle_uncertain_hits(verdicts)  # outage rows before the counter's, as views in an outage lock them
        late = apply_batch(batch, counts) if counts else {}
    if counts:
        restore_late(scripts, late)
        client.delete(keys.inflight(batch))
    return sum(views for views, _, _ in counts.values())


def restore_late(scripts, late):
    """Hand the views of batches that arrived after their generation ended to RESTORE."""
    for name, (_, seq, gen) in late.items():
        restore(scripts, name, gen, seq)


def restore(scripts, name, gen, seq):
    """Restore the views of lost generation ``gen`` counted up to ``seq``. Returns (views restored,
    the current generation's seq after it), or None if there is no total."""
    restored = scripts.restore(keys=[keys.total(name), keys.meta(name), keys.DIRTY], args=[name, gen, seq])
    return None if restored == -1 else tuple(restored)


def settleable_hits(client):
    """The uncertain hits that can be settled now, each with whether Redis counted it.

    A hit among Redis's recent hits was counted, and is settled at once: until then it is in two
    places, which puts the numbers taken from the database one too high. A hit Redis does not know
    of may still reach a stalled Redis, so it stays in its outage row only after a while.
    """
    settled = timezone.now() - SETTLE_UNCERTAIN_AFTER
    verdicts = []
    for hit in UncertainHit.objects.all():
        if not client.exists(keys.meta(hit.name)):
            continue  # Redis lost the hit list too: the seed counts this hit as unsettled
        counted_by_redis = client.lpos(keys.RECENT_HITS, hit.hit.hex) is not None
        if counted_by_redis or hit.created < settled:
            verdicts.append((hit, counted_by_redis))
    return verdicts


def settle_uncertain_hits(verdicts):
    """Take out of the outage rows the views whose failed Redis call did count them after all.

    A hit already settled (by a flusher whose lock expired while it waited) is left alone."""
    for hit, counted_by_redis in verdicts:
        deleted, _ = UncertainHit.objects.filter(hit=hit.hit).delete()
        if deleted and counted_by_redis:
            OutageView.objects.filter(outage=hit.outage, name=hit.name).update(views=F("views") - 1)


def merge_outage_views(client, scripts):
    """Add to Redis totals the outage views they do not hold yet, and raise their floors to the
    numbers shown for those views (read after the rows, so no lower). Returns the views merged.

    A row's unsettled hits wait, since Redis may have counted them too; the rest of the row does
    not, so that Redis's total never lags the outage by more than the hits in doubt. The rows are
    read before the hits, so a hit recorded in between is left out with its view, or before it.
    """
    merged = 0
    rows = list(OutageView.objects.values_list("outage", "name", "views"))
    unsettled = collections.Counter(UncertainHit.objects.values_list("outage", "name"))
    names = {name for _, name, _ in rows}
    shown = dict(Counter.objects.filter(name__in=names).values_list("name", "database_shown")) if names else {}
    for outage, name, views in rows:
        mergeable = views - unsettled[outage, name]
        delta = scripts.merge(
            keys=[keys.total(name), keys.merged(outage, name), keys.meta(name)],
            args=[mergeable, keys.MERGED_TTL, shown.get(name, 0)],
        )
        merged += max(0, delta)
    return merged


def compact_outage_views():
    """Fold outage rows no process writes any more into their counters' rows."""
    cutoff = timezone.now() - COMPACT_OUTAGES_AFTER
    with transaction.atomic():
        for row in OutageView.objects.select_for_update().filter(created__lt=cutoff):
            add_views(row.name, row.views)
            row.delete()
        FlushedBatch.objects.filter(created__lt=timezone.now() - KEEP_BATCH_IDS).delete()


def seed(client, scripts, name):
    """Recreate the Redis total of ``name`` from the database, under the flush lock.

    The outage rows are read once: the seed counts exactly the rows it marks as merged, and a view
    added to a row afterwards is merged later. The counter's row stays locked until Redis has the
    new generation, so that no batch of the old one is written in between. A new generation starts
    with the lost views that processes reported seeing (``seen_seq``) already restored, so that the
    numbers of processes still counting in the database and those of Redis stay level. No number
    below the highest the row knows may have been shown is shown again (see counter.bounds).
    """
    lock = FlushLock(client, scripts)
    if not lock.acquire(wait=2.0):
        raise TimeoutError("the counter flush lock is busy")
    try:
        recover_inflight(client, scripts)
        with transaction.atomic():
            row, _ = Counter.objects.select_for_update().get_or_create(name=name)
            outage_rows = list(OutageView.objects.filter(name=name).values_list("outage", "views"))
            unsure = UncertainHit.objects.filter(name=name).count()
            merged_pairs = [value for outage, views in outage_rows for value in (keys.merged(outage, name), views)]
            durable = row.views + sum(views for _, views in outage_rows)
            new_generation = row.generation + 1
            reported = max(0, row.seen_seq - row.flushed_seq - unsure)
            total, renewed = scripts.seed(
                keys=[keys.total(name), keys.meta(name), keys.DIRTY],
                args=[
                    durable, keys.MERGED_TTL, new_generation, row.generation, row.flushed_seq, unsure, reported, name,
                    max(row.redis_ceiling, row.database_shown), *merged_pairs,
                ],
            )
            if renewed:
                Counter.objects.filter(name=name).update(generation=new_generation, flushed_seq=0, seen_seq=reported)
        return total
    finally:
        lock.release()


def flush_once(client, scripts, compact=False, wait=0.0):
    """One round of the flusher: returns (views flushed, views merged), or None if another process
    held the lock for ``wait`` seconds."""
    lock = FlushLock(client, scripts)
    if not lock.acquire(wait):
        return None
    try:
        recover_inflight(client, scripts)
        flushed = flush_batch(client, scripts, settleable_hits(client))
        merged = merge_outage_views(client, scripts)
        visitors.flush(client)
        if compact:
            compact_outage_views()
    finally:
        lock.release()
    return flushed, merged


class FlusherThread:
    """Runs flush rounds every COUNTER_FLUSH_INTERVAL seconds in the background of one process."""

    def __init__(self, backend):
        self.backend = backend
        self.pid = None
        self.lock = threading.Lock()
        self.woken = threading.Event()
        self.last_compaction = 0.0

    def ensure_running(self):
        """Start the thread in this process if it is not running (gunicorn forks after import)."""
        interval = settings.COUNTER_FLUSH_INTERVAL
        if not interval or self.pid == os.getpid():
            return
        with self.lock:
            if self.pid != os.getpid():
                self.pid = os.getpid()
                threading.Thread(target=self.run, args=(interval,), name="counter-flusher", daemon=True).start()

    def wake(self):
        """Run a round now, as when Redis answers again after an outage."""
        self.woken.set()

    def run(self, interval):
        while True:
            self.woken.wait(interval)
            self.woken.clear()
            self.round()

    def round(self):
        """One flush round, compacting old outage rows once an hour. Returns what the backend's
        flush returned; None if it failed, which is logged and retried next round."""
        try:
            compact = time.monotonic() - self.last_compaction > 3600
            result = self.backend.flush(compact=compact)
            if result and compact:
                self.last_compaction = time.monotonic()
            return result
        except (redis.RedisError, DatabaseError, TimeoutError) as error:  # a service away, a lock busy
            log.warning("counter flush failed, retrying next round: %s", error)
        except Exception:
            log.exception("counter flush failed, retrying next round")
        finally:
            close_old_connections()
        return None
