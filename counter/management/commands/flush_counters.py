"""Flush counted views from Redis to the database: once, or as a worker process.

The web dynos flush on their own; this command is for a `worker` process when
COUNTER_FLUSH_INTERVAL=0 turns their flusher off, and for operators who want a flush now.
"""

import signal
import time

import redis
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from counter.backends import get_counter
from counter.redis_counter import RedisCounter


class Command(BaseCommand):
    help = "Write the views counted in Redis to the database and merge views counted during outages."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="keep flushing until SIGTERM")
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between rounds with --loop")

    def handle(self, *args, loop, interval, **options):
        counter = get_counter()
        if not isinstance(counter, RedisCounter):
            self.stdout.write("Nothing to flush: each view is written to the database directly (no REDIS_URL, or COUNTER_STORE=database).")
            return
        if not loop:
            self.flush_once(counter)
            return
        stopping = []
        previous = signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        try:
            while not stopping:
                # A failed round (Redis or the database away) is logged and retried: exiting would
                # leave the views unflushed while Heroku waits longer and longer to restart a
                # worker that keeps crashing.
                result = counter.flusher.round()
                if result is not None:
                    self.stdout.write("flushed={} merged={}".format(*result))
                if not stopping:
                    time.sleep(interval)
        finally:
            signal.signal(signal.SIGTERM, previous)

    def flush_once(self, counter):
        try:
            result = counter.flush(compact=True)
        except (redis.RedisError, DatabaseError) as error:
            raise CommandError(f"could not flush: {error}") from error
        if result is None:
            raise CommandError("another process holds the flush lock, or Redis is unreachable; try again")
        self.stdout.write("flushed={} merged={}".format(*result))
