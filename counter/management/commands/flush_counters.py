"""Flush counted views from Redis to the database: once, or as a worker process.

The web dynos flush on their own; this command is for a `worker` process when
COUNTER_FLUSH_INTERVAL=0 turns their flusher off, and for operators who want a flush now.
"""

import signal
import time

from django.core.management.base import BaseCommand, CommandError

from counter.backends import RedisCounter, get_counter


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
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        while True:
            result = counter.flush(compact=True)
            if result is None and not loop:
                raise CommandError("another process holds the flush lock, or Redis is unreachable; try again")
            if result is not None:
                flushed, merged = result
                self.stdout.write(f"flushed={flushed} merged={merged}")
            if not loop or stopping:
                break
            time.sleep(interval)
