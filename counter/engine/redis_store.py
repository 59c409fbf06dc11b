"""The Redis store: one Redis round trip per view while Redis answers, the database as the durable
record, and the database itself while Redis is away (see docs/counting.md)."""

import collections
import logging
import secrets
import threading
import time

import redis
from django.conf import settings
from django.db import DatabaseError, close_old_connections

from counter.engine import flusher, scripts
from counter.engine.base import CounterStore, CounterUnavailable, View, flushed
from counter.engine.database import DatabaseStore
from herokuapp.redis_client import get_redis, registered_script, send_together

log = logging.getLogger(__name__)

# A view whose answer never came is sent again for this long, then given up as lost in flight.
UNCERTAIN_KEPT = 3600.0
# How long stop() waits for the flusher's round under way before running the last one itself.
STOP_TIMEOUT = 10.0


class RedisStore(CounterStore):
    """Counts in Redis with one script per view; a flusher thread moves the views to the database.
    When Redis fails, the process is ``down``: it counts in the database until one of its rounds
    succeeds, which raises Redis's bases past those views. A view whose call may have counted is
    sent again with the same sender and number, and counts once either way."""

    def __init__(self):
        self.database = DatabaseStore()
        self.down = False
        self.instance = None  # the id of the Redis instance views are sent to
        self.uncertain = collections.deque()  # [name, sender, number, instance, when, script]
        self.local = threading.local()
        self.reconciling = threading.Lock()
        self.stopping = threading.Event()
        self.thread = None
        self.texts = scripts.for_database(get_redis().get_connection_kwargs().get("db", 0))

    def start(self):
        """Flush every COUNTER_FLUSH_INTERVAL in a thread, the first round at once, views or not."""
        if self.thread is None:
            self.thread = threading.Thread(target=self._flush_every_interval, name="counter-flusher", daemon=True)
            self.thread.start()

    def _flush_every_interval(self):
        while True:
            try:
                self.flush()
            except Exception as error:  # a service away: the next round tries again
                log.warning("counter flush failed, retrying next round: %s", error)
            finally:
                close_old_connections()
            if self.stopping.wait(settings.COUNTER_FLUSH_INTERVAL):
                return

    def view(self, names, limit=None, also=()):
        if self.down:
            return self.database.view(names, limit, also)
        sender, number = self._next_number()
        try:
            instance = self.instance or self._learn_instance()
        except redis.RedisError as error:
            self._went_down(error)
            return self.database.view(names, limit, also)
        sent = False  # whether a failed attempt may have reached Redis
        for attempt in (1, 2):
            try:
                reply, replies = self._count(names, sender, number, instance, limit, also)
                if reply == -2:  # Redis is another instance now, and did not count it
                    instance = self._learn_instance()
                    reply, _ = self._count(names, sender, number, instance, limit)
                if not isinstance(reply, list):  # emptied again meanwhile: it counted nothing
                    raise redis.ResponseError(f"the view was not counted ({reply})")
                return View(reply[1:] or None, reply[0], replies if also else None)
            except redis.RedisError as error:
                # Refused, or failed while connecting: Redis did not run it. Anything else may have.
                refused = isinstance(error, redis.ResponseError) or "connecting to" in str(error).lower()
                sent = sent or not refused
                also = ()  # sent at most once: what they did is theirs to redo
                if attempt == 1 and sent and not isinstance(error, redis.TimeoutError):
                    continue  # a reset connection: sent again on a fresh one, it counts once
                self._went_down(error)
                if not sent:
                    return self.database.view(names, limit)  # Redis never ran it
                self.local.sender = None  # later views must not share a sender with this one
                return View(self._in_doubt(names, sender, number, instance), None, None)
            except DatabaseError as error:
                raise CounterUnavailable("Redis cannot count and the database is unreachable") from error

    def get_many(self, names):
        """One script call to Redis, then one query for the names it does not hold (all while down)."""
        shown = {}
        if not self.down:
            try:
                numbers = registered_script(get_redis(), scripts.SHOWN)(keys=[scripts.count(name) for name in names])
            except redis.RedisError as error:
                self._went_down(error)
            else:
                shown = {name: number for name, number in zip(names, numbers, strict=True) if number is not None}
        missing = [name for name in names if name not in shown]
        if not missing:
            return shown  # the ORM takes half a millisecond to build even a query for nothing
        return shown | self.database.get_many(missing)

    def take(self, window):
        """One script call to Redis; the database counts while Redis does not answer."""
        if not self.down:
            try:
                return registered_script(get_redis(), scripts.WINDOW)(
                    keys=[f"{scripts.WINDOWS}{window.key}:{window.number}"], args=[window.seconds * 1000]
                )
            except redis.RedisError as error:
                self._went_down(error)
        return self.database.take(window)

    def flush(self):
        """Send the views in doubt again, then run a round (see counter.engine.flusher); one that
        refreshed the bases ends the process's outage. Returns the views it added."""
        try:
            self._resend_uncertain()
            self.instance, added, settled = flusher.flush_round(get_redis(), self.run)
        except redis.RedisError as error:
            self._went_down(error)
            raise
        except (DatabaseError, CounterUnavailable):
            self._back_in_redis()  # Redis answered the round: without a database, better than a 503
            raise
        if settled:
            self._back_in_redis()
        flushed.send(sender=type(self), client=get_redis())
        return added

    def stop(self):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(STOP_TIMEOUT)
        try:
            self.flush()
        except Exception as error:
            log.warning("could not flush the counter on the way out: %s", error)

    def run(self, source, keys, args):
        """Call a script by its SHA. A server that does not know it (it restarted or failed over)
        or has no instance id (it was emptied) is reconciled with the database first."""
        return self.run_with(source, keys, args, ())[0]

    def run_with(self, source, keys, args, also):
        """run(), after the commands ``also``, sent in the same write; returns their replies too."""
        script = registered_script(get_redis(), self.texts[source])
        *replies, result = send_together(get_redis(), [*also, script.command(keys, args)])
        if isinstance(result, redis.exceptions.NoScriptError):
            result = scripts.NO_INSTANCE
        elif isinstance(result, redis.ResponseError):
            raise result
        if result == scripts.NO_INSTANCE:
            self._reconcile()
            result = script.evalsha(keys, args)
        return result, replies

    def _reconcile(self):
        with self.reconciling:
            flusher.reconcile(get_redis(), self.texts)

    def _count(self, names, sender, number, instance, limit=None, also=()):
        """Send a view to Redis, to be counted only by ``instance``: returns HIT's reply (-2 if Redis
        is another instance now) and the replies to ``also``."""
        keys = [scripts.INSTANCE, scripts.DIRTY, scripts.sender(sender)]
        args = [number, instance, scripts.SENDER_SECONDS]
        if limit is None:
            keys.append("")
            args += [0, 0]
        else:
            keys.append(f"{scripts.WINDOWS}{limit.key}:{limit.number}")
            args += [limit.quota, limit.seconds * 1000]
        keys += [scripts.count(name) for name in names]
        args += names
        reply, replies = self.run_with(scripts.HIT, keys, args, also)
        if reply == -1:  # no base yet: the durable total, unless another process set one first
            for name, total in self.database.get_many(names).items():
                get_redis().hsetnx(scripts.count(name), "base", total)
            reply = self.run(scripts.HIT, keys, args)
        return reply, replies

    def _learn_instance(self):
        instance = get_redis().hget(scripts.INSTANCE, "id")
        if instance is None:  # emptied: an id first
            self._reconcile()
            instance = get_redis().hget(scripts.INSTANCE, "id")
        self.instance = instance.decode()
        return self.instance

    def _next_number(self):
        """This thread's sender and the next number in its sequence: a thread sends one view at a
        time, so Redis sees each sender's numbers in order."""
        if getattr(self.local, "sender", None) is None:
            self.local.sender, self.local.number = secrets.token_hex(8), 0
        self.local.number += 1
        return self.local.sender, self.local.number

    def _in_doubt(self, names, sender, number, instance):
        """A view whose call may have counted: the page shows the durable totals and the view is
        sent again, or taken back if the page could not be served."""
        doubt = [names, sender, number, instance, time.monotonic()]
        try:
            totals = self.database.get_many(names)
        except CounterUnavailable:
            self.uncertain.append([*doubt, scripts.CANCEL])
            raise
        self.uncertain.append([*doubt, scripts.HIT])
        return [totals[name] for name in names]

    def _resend_uncertain(self):
        """Send the views in doubt again (or take them back) to the instance they were sent to: one
        that Redis counted is not counted again, one whose instance is gone went with its data."""
        while self.uncertain:
            names, sender, number, instance, when, script = self.uncertain[0]
            if time.monotonic() - when > UNCERTAIN_KEPT:
                log.warning("a view in doubt could not be sent again: lost in flight")
            elif script is scripts.CANCEL:
                keys = [scripts.INSTANCE, scripts.DIRTY, scripts.sender(sender), *map(scripts.count, names)]
                self.run(scripts.CANCEL, keys, [number, instance, scripts.SENDER_SECONDS, *names])
            elif self._count(names, sender, number, instance)[0] == -2:
                log.warning("a view in doubt was sent to a Redis instance since replaced: lost with its data")
            self.uncertain.popleft()

    def _back_in_redis(self):
        if self.down:
            self.down = False
            log.info("Redis answers again: counting there")

    def _went_down(self, error):
        if not self.down:
            self.down = True
            log.warning("Redis unreachable, counting in the database until a round succeeds: %s", error)
