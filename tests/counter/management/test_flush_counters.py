"""`manage.py flush_counters`: one flush round now, for an operator (a last flush before a Redis
instance is retired), saying how many views it moved, and failing with a message if it cannot."""

import io

import pytest
from django.core.management import CommandError, call_command

from counter.engine.base import get_store
from counter.models import Counter

pytestmark = pytest.mark.django_db(transaction=True)


def flush_counters():
    out = io.StringIO()
    call_command("flush_counters", stdout=out)
    return out.getvalue().strip()


def test_it_moves_the_views_redis_holds_to_the_database(redis_counter):
    store = get_store()
    for _ in range(3):
        store.hit("index")
    store.hit("example.com/home")
    assert not Counter.objects.filter(views__gt=0).exists()
    assert flush_counters() == "flushed=4"
    assert dict(Counter.objects.values_list("name", "views")) == {"index": 3, "example.com/home": 1}
    assert flush_counters() == "flushed=0"
    assert store.get("index") == 3


def test_with_the_database_store_there_is_nothing_to_move(database_counter):
    get_store().hit("index")
    assert flush_counters() == "flushed=0"
    assert Counter.objects.get(name="index").views == 1


def test_with_redis_unreachable_it_fails_saying_why(redis_counter, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    with pytest.raises(CommandError, match="^could not flush: "):
        flush_counters()
