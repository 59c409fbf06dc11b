"""The Redis counter: counts in Redis and keeps the database as the durable record (see
counter.flusher), so that Redis losing its data, being unreachable or coming back empty neither
resets the count nor takes the page down. It keeps no count in process memory: the highest number
a process has shown is only a floor for display, and the last view it saw counted in Redis is what
it restores if Redis loses views.
"""

import logging
import threading
import time
import uuid

import redis
from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction

from counter import bounds, hit_ids
from counter import redis_scripts as keys
from counter.backends import CounterUnavailable
from counter.breaker import CircuitBreaker
from counter.flusher import LOCK_SECONDS, FlusherThread, Scripts, counted_total, flush_once, restore, seed
from counter.forgetting import held_in_full
from counter.models import OutageView, UncertainHit
from herokuapp.redis_client import get_redis

log = logging.getLogger(__name__)

# Past this many counter names, a process forgets those the database holds in full (see
# counter.forgetting), looking at most once every FORGET_EVERY seconds, in a thread of its own.
NAMES_KEPT = 1_000
FORGET_EVERY = 60.0
# The most views a ceiling is raised ahead of the number shown, whatever the rate (see bounds).
MAX_AHEAD = 10_000
# A view this share of the last raise's step under the ceiling raises it again, so that at a steady
# rate the raise is done before any view reaches the ceiling (see _below_ceiling).
RAISE_EARLY = 0.25


def never_connected(error):
    """Whether a Redis error happened while connecting, before any command could be sent."""
    message = str(error)
    return "connecting to" in message or message.startswith("Timeout connecting")


class RedisCounter:
    """Counts in Redis (one INCR-like script per view), with the database as the durable record.

    While Redis is unreachable a circuit breaker sends views straight to the database, as outage
    rows that the flusher merges into Redis once it answers again. If Redis loses views before they
    reach the database, each process restores those it saw counted (see redis_scripts.RESTORE):
    on its next view of that counter, or on its flusher's next round. For a few seconds after this
    process finds Redis again, while others may still be counting in the database, it numbers its
    Redis views in the database as well (see _shown_after_return). No number it shows runs below
    one shown before by any process, except in the cases the README's guarantee names: numbers
    taken in the database rise to the bounds in the counter's row, and Redis shows a number past
    them only once they are raised (see counter.bounds). What it keeps per counter, it forgets once
    the database holds it in full (see forget_held_in_full).
    """

    def __init__(self):
        self.breaker = CircuitBreaker()
        self.database_breaker = CircuitBreaker()  # for raising the ceiling while Redis answers
        self.raised = {}  # name: (when, the number shown) this process raised the ceiling (see _views_ahead)
        self.ceilings = {}  # name: the database's ceiling as this process last raised it (it never falls)
        self.early = {}  # name: how far under the ceiling a view raises it (see RAISE_EARLY)
        self._raising = {}  # name: the lock its raises take one at a time
        self.flusher = FlusherThread(self)
        self.shown = {}
        self.shown_in_outage = {}  # the highest number shown for a view counted in the database
        self.seen = {}  # name: (generation, seq) of the last view this process saw counted in Redis
        self.epoch = None
        self.unmerged_outage = {}  # name: when this process last counted a view of it in the database
        self.ahead = set()  # names whose numbers here may lead Redis's, after it lost views
        self.rejoining_until = 0.0
        self.rejoined_at = 0.0
        self.round_started_at = 0.0  # when the last flush round this process completed began
        self._round_lock = threading.Lock()
        self._scripts = (None, None)
        self._outage = (None, None)
        self._outage_lock = threading.Lock()
        self._shown_lock = threading.Lock()
        self._forget_due = 0.0
        self._forgetting = threading.Lock()

    def hit(self, name):
        self.flusher.ensure_running()
        self._forget_when_due()
        uncertain = None
        if self.breaker.allow() and (self._rejoining() or self._merge_outage_views_first(name)):
            hit = hit_ids.new()
            try:
                total, place, floor, ceiling = self._hit_in_redis(name, hit)
            except redis.RedisError as error:
                self.breaker.failed()
                if not never_connected(error):
                    uncertain = hit  # the script may have run even though no reply came back
                log.warning("Redis unreachable, counting in the database: %s", error)
            except (DatabaseError, TimeoutError) as error:
                log.warning("could not recreate the Redis total, counting in the database: %s", error)
            else:
                if self.breaker.succeeded():
                    self.flusher.wake()  # merge the other processes' outage views into Redis now
                    self._rejoined()
                number = max(total, floor)
                if self._rejoining():
                    return self._shown_after_return(name, number, place)
                return self._below_ceiling(name, self._shown_from_redis(name, number), ceiling)
        return self._hit_in_database(name, uncertain)

    def get(self, name):
        self._forget_when_due()
        if self.breaker.allow():
            try:
                total, floor = self.client()[1].read(keys=[keys.total(name), keys.meta(name)])
            except redis.RedisError:
                self.breaker.failed()
            else:
                self.breaker.succeeded()
                if total is not None:
                    return self._remember(name, max(int(total), int(floor or 0)))
        try:
            return self._remember(name, max(counted_total(name, self.seen.get(name)), bounds.highest(name)))
        except DatabaseError as error:
            raise CounterUnavailable("neither Redis nor the database is reachable") from error

    def flush(self, compact=False):
        """One flusher round (see counter.flusher.flush_once); skipped while Redis is down."""
        if not self.breaker.allow() and not self._answers_again():
            return None
        started = time.monotonic()
        try:
            client, scripts = self.client()
            self.restore_after_loss(client, scripts)
            result = flush_once(client, scripts, compact=compact)
        except redis.RedisError:
            self.breaker.failed()
            raise
        self.breaker.succeeded()
        self._round_done(started, result)
        return result

    def _round_done(self, started, result):
        """Record a flush round this process ran (the flusher's, or one a view ran first)."""
        if result is not None:
            self.round_started_at = max(self.round_started_at, started)
            self._outage_views_merged(started)

    def _outage_views_merged(self, round_started):
        """Stop counting as unmerged the counters whose outage views this process committed before
        a flush round it ran began, none of them in doubt: that round merged them into Redis. The
        flusher's rounds do it too, not only the round a counter's next view runs first (see
        _merge_outage_views_first), so that a counter not viewed again after an outage does not
        stay unmerged, never to be forgotten. Not in the while after Redis returns: numbers shown
        then may lead Redis's own, and being unmerged is what keeps this process's next ones
        above them once it ends."""
        if self._rejoining():
            return
        with self._shown_lock:
            names = [name for name, counted_at in self.unmerged_outage.items() if counted_at < round_started]
        if not names:
            return
        try:
            in_doubt = set(UncertainHit.objects.values_list("name", flat=True))  # only the unsettled: a few
        except DatabaseError as error:
            log.warning("could not look up the views in doubt, the next round tries again: %s", error)
            return
        with self._shown_lock:
            for name in names:
                if name not in in_doubt and self.unmerged_outage.get(name, round_started) < round_started:
                    del self.unmerged_outage[name]

    def _answers_again(self):
        """While the breaker keeps views off Redis, the flusher thread probes it each round, so
        that the process counts in Redis again within a flush interval of its return rather than
        after the breaker's back-off (up to 10 s), numbering from the database meanwhile."""
        try:
            get_redis().ping()
        except redis.RedisError:
            return False
        if self.breaker.succeeded():
            self._rejoined()
        return True

    def _rejoined(self):
        """This process counts in Redis again after an outage, or after Redis lost its data. Other
        processes may go on counting in the database until their own flusher's probe finds Redis
        (a flush interval), or without a flusher their breaker's back-off; that long, this one
        numbers its views under the counter's row too (see _shown_after_return)."""
        self.rejoined_at = time.monotonic()
        self._number_in_the_database_for_a_while()

    def _number_in_the_database_for_a_while(self):
        interval = settings.COUNTER_FLUSH_INTERVAL
        window = 2 * interval + 1 if interval else self.breaker.max_backoff
        self.rejoining_until = time.monotonic() + window

    def _rejoining(self):
        return time.monotonic() < self.rejoining_until

    def _settled_since_return(self):
        """Before the first view numbered in the database after the return, a flush round: it
        settles the hits in doubt that Redis did count. Until then they are in an outage row and
        in Redis's seq at once, so numbers taken from the database would be too high by them, and
        fall back once they are settled."""
        if self.round_started_at >= self.rejoined_at:
            return
        with self._round_lock:
            if self.round_started_at < self.rejoined_at:
                self._round_before_counting()

    def _round_before_counting(self):
        """A flush round run by a request, waiting up to LOCK_SECONDS for the lock. Returns False if
        Redis is unreachable, else the round's result (None if the lock stayed busy); database
        errors are the caller's."""
        started = time.monotonic()
        try:
            client, scripts = self.client()
            result = flush_once(client, scripts, wait=LOCK_SECONDS)
        except redis.RedisError as error:
            self.breaker.failed()
            log.warning("Redis unreachable, counting in the database: %s", error)
            return False
        self._round_done(started, result)
        return result

    def restore_after_loss(self, client, scripts):
        """If Redis lost its data since this process last looked, restore every counter's views this
        process saw counted, so that other processes' numbers carry on above them too."""
        epoch = client.get(keys.EPOCH)
        if epoch is None:
            client.set(keys.EPOCH, uuid.uuid4().hex, nx=True)
            epoch = client.get(keys.EPOCH)
        if epoch == self.epoch:
            return
        if self.epoch is not None:
            self._rejoined()
        for name, (generation, seq) in list(self.seen.items()):
            if restore(scripts, name, generation, seq) is None:
                seed(client, scripts, name)
                restore(scripts, name, generation, seq)
        self.epoch = epoch

    def _merge_outage_views_first(self, name):
        """Before this process counts ``name`` in Redis again after an outage, add the outage views
        to Redis's total, so that its next number follows the ones it showed from the database.

        Returns False if Redis is still unreachable. If the merge cannot finish now (the database
        is down, the flush lock is busy, or a view's outcome is still uncertain), Redis's numbers
        lag until the flusher merges the rest, and the process numbers views above its own.
        """
        if name not in self.unmerged_outage:
            return True
        try:
            if self._round_before_counting() is False:
                return False
        except DatabaseError as error:
            log.warning("could not merge the outage views before counting in Redis: %s", error)
        return True

    def client(self):
        client, scripts = self._scripts
        current = get_redis()
        if client is not current:
            scripts = Scripts(current)
            self._scripts = (current, scripts)
        return current, scripts

    def _hit_in_redis(self, name, hit):
        client, scripts = self.client()
        hit_keys = [keys.total(name), keys.meta(name), keys.DIRTY, keys.RECENT_HITS]
        hit_args = [name, hit, keys.RECENT_HITS_KEPT, keys.RECENT_HITS_KEPT + keys.RECENT_HITS_SLACK]
        counted = scripts.hit(keys=hit_keys, args=hit_args)
        if counted == -1:
            seed(client, scripts, name)
            counted = scripts.hit(keys=hit_keys, args=hit_args)
        total, seq, generation, floor, ceiling = counted
        return total, (generation, self._saw(scripts, name, generation, seq)), floor, ceiling

    def _below_ceiling(self, name, shown, ceiling):
        """Return ``shown``, a number Redis numbered, once the database's ceiling is past it: if it is
        past both Redis's copy (``ceiling``) and the ceiling this process raised last, the
        database's is raised first, so that a number taken in the database if Redis stops
        answering now is no lower (see counter.bounds). If the database cannot answer, the number
        is shown anyway, and for the breaker's back-off the page does not wait on it again; the
        first number shown after that raises the ceiling past all of them.

        A view that comes within RAISE_EARLY of the last raise's step under the ceiling raises it
        without waiting for anyone: at a steady rate the raise is done before any view reaches the
        ceiling, and only the view that sends it waits for the database. A process's threads raise
        a counter's ceiling one at a time. Those that pass the ceiling while another is raising it
        wait for it, and those whose numbers it covered write nothing: a busy counter then takes
        one write per process each time its numbers near the ceiling, not one per thread. Other
        counters' raises do not wait for it."""
        known = max(ceiling, self.ceilings.get(name, 0))
        if shown <= known - self.early.get(name, 0):
            return shown
        past = shown > known
        raising = self._raising.setdefault(name, threading.Lock())
        if not raising.acquire(blocking=past):
            return shown  # under the ceiling, which another thread is raising already
        try:
            under = self.ceilings.get(name, 0) - (0 if past else self.early.get(name, 0))
            if shown <= under or not self.database_breaker.allow():
                return shown
            now = time.monotonic()
            try:
                raised = bounds.raise_ceiling(name, shown + self._views_ahead(name, shown, now))
            except DatabaseError as error:
                self.database_breaker.failed()
                log.warning("could not raise the counter's ceiling in the database: %s", error)
                return shown
            self.database_breaker.succeeded()
            with self._shown_lock:
                self.ceilings[name] = raised  # the database's, after every earlier raise
                self.early[name] = int((raised - shown) * RAISE_EARLY)
                last = self.raised.get(name)
                if last is None or now - last[0] >= settings.COUNTER_CEILING_AHEAD:
                    self.raised[name] = (now, shown)
        finally:
            raising.release()
        try:
            self.client()[1].raise_ceiling(keys=[keys.meta(name)], args=[raised])
        except redis.RedisError as error:  # Redis's copy lags until a later raise reaches it
            log.warning("could not raise the counter's ceiling in Redis: %s", error)
        return shown

    def _views_ahead(self, name, shown, now):
        """How far past ``shown`` to raise the ceiling: COUNTER_CEILING_AHEAD seconds of views, at
        the rate Redis numbered them (its numbers count every process's views) since the raise
        this process measures from, and over that many seconds at least, so that a burst on a
        counter viewed seldom takes no big step; one view at least. The raise measured from moves
        on once it is that many seconds old: a busy counter's first raises go about twice as far
        each time, then come about three quarters of that many seconds apart (see RAISE_EARLY)."""
        ahead = settings.COUNTER_CEILING_AHEAD
        last = self.raised.get(name)
        if last is None or not ahead:
            return 1
        rate = (shown - last[1]) / max(now - last[0], ahead)
        return min(MAX_AHEAD, max(1, int(rate * ahead)))

    def _saw(self, scripts, name, generation, seq):
        """Remember the last view seen counted; on a new generation, first restore the old one's
        views (if that fails, the next view tries again). Returns the view's seq, or the seq Redis
        reached by the restore: restored views take seq numbers of the new generation, and were
        counted before this view."""
        last = self.seen.get(name)
        if last is not None and generation > last[0]:
            try:
                restored = restore(scripts, name, *last)
            except redis.RedisError as error:
                log.warning("could not restore the views Redis lost: %s", error)
                return seq
            if restored is not None:
                seq = max(seq, restored[1])
            self.ahead.add(name)
            self._rejoined()
        with self._shown_lock:
            last = self.seen.get(name)
            if last is None or (generation, seq) > last:
                self.seen[name] = (generation, seq)
        return seq

    def _hit_in_database(self, name, uncertain=None):
        """Count the view in this process's outage row and return its number; ``uncertain`` is the
        id of a Redis call that failed after it may have counted the same view. Each such view
        tells the database how far this process saw Redis count, so that the others number above
        that too, and is numbered while it holds the counter's row, so that the numbers of
        concurrent views, in this process or another, follow the order they were counted in."""
        table = connection.ops.quote_name(OutageView._meta.db_table)
        outage = self._outage_id()
        seen = self.seen.get(name)
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"INSERT INTO {table} (outage, name, views) VALUES (%s, %s, 1) "
                        f"ON CONFLICT (outage, name) DO UPDATE SET views = {table}.views + 1",
                        [outage, name],
                    )
                if uncertain:
                    UncertainHit.objects.create(hit=uncertain, outage=outage, name=name)
                shown = self._shown_from_database(name, counted_total(name, seen, lock=True))
        except DatabaseError as error:
            raise CounterUnavailable("neither Redis nor the database is reachable") from error
        with self._shown_lock:
            self.unmerged_outage[name] = time.monotonic()  # committed: a round begun from now on merges it
        return shown

    def _outage_id(self):
        """This process's outage rows change every hour, so that old rows can be compacted safely."""
        hour = int(time.time() // 3600)
        with self._outage_lock:
            if self._outage[0] != hour:
                self._outage = (hour, uuid.uuid4().hex)
            return self._outage[1]

    def _shown_from_database(self, name, counted):
        """The number for a view counted in the database, where ``counted`` is its counted total
        (see counter.flusher.counted_total), inside the transaction that holds the counter's row.

        That total lacks the views Redis numbered that no process has reported, so the view gets
        no less than the ceiling on Redis's numbers and the numbers shown before it from the
        database (see counter.bounds): the same number as the views before it, until the count
        passes them.
        """
        with self._shown_lock:
            candidate = max(counted, self.shown.get(name, 0))
        shown = bounds.number_in_database(name, candidate, above_ceiling=True)
        with self._shown_lock:
            self.shown[name] = max(self.shown.get(name, 0), shown)
            self.shown_in_outage[name] = max(self.shown_in_outage.get(name, 0), shown)
        return shown

    def _shown_after_return(self, name, number, place):
        """The number for a view Redis counted as ``number`` at ``place`` (generation, seq) while
        other processes may still be counting in the database: taken, like theirs, while holding
        the counter's row, from the durable total with every outage view and Redis's views up to
        this one, whose place it reports for them to number above. So the numbers of both kinds
        of view follow the order they were counted in, and agree with Redis's own once the outage
        views are merged. It is no lower than any number shown for a view numbered in the
        database (see counter.bounds), nor than one this process showed from the database (which
        may lead the count by views in doubt) or before Redis lost views. If the database cannot
        answer, the window ends: Redis's numbers are shown as they are after an outage (see
        _shown_from_redis), and the page does not wait on the database again."""
        with self._shown_lock:
            floor = self.shown.get(name, 0) if name in self.ahead else self.shown_in_outage.get(name, 0)
        try:
            self._settled_since_return()
            with transaction.atomic():
                counted = max(number, counted_total(name, place, lock=True, at_place=True))
                shown = bounds.number_in_database(name, max(counted, floor), above_ceiling=False)
            in_doubt = UncertainHit.objects.filter(name=name).exists()  # needs no lock on the row
        except DatabaseError as error:
            self.rejoining_until = 0.0
            self.database_breaker.failed()
            log.warning("could not number the view in the database, numbering from Redis alone: %s", error)
            return self._shown_from_redis(name, number)
        if in_doubt:
            self._number_in_the_database_for_a_while()  # Redis's total lacks such views until settled
        with self._shown_lock:
            if counted > floor:
                self.ahead.discard(name)
            else:
                self.shown_in_outage[name] = max(self.shown_in_outage.get(name, 0), shown)
            self.shown[name] = max(self.shown.get(name, 0), shown)
        return shown

    def _shown_from_redis(self, name, number):
        """Redis's number for this view, exact once this process's outage views are merged into
        its total and the views Redis lost are restored; until then it may lag, and the view gets
        the highest number shown here, until Redis's passes it."""
        if name not in self.unmerged_outage and name not in self.ahead:
            self._remember(name, number)
            return number
        with self._shown_lock:
            highest = self.shown.get(name, 0)
            if number > highest:
                self.unmerged_outage.pop(name, None)
                self.ahead.discard(name)
                self.shown[name] = number
            else:
                number = highest
        return number

    def _remember(self, name, shown):
        """Record the highest number shown for ``name`` in this process, and return the larger.

        Redis's own numbers are exact and returned as they are; a count read from the database
        during an outage may lag behind them, and is raised to this floor so it never goes back.
        """
        with self._shown_lock:
            floor = self.shown.get(name, 0)
            if shown > floor:
                self.shown[name] = shown
                return shown
            return floor

    def _forget_when_due(self):
        if len(self.shown) <= NAMES_KEPT and len(self.seen) <= NAMES_KEPT:
            return
        now = time.monotonic()
        if now < self._forget_due or not self._forgetting.acquire(blocking=False):
            return
        self._forget_due = now + FORGET_EVERY
        try:
            threading.Thread(target=self._forget_in_background, name="counter-forget", daemon=True).start()
        except RuntimeError:  # no thread can be started now; the next view after FORGET_EVERY tries again
            self._forgetting.release()

    def _forget_in_background(self):
        try:
            self.forget_held_in_full()
        except DatabaseError as error:
            log.warning("could not look up which counters the database holds in full: %s", error)
        except Exception:
            log.exception("could not forget the counters the database holds in full")
        finally:
            connections.close_all()  # this thread's own, which ends here
            self._forgetting.release()

    def forget_held_in_full(self):
        """Forget the counters the database holds in full (see counter.forgetting), unless Redis is
        away or has just returned, when what this process showed and saw is what keeps its
        numbers from going back. A counter shown or seen again meanwhile is kept. Returns how many
        were forgotten."""
        if not self.breaker.is_closed or self._rejoining():
            return 0
        with self._shown_lock:
            state = {
                name: (self.shown.get(name), self.seen.get(name))
                for name in self.shown.keys() | self.seen.keys()
                if name not in self.unmerged_outage and name not in self.ahead
            }
        held = held_in_full(state)
        forgotten = 0
        with self._shown_lock:
            if not self.breaker.is_closed or self._rejoining():
                return 0
            for name in held:
                unchanged = (self.shown.get(name), self.seen.get(name)) == state[name]
                if unchanged and name not in self.unmerged_outage and name not in self.ahead:
                    self.shown.pop(name, None)
                    self.seen.pop(name, None)
                    self.shown_in_outage.pop(name, None)
                    self.raised.pop(name, None)
                    self.ceilings.pop(name, None)
                    self.early.pop(name, None)
                    self._raising.pop(name, None)
                    forgotten += 1
        return forgotten
