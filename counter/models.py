import uuid

from django.core.validators import FileExtensionValidator
from django.db import models
from django.db.models.functions import Now


class Counter(models.Model):
    """A named count of page views, as far as it has been made durable.

    With the Redis backend, views reach this row in batches (see counter.flusher); the durable
    total is ``views`` plus any OutageView rows for the same name. ``generation`` is the Redis
    total's generation and ``flushed_seq`` how far into it the batches written here reach: what a
    process needs to restore the views Redis lost when that generation ended. ``seen_seq`` is the
    furthest into it any process had seen Redis count when it started counting here instead, so
    that all of them number their outage views above what Redis showed (see
    counter.flusher.counted_total). ``redis_ceiling`` bounds the numbers Redis has shown, and
    ``database_shown`` is the highest number shown for a view numbered in the database: what keeps
    numbers from going back when Redis stops answering or loses its data (see counter.bounds).
    """

    name = models.CharField(max_length=200, primary_key=True)
    views = models.BigIntegerField(default=0)
    generation = models.BigIntegerField(default=0, db_default=0)
    flushed_seq = models.BigIntegerField(default=0, db_default=0)
    seen_seq = models.BigIntegerField(default=0, db_default=0)
    redis_ceiling = models.BigIntegerField(default=0, db_default=0)
    database_shown = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name}: {self.views:,}"


class OutageView(models.Model):
    """Views one process counted in the database while it could not reach Redis.

    One row per process outage and name, so that the merge into Redis can say exactly how much of
    each row it has already added (see counter.flusher.merge_outage_views).
    """

    outage = models.UUIDField()
    name = models.CharField(max_length=200)
    views = models.BigIntegerField(default=0)
    created = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [models.UniqueConstraint(fields=["outage", "name"], name="one_row_per_outage_and_name")]


class UncertainHit(models.Model):
    """A view whose Redis call failed after it may have reached Redis, counted in an outage row.

    Redis may still have executed it (a reply lost, a server paused then resumed): the flusher
    looks the hit up among Redis's recent hits and, if Redis did count it, takes it back out of
    the outage row, so the view counts once.
    """

    hit = models.UUIDField(primary_key=True)
    outage = models.UUIDField()
    name = models.CharField(max_length=200)
    created = models.DateTimeField(db_default=Now())


class FlushedBatch(models.Model):
    """A batch of Redis views already added to Counter, so that a retried batch is never added twice."""

    batch = models.UUIDField(primary_key=True)
    created = models.DateTimeField(db_default=Now())


class PageImage(models.Model):
    """An image for the home page, which shows the newest one above the greeting.

    Only raster formats are accepted: an SVG can carry script, which would run if someone opened
    the file's URL directly. The alternative text is required, for people who cannot see the image.
    """

    EXTENSIONS = ["png", "jpg", "jpeg", "gif", "webp"]

    file = models.FileField(upload_to="page-images/", validators=[FileExtensionValidator(EXTENSIONS)])
    alt = models.CharField("alternative text", max_length=250, help_text="What the image shows, for screen readers.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]  # newest first: the one the page shows

    def __str__(self):
        return self.alt


def new_series():
    return uuid.uuid4().hex


class NamedCounter(models.Model):
    """A counter of the API, named ``namespace/key`` (see counter.named).

    It counts as Counter rows do, under the same name; ``offset`` is subtracted from that count
    for display, which is how a counter starts from a given value or is reset. ``token_hash`` is
    the SHA-256 of the admin token of a counter created explicitly, empty for one a hit created.
    Its views per day count the same way, under names made from ``series`` and the day.
    """

    name = models.CharField(max_length=129, primary_key=True)
    offset = models.BigIntegerField(default=0)
    token_hash = models.CharField(max_length=64, blank=True)
    # Names the counter's daily counts (see counter.history): a counter created again after being
    # deleted starts a history of its own.
    series = models.CharField(max_length=32, default=new_series, editable=False)
    created = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class RateLimitWindow(models.Model):
    """Requests one client made in one window of one limit, where Redis is not there to count them
    (see counter.rate_limits). ``key`` names the limit and a hash of the client's address."""

    key = models.CharField(max_length=80)
    window = models.BigIntegerField()
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window"], name="one_row_per_key_and_window")]


class DailySalt(models.Model):
    """The random salt of one day's visitor hashes (see counter.visitors). Deleted once its day is
    over, after which no hash of that day can be linked to an address again."""

    day = models.DateField(primary_key=True)
    salt = models.BinaryField(max_length=32)


class DailyVisitor(models.Model):
    """One visitor of one counter on one day, where there is no Redis to keep a HyperLogLog:
    ``name`` is the day's series name, ``visitor`` the day's salted hash, never an address."""

    name = models.CharField(max_length=64)
    visitor = models.CharField(max_length=32)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "visitor"], name="one_row_per_visitor_and_day")]


class DailyVisitors(models.Model):
    """A day's count of visitors, kept in the database: with Redis, a copy of the day's
    HyperLogLog made by the flusher, so that a Redis that loses it loses at most one flush
    interval of visitors; without Redis, the count of a day that is over."""

    name = models.CharField(max_length=64, primary_key=True)
    visitors = models.BigIntegerField(default=0)
    registers = models.BinaryField(null=True)
