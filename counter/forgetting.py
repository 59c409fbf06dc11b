"""Which counters a process may forget: those the database holds in full.

A process keeps, per counter name, the highest number it has shown and the last view it saw
counted in Redis. Named counters add a name per counter and per day, so a process that kept them
all would grow for as long as it runs. Once the database holds every view behind them, they tell
nothing the database does not: numbers taken from it are no lower, and Redis has nothing of
theirs left to lose.
"""

from django.db.models import Sum

from counter.models import Counter, OutageView

# Names per query: a long IN list is one round trip, but not an unbounded one.
CHUNK = 500


def held_in_full(state):
    """The names of ``state`` ({name: (highest number shown or None, (generation, seq) of the last
    view seen counted in Redis or None)}) that the database holds in full: the view seen is in a
    batch it has written, of the generation it is on, and its total with the outage views is at
    least the number shown."""
    names = list(state)
    held = []
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        rows = {
            name: (views, generation, flushed_seq)
            for name, views, generation, flushed_seq in Counter.objects.filter(name__in=chunk).values_list(
                "name", "views", "generation", "flushed_seq"
            )
        }
        outage_rows = OutageView.objects.filter(name__in=chunk).values("name").annotate(views=Sum("views"))
        outage = dict(outage_rows.values_list("name", "views"))
        for name in chunk:
            shown, seen = state[name]
            views, generation, flushed_seq = rows.get(name, (0, None, 0))
            if seen is not None and (seen[0] != generation or seen[1] > flushed_seq):
                continue
            if shown is not None and shown > views + outage.get(name, 0):
                continue
            held.append(name)
    return held
