"""A property-based test of the Redis store: hypothesis interleaves views and rounds of several
processes with Redis losing its data, REDIS_URL changing and processes losing Redis or stopping,
on a real redis-server and the real database, and checks the engine's guarantees against a model.

How the test stands in for the world (EngineMachine's rules):

* A process (a gunicorn worker) is a RedisStore of its own and the REDIS_URL it was started with;
  the Django setting takes that URL whenever the process acts (tests.counter.engine.conftest's
  Process). There is no flusher thread: a round runs when a rule says so.
* Two Redis instances are two redis-servers of the test's own (a restart reaches every database
  number of a server, so one server's databases could not lose their data apart): a process
  "switches REDIS_URL" to the other.
* "Redis restarted empty" stops one server and starts it again on its port with no data; "Redis
  emptied" is FLUSHDB alone, as an operator may run it: the scripts stay loaded and the server
  process is the same. A "snapshot" is the server's data as SAVE wrote it at an earlier step, and
  "Redis restarted from a snapshot" starts the server again from that file, as a restart from an
  older RDB or AOF file does. A restarted server is a new server process (a new run id) that
  knows no scripts.
* A process "loses Redis" when its REDIS_URL points at a port where nothing listens (a
  connection is refused) until it "reaches Redis again"; the instance itself goes on for others.
* A process that stops flushes on its way out (stop(), as SIGTERM does) and a new one takes its
  place on the same instance.

The model follows each view served: pending in one instance, durable, or lost. It mirrors the
rules the design gives the engine, not its code: a round moves every view pending in the
instance to the database under the instance's next batch number; an instance that restarts
empty loses its pending views; one restarted from a snapshot keeps the snapshot's pending views
unless the database took a later batch of the snapshot's instance than the snapshot holds (then
they are in the database already, and the instance starts afresh). A process that fails to reach
Redis counts in the database until one of its rounds settles (raises the bases past those views):
rounds here run one at a time, so every round that reaches Redis and the database settles. It
checks:

* after every step: the database holds no more views than were served, and exactly the views the
  model says reached it (so a view lost is one pending in an instance when it lost its data);
  each process is ``down`` exactly when the model says it counts in the database;
* after every view a process counted in Redis: its number is higher than any it showed before,
  unless a fault came between (its instance lost data, it switched instance, or it counted in the
  database while its instance's bases had never been refreshed);
* after every round on an instance that had been refreshed before (converged): each counter
  shows exactly its durable total, as nothing is pending there any more;
* at the end, with every instance flushed: the durable total is the views served less the views
  the model says were lost.
"""

import dataclasses
import itertools

import pytest
import redis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from counter.models import Counter, RedisInstance
from tests.counter.engine.conftest import Process, durable, durable_sum, unreachable_redis_url

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = ("page", "other")
PROCESSES = 3
INSTANCES = (0, 1)  # the test's two redis-servers


@dataclasses.dataclass
class Content:
    """What one Redis instance holds, as the model sees it."""

    token: int | None = None  # which instance id it carries (None: none yet)
    batch: int = 0  # the number of its last batch
    pending: set = dataclasses.field(default_factory=set)  # views in no batch yet: (view, name)
    refreshed: bool = False  # whether a round has refreshed its bases from the database

    def copy(self):
        return dataclasses.replace(self, pending=set(self.pending))


@dataclasses.dataclass
class Simulated:
    """A process, with what the model knows about it."""

    process: Process
    instance: int
    cut_off: bool = False  # its REDIS_URL names a port where nothing listens
    down: bool = False  # counting in the database until one of its rounds succeeds
    # Per counter, the number its next view counted in Redis must exceed (none: no promise).
    floor: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Snapshot:
    """An instance's data as SAVE wrote it (the file's path), and what the model knew of it then."""

    instance: int
    path: object
    content: Content


class EngineMachine(RuleBasedStateMachine):
    # Set by the test function: the ``process`` fixture (which starts a Process) and the test's
    # redis-servers, one per instance.
    new_process = None
    servers = None

    snapshots = Bundle("snapshots")

    def __init__(self):
        super().__init__()
        self.clients = {instance: self.servers[instance].client() for instance in INSTANCES}
        for client in self.clients.values():  # a new server's state: no data, no scripts
            client.flushall()
            client.script_flush()
        Counter.objects.all().delete()
        RedisInstance.objects.all().delete()
        self.dead_url = unreachable_redis_url()
        self.tokens = itertools.count(1)
        self.views = itertools.count(1)
        self.contents = {instance: Content() for instance in INSTANCES}
        self.taken = {}  # token -> the last batch of that instance the database took
        self.served = set()
        self.durable = set()
        self.processes = [self.start_process(0) for _ in range(PROCESSES)]

    # --- the model ---------------------------------------------------------------------------

    def start_process(self, instance):
        return Simulated(self.new_process(self.servers[instance].url()), instance)

    def reconciled(self, instance):
        """The instance as a call of the store leaves it: with an id."""
        content = self.contents[instance]
        if content.token is None:
            content.token = next(self.tokens)
        return content

    def round_in_model(self, simulated):
        """A successful round on the process's instance; returns whether it had been refreshed."""
        content = self.reconciled(simulated.instance)
        refreshed = content.refreshed
        if content.pending:
            content.batch += 1
            self.taken[content.token] = content.batch
            assert not content.pending & self.durable, "the model moves each view to the database once"
            self.durable |= content.pending
            content.pending = set()
        content.refreshed = True
        simulated.down = False
        return refreshed

    def lost(self):
        pending = set().union(*(content.pending for content in self.contents.values()))
        return self.served - self.durable - pending

    def fault(self, instance):
        """The instance lost or changed its data: its processes' numbers may start lower."""
        for simulated in self.processes:
            if simulated.instance == instance:
                simulated.floor.clear()

    # --- rules -------------------------------------------------------------------------------

    @rule(index=st.integers(0, PROCESSES - 1), name=st.sampled_from(NAMES), views=st.integers(1, 3))
    def hit(self, index, name, views):
        simulated = self.processes[index]
        for _ in range(views):
            view = (next(self.views), name)
            in_database = simulated.down or simulated.cut_off
            shown = simulated.process.hit(name)
            self.served.add(view)
            if in_database:
                simulated.down = True
                self.durable.add(view)
                if self.contents[simulated.instance].refreshed:
                    simulated.floor[name] = max(simulated.floor.get(name, 0), shown)
                else:
                    simulated.floor.pop(name, None)
            else:
                self.reconciled(simulated.instance).pending.add(view)
                floor = simulated.floor.get(name)
                assert floor is None or shown > floor, f"process {index} showed {shown} after {floor}"
                simulated.floor[name] = shown

    @rule(index=st.integers(0, PROCESSES - 1))
    def flush(self, index):
        simulated = self.processes[index]
        if simulated.cut_off:
            with pytest.raises(redis.RedisError):
                simulated.process.flush()
            simulated.down = True
            return
        simulated.process.flush()
        if self.round_in_model(simulated):
            for name in NAMES:
                assert simulated.process.get(name) == durable(name), f"{name} converged after the round"

    @rule(instance=st.sampled_from(INSTANCES))
    def redis_restarted_empty(self, instance):
        self.servers[instance].restart_empty()
        self.contents[instance] = Content()
        self.fault(instance)

    @rule(instance=st.sampled_from(INSTANCES))
    def redis_emptied(self, instance):
        """FLUSHDB without a restart: the scripts stay loaded, so calls do not fail with NOSCRIPT."""
        self.clients[instance].flushdb()
        self.contents[instance] = Content()
        self.fault(instance)

    @rule(target=snapshots, instance=st.sampled_from(INSTANCES))
    def snapshot(self, instance):
        return Snapshot(instance, self.servers[instance].save(), self.contents[instance].copy())

    @rule(snapshot=snapshots)
    def redis_restarted_from_snapshot(self, snapshot):
        self.servers[snapshot.instance].restart_from(snapshot.path)
        content = snapshot.content.copy()
        if content.token is not None and content.batch < self.taken.get(content.token, 0):
            content = Content(token=next(self.tokens))  # the database is ahead: it starts afresh
        self.contents[snapshot.instance] = content
        self.fault(snapshot.instance)

    @rule(index=st.integers(0, PROCESSES - 1))
    def redis_url_switched(self, index):
        simulated = self.processes[index]
        simulated.instance = 1 - simulated.instance
        if not simulated.cut_off:
            simulated.process.url = self.servers[simulated.instance].url()
        simulated.floor.clear()

    @rule(index=st.integers(0, PROCESSES - 1))
    def process_loses_redis(self, index):
        simulated = self.processes[index]
        simulated.cut_off = True
        simulated.process.url = self.dead_url

    @rule(index=st.integers(0, PROCESSES - 1))
    def process_reaches_redis_again(self, index):
        simulated = self.processes[index]
        simulated.cut_off = False
        simulated.process.url = self.servers[simulated.instance].url()

    @rule(index=st.integers(0, PROCESSES - 1))
    def process_stops(self, index):
        simulated = self.processes[index]
        simulated.process.stop()
        if not simulated.cut_off:
            self.round_in_model(simulated)
        self.processes[index] = self.start_process(simulated.instance)

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def never_more_than_served(self):
        assert durable_sum() <= len(self.served)

    @invariant()
    def the_database_holds_what_reached_it(self):
        for name in NAMES:
            assert durable(name) == sum(1 for _, named in self.durable if named == name), name

    @invariant()
    def down_exactly_while_counting_in_the_database(self):
        assert [simulated.process.down for simulated in self.processes] == [
            simulated.down for simulated in self.processes
        ]

    def teardown(self):
        """Flush every instance and check that only views the model says were lost are missing."""
        try:
            for instance in INSTANCES:
                last = self.start_process(instance)
                last.process.flush()
                self.round_in_model(last)
            assert durable_sum() == len(self.served) - len(self.lost())
        finally:
            for client in self.clients.values():
                client.close()


def test_views_are_counted_once_lost_only_with_redis_s_data_and_shown_in_order(process, start_redis_server):
    """The guarantees of docs/counting.md, over sequences of views, rounds and faults that
    hypothesis chooses (see EngineMachine); a modest number of them, to run in seconds (raise
    max_examples to search further)."""
    servers = {instance: start_redis_server() for instance in INSTANCES}
    EngineMachine.new_process, EngineMachine.servers = staticmethod(process), servers
    try:
        run_state_machine_as_test(
            EngineMachine,
            settings=hypothesis_settings(
                max_examples=40,
                stateful_step_count=30,
                derandomize=True,  # every run tries the same sequences, as the API's fuzz test does
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        EngineMachine.new_process = EngineMachine.servers = None
