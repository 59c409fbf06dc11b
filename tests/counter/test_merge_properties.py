"""Property-based tests of the Redis counter: hypothesis interleaves views, flushes, Redis outages,
Redis losing its data or one total, processes dying in the middle of a flush and the compaction of
old outage rows, against two RedisCounter instances on real Redis and the real database.

How the test stands in for the world (CounterMachine's rules):

* The two RedisCounter instances are two processes (dynos) sharing Redis and the database. Each has
  its own circuit breaker, outage rows and memory of the numbers it showed, as a process has.
* An outage is per process: Redis "goes down for process i" as a call of that process that fails
  to connect leaves it: the breaker lets a call through and the call fails (``allow()`` then
  ``failed()``). The breaker runs on a clock of the process's own that stands still, so it stays
  open. Redis itself keeps running, since the other process may still reach it (a partition, or a
  dyno whose connections time out). Only when every process is down does settings.REDIS_URL point
  at a dead port, so that any call that gets past a breaker really fails; "time passes" then lets
  every breaker probe, and the probes really fail. A call refused at connect time has no effect in
  Redis, and the app counts it in the database with no uncertain hit (``never_connected``), so
  forcing the breaker open leaves exactly the state such a failed call leaves.
* Redis "comes back for process i" by moving that process's clock past its back-off: its next call
  is the breaker's probe, which succeeds on the live Redis and closes the breaker. If the others
  were due a probe meanwhile, they probe and fail (they still cannot reach Redis).
* A process that dies in the middle of a flush (after taking a batch into an in-flight hash, or
  after also writing it to the database) is replaced by a fresh RedisCounter, as the dyno restarts:
  nothing it held in memory survives. The flush lock it held (2 s) is taken to have expired by the
  time anything else runs.
* "A day passes": every row in the database (outage rows, batch ids, uncertain hits) becomes more
  than a day old, and every process is in a new hour, so writes new outage rows. If some process
  reaches Redis, its flusher ran all day: one round, with compaction. The app compacts outage rows
  only inside a flush round, under the flush lock, after recovering batches and merging outage
  views (counter.flusher.flush_once); the test compacts the same way, never by calling
  compact_outage_views() on its own. Any flush the test runs may be the hourly compacting round.

* "A short outage" is going down, some views, coming back and some more views for one process, in
  one step: from the separate steps alone hypothesis seldom strings a whole outage together.

The model counts views served per name and views known lost: only what Redis held and the database
did not when Redis lost everything (pending counts, plus in-flight batches not yet written). It checks:

* after every step, that every view served is in the database, pending in Redis or in an unwritten
  in-flight batch, or was lost: durable + pending + in flight == served - lost, exactly; and that
  Redis's total, if present, is that less the outage views not merged into it yet;
* after every view, that the process counted it in Redis if and only if Redis is up for it; that
  Redis hands out no number twice in one epoch (between two losses of all its data); that the
  number shown is no lower than any shown before it by any process, whether Redis lost its data
  or views for good meanwhile, unless it was counted in Redis while Redis was down for another
  process or its total lacked outage views (a partition: the README's guarantee names it), and
  then no lower than the process itself showed before; and that it is no higher than the views
  served, or than one past the highest shown before (the ceiling raised one view ahead, as the
  tests' settings have it);
* at the end, with Redis back for every process and flushed until quiet, that the durable total is
  between served - lost and served, that Redis's total (if present) equals it, and that the next
  view on either process gets from Redis the number of views counted (one more, or more where
  recreating a lost total restores the views processes reported seeing), and shows that, or the
  highest number shown before if that is higher, or one more than it.
"""

import sys
import uuid

import pytest
import redis
from django.conf import settings as django_settings
from django.test.signals import setting_changed
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from counter import flusher
from counter import redis_scripts as keys
from counter.models import Counter, FlushedBatch, OutageView, UncertainHit
from counter.redis_counter import RedisCounter
from tests.counter.records import durable_total

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = ("a", "b")
PROCESSES = 2
DEAD_REDIS = "redis://127.0.0.1:1/0"
LONG_AGO = "2000-01-01T00:00:00Z"
BACKOFF_OVER = 10**6  # seconds: more than any back-off the breaker chooses


class StillClock:
    """A process's clock for its breaker: it moves only when the test says time has passed."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Process:
    """One process's RedisCounter, with what the model knows about it.

    ``raw`` is what the Redis path of the last view returned before the counter adjusted it for
    display (None if the view was counted in the database): the counter's own method, wrapped.
    """

    def __init__(self):
        self.counter = RedisCounter()
        self.clock = StillClock()
        self.counter.breaker.clock = self.clock
        self.up = True
        self.shown = {}  # the highest number this process has shown, per name
        self.raw = None
        hit_in_redis = self.counter._hit_in_redis

        def recording(*args):
            counted = hit_in_redis(*args)
            self.raw = counted[0]
            return counted

        self.counter._hit_in_redis = recording
        answers_again = self.counter._answers_again
        # The flusher's probe reaches Redis only if Redis is up for this process.
        self.counter._answers_again = lambda: self.up and answers_again()

    def fail_a_call(self):
        """What a call that cannot reach Redis does to the breaker, if the breaker lets one through."""
        breaker = self.counter.breaker
        if breaker.allow():
            breaker.failed()


class CounterMachine(RuleBasedStateMachine):
    live_url = None  # the real Redis (db 15), set by the test, which overrides REDIS_URL once

    def __init__(self):
        super().__init__()
        self.point_redis_at(self.live_url)
        self.redis = redis.Redis.from_url(self.live_url)  # the model's own view of the real Redis
        self.redis.flushdb()
        for model in (Counter, OutageView, FlushedBatch, UncertainHit):
            model.objects.all().delete()
        self.processes = [Process() for _ in range(PROCESSES)]
        self.served = dict.fromkeys(NAMES, 0)
        self.lost = dict.fromkeys(NAMES, 0)
        self.highest_shown = dict.fromkeys(NAMES, 0)  # by any process, ever
        # Per Redis epoch (between two losses of all its data): the numbers Redis handed out.
        self.redis_numbers = {name: set() for name in NAMES}
        self.written_batches = set()  # batches a dying process wrote to the database

    @staticmethod
    def point_redis_at(url):
        """Change REDIS_URL inside the test's one override, as override_settings does (pytest-django's
        settings fixture stacks one more override per assignment, and a run makes thousands)."""
        if django_settings.REDIS_URL != url:
            django_settings.REDIS_URL = url
            setting_changed.send(sender=type(django_settings._wrapped), setting="REDIS_URL", value=url, enter=True)

    # -- the model's reading of Redis and the database --------------------------------------------

    def state(self):
        """What Redis and the database hold, per name, in a handful of round trips.

        ``durable``: the database's total (counter row plus outage rows). ``pending``: views in Redis
        not yet taken into a batch. ``in_flight``: views in in-flight batches the database does not
        hold yet (a batch was written if FlushedBatch says so, or if the model saw it written: once
        its id is compacted away FlushedBatch no longer knows, but its views are in the database).
        ``unmerged``: outage views that Redis's total does not hold yet. ``total``: Redis's total.
        """
        counters = dict(Counter.objects.values_list("name", "views"))
        rows = list(OutageView.objects.values_list("outage", "name", "views"))
        batches = {key.decode().rsplit(":", 1)[1]: key for key in self.redis.scan_iter(match=keys.INFLIGHT_PATTERN)}
        written = {str(batch) for batch in FlushedBatch.objects.filter(batch__in=list(batches)).values_list("batch", flat=True)}
        unwritten = [self.redis.hgetall(key) for batch, key in batches.items() if batch not in written | self.written_batches]
        pending = [self.redis.hget(keys.meta(name), "pending") for name in NAMES]
        totals = self.redis.mget([keys.total(name) for name in NAMES])
        merged = self.redis.mget([keys.merged(outage, name) for outage, name, _ in rows]) if rows else []
        state = {}
        for name, waiting, total in zip(NAMES, pending, totals):
            own_rows = [(views, int(done or 0)) for (_, row_name, views), done in zip(rows, merged) if row_name == name]
            state[name] = {
                "durable": counters.get(name, 0) + sum(views for views, _ in own_rows),
                "pending": int(waiting or 0),
                "in_flight": sum(flusher.parse_batch(batch).get(name, (0,))[0] for batch in unwritten),
                "unmerged": sum(max(0, views - done) for views, done in own_rows),
                "total": None if total is None else int(total),
            }
        return state

    def all_down(self):
        return not any(process.up for process in self.processes)

    def pick(self, data, up):
        """The index of a process that is up (or down), drawn only if there is a choice."""
        indices = [i for i, process in enumerate(self.processes) if process.up == up]
        return indices[0] if len(indices) == 1 else data.draw(st.sampled_from(indices), label="process")

    # -- rules --------------------------------------------------------------------------------------

    @rule(i=st.integers(0, PROCESSES - 1), name=st.sampled_from(NAMES), views=st.integers(1, 3))
    def hit(self, i, name, views):
        for _ in range(views):
            self.one_view(self.processes[i], name)

    def one_view(self, process, name):
        partitioned = not all(other.up for other in self.processes) or self.state()[name]["unmerged"] > 0
        process.raw = None
        shown = process.counter.hit(name)
        self.served[name] += 1
        in_redis = process.raw is not None
        assert in_redis == process.up, f"a process that is {'up' if process.up else 'down'} counted in the wrong place"
        before = process.shown.get(name, 0)
        highest = self.highest_shown[name]
        if in_redis and partitioned:
            assert shown >= before, f"the process showed {shown} for {name!r} after showing {before}"
        else:
            assert shown >= highest, f"{name!r}: {shown} shown after {highest} had been"
        assert shown <= max(self.served[name], highest + 1), (
            f"{name!r}: {shown} shown, with {self.served[name]} views served and {highest} the highest shown before"
        )
        process.shown[name] = max(before, shown)
        self.highest_shown[name] = max(highest, shown)
        if in_redis:
            assert process.raw not in self.redis_numbers[name], f"Redis handed out {process.raw} twice for {name!r}"
            self.redis_numbers[name].add(process.raw)

    @staticmethod
    def accounted(held):
        return held["durable"] + held["pending"] + held["in_flight"]

    @rule(i=st.integers(0, PROCESSES - 1), compact=st.booleans())
    def flush(self, i, compact):
        """One flusher round; ``compact`` for the hourly round that also compacts old outage rows."""
        process = self.processes[i]
        try:
            result = process.counter.flush(compact=compact)
        except redis.RedisError:
            assert self.all_down(), "a flush failed while Redis was reachable"
            return
        if process.up:
            assert result is not None, f"the flush lock was busy with nobody flushing: {self.lock_state()}"
        else:
            assert result is None, "a process flushed while Redis was down for it"

    def lock_state(self):
        return f"flush lock {self.redis.get(keys.FLUSH_LOCK)!r}, {self.redis.pttl(keys.FLUSH_LOCK)} ms left"

    @precondition(lambda self: not self.all_down())
    @rule(data=st.data())
    def redis_goes_down(self, data):
        process = self.processes[self.pick(data, up=True)]
        process.fail_a_call()
        process.up = False
        if self.all_down():
            self.point_redis_at(DEAD_REDIS)

    @precondition(lambda self: not all(process.up for process in self.processes))
    @rule(data=st.data())
    def redis_comes_back(self, data):
        process = self.processes[self.pick(data, up=False)]
        if self.all_down():
            self.point_redis_at(self.live_url)
            for other in self.processes:
                if other is not process:
                    other.fail_a_call()  # a probe it was due meanwhile still cannot reach Redis
        process.clock.now += BACKOFF_OVER  # the back-off ends: the next call is the probe
        process.up = True

    @precondition(lambda self: all(process.up for process in self.processes))
    @rule(
        i=st.integers(0, PROCESSES - 1),
        name=st.sampled_from(NAMES),
        during=st.integers(1, 5),
        after=st.integers(0, 3),
    )
    def short_outage(self, i, name, during, after):
        """Redis goes down for one process, which counts views in the database, then comes back, and
        the process counts views in Redis again: the steps above in one, since with them alone
        hypothesis seldom strings a whole outage together."""
        process = self.processes[i]
        process.fail_a_call()
        process.up = False
        for _ in range(during):
            self.one_view(process, name)
        process.clock.now += BACKOFF_OVER
        process.up = True
        for _ in range(after):
            self.one_view(process, name)

    @precondition(lambda self: self.all_down())
    @rule()
    def time_passes_while_redis_is_down(self):
        """Every breaker lets a probe through; with Redis down for all, the probes really fail."""
        for process in self.processes:
            process.clock.now += BACKOFF_OVER

    @rule()
    def redis_loses_everything(self):
        state = self.state()
        for name in NAMES:
            self.lost[name] += state[name]["pending"] + state[name]["in_flight"]
            self.redis_numbers[name] = set()
        self.redis.flushdb()

    @rule(name=st.sampled_from(NAMES))
    def total_evicted(self, name):
        self.redis.delete(keys.total(name))

    @precondition(lambda self: not self.all_down())
    @rule(data=st.data())
    def crash_after_taking_a_batch(self, data):
        i = self.pick(data, up=True)
        self.take_batch(self.processes[i])
        self.processes[i] = Process()  # the dyno restarts

    @precondition(lambda self: not self.all_down())
    @rule(data=st.data())
    def crash_after_writing_a_batch(self, data):
        i = self.pick(data, up=True)
        batch, counts = self.take_batch(self.processes[i])
        flusher.apply_batch(batch, counts)
        self.written_batches.add(str(batch))
        self.processes[i] = Process()  # the dyno restarts

    def take_batch(self, process):
        """What flush_batch does before it writes the batch to the database."""
        _, scripts = process.counter.client()
        batch = uuid.uuid4()
        return batch, flusher.parse_batch(scripts.take_batch(keys=[keys.DIRTY, keys.inflight(batch)], args=[keys.PREFIX]))

    @rule()
    def a_day_passes(self):
        for model in (OutageView, FlushedBatch, UncertainHit):
            model.objects.update(created=LONG_AGO)
        for process in self.processes:
            process.counter._outage = (None, None)  # a new hour: new outage rows from now on
        for process in self.processes:
            if process.up:  # its flusher ran all day, compacting hourly
                assert process.counter.flush(compact=True) is not None, f"the flush lock was busy: {self.lock_state()}"
                break

    # -- invariants ---------------------------------------------------------------------------------

    @invariant()
    def every_view_served_is_counted_once_or_lost(self):
        for name, held in self.state().items():
            accounted = held["durable"] + held["pending"] + held["in_flight"]
            assert accounted <= self.served[name], (
                f"{name!r}: {held}, so {accounted} views counted, more than the {self.served[name]} served"
            )
            assert accounted >= self.served[name] - self.lost[name], (
                f"{name!r}: {held}, so {accounted} views counted, but {self.served[name]} served and at most "
                f"{self.lost[name]} lost"
            )
            if held["total"] is not None:
                assert held["total"] == accounted - held["unmerged"], (
                    f"{name!r}: {held}: Redis's total is not the views counted less the outage views not merged yet"
                )

    # -- at the end: everything back, flushed until quiet -----------------------------------------

    def teardown(self):
        try:
            if sys.exc_info()[0] is None:  # not when a step already failed
                self.everything_reaches_the_database_once_redis_is_back()
        finally:
            self.point_redis_at(self.live_url)
            self.redis.close()

    def everything_reaches_the_database_once_redis_is_back(self):
        self.point_redis_at(self.live_url)
        for process in self.processes:
            if not process.up:
                process.clock.now += BACKOFF_OVER
                process.up = True
        for process in self.processes:  # each flusher's round restores what that process saw Redis lose
            process.counter.flush()
        for _ in range(3):
            if self.processes[0].counter.flush() == (0, 0):
                break
        else:
            raise AssertionError("flushing did not settle in three rounds")
        for name in NAMES:
            durable = durable_total(name)
            assert self.served[name] - self.lost[name] <= durable <= self.served[name], (
                f"{name!r}: durable total {durable} after the final flush, "
                f"but {self.served[name]} served and at most {self.lost[name]} lost"
            )
            total = self.state()[name]["total"]
            assert total in (None, durable), f"{name!r}: Redis total {total} after the final flush, durable {durable}"
            for process in self.processes:  # the next view, on either process, carries on from there
                process.raw = None
                highest = self.highest_shown[name]
                shown = process.counter.hit(name)
                self.served[name] += 1
                # Recreating a total Redis lost brings back the lost views that processes reported
                # seeing: the count may rise by more than this view, never above the views served.
                counted = self.accounted(self.state()[name])
                assert durable + 1 <= counted <= self.served[name], (
                    f"{name!r}: {counted} counted after one more view, {durable} before, {self.served[name]} served"
                )
                durable = counted
                # No lower than numbers shown before, even above views lost for good.
                assert process.raw == durable and max(durable, highest) <= shown <= max(durable, highest + 1), (
                    f"{name!r}: the next view got {process.raw} from Redis and showed {shown}, "
                    f"expected {durable} from Redis and {highest} shown before"
                )
                process.shown[name] = shown
                self.highest_shown[name] = max(highest, shown)


def test_views_are_counted_once_and_shown_in_order(redis_counter):
    CounterMachine.live_url = redis_counter
    run_state_machine_as_test(
        CounterMachine,
        settings=hypothesis_settings(
            max_examples=100, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        ),
    )
