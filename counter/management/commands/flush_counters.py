"""Flush the views counted in Redis to the database now: for operators, and for a last flush by
hand before a Redis instance is retired. Web processes flush on their own every interval."""

import redis
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from counter.engine.base import get_store


class Command(BaseCommand):
    help = "Write the views counted in Redis to the database."

    def handle(self, *args, **options):
        store = get_store()
        try:
            added = store.flush()
        except (redis.RedisError, DatabaseError) as error:
            raise CommandError(f"could not flush: {error}") from error
        self.stdout.write(f"flushed={added}")
