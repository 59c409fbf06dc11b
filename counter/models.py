import uuid

from django.core.validators import FileExtensionValidator
from django.db import models
from django.db.models.functions import Now

from counter.text import validate_visible


class Counter(models.Model):
    """A named count of views as far as it is durable: with the Redis store, its views reach the
    row in batches (see counter.engine.flusher). ``updated`` is when the row last changed, by the
    database's clock: how Redis's copies of the totals learn of writes made outside their batches."""

    name = models.CharField(max_length=200, primary_key=True)
    views = models.BigIntegerField(default=0)
    updated = models.DateTimeField(db_default=Now(), db_index=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name}: {self.views:,}"


class RedisInstance(models.Model):
    """How far the database has taken the batches of one Redis instance: a batch numbered at most
    ``taken`` is in the counters already, and is never added again. ``epoch`` changes each time
    the instance restarts with its data: a batch taken before that is not added (see
    counter.engine.flusher.reconcile)."""

    id = models.CharField(max_length=32, primary_key=True)
    taken = models.BigIntegerField(default=0)
    epoch = models.BigIntegerField(default=0)

    def __str__(self):
        return self.id


class PageImage(models.Model):
    """An image for the home page, which shows the newest one above the greeting.

    Only raster formats are accepted: an SVG can carry script, which would run if someone opened
    the file's URL directly. The alternative text is required, for people who cannot see the image,
    and must read as it shows (see counter.text). The storage cleans the file's name itself.
    """

    EXTENSIONS = ["png", "jpg", "jpeg", "gif", "webp"]

    file = models.FileField(upload_to="page-images/", validators=[FileExtensionValidator(EXTENSIONS)])
    alt = models.CharField(
        "alternative text",
        max_length=250,
        validators=[validate_visible],
        help_text="What the image shows, for screen readers.",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]  # newest first: the one the page shows

    def __str__(self):
        return self.alt


def new_series():
    return uuid.uuid4().hex


class NamedCounter(models.Model):
    """A counter of the API, named ``namespace/key`` (see counter.features.named).

    It counts as Counter rows do, under the same name; ``offset`` is subtracted from that count
    for display, which is how a counter starts from a given value or is reset. ``token_hash`` is
    the SHA-256 of the admin token of a counter created explicitly, empty for one a hit created.
    Its views per day count the same way, under names made from ``series`` and the day.
    """

    name = models.CharField(max_length=129, primary_key=True)
    offset = models.BigIntegerField(default=0)
    token_hash = models.CharField(max_length=64, blank=True)
    # Names the counter's daily counts (see counter.features.history): a counter created again after being
    # deleted starts a history of its own.
    series = models.CharField(max_length=32, default=new_series, editable=False)
    created = models.DateTimeField(db_default=Now())
    # The first day of its history (UTC): the day it was created, or the first day of a history it
    # was created with (counter.features.carried_history). Empty on rows older than this field: their
    # history starts on the day of ``created``.
    first_day = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class RateLimitWindow(models.Model):
    """Requests one client made in one window of one limit, with the database store or while Redis
    does not answer (see counter.features.rate_limits). ``key`` names the limit and a hash of the client's address."""

    key = models.CharField(max_length=80)
    window = models.BigIntegerField()
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window"], name="one_row_per_key_and_window")]

    def __str__(self):
        return f"{self.key} in window {self.window}"


class DailySalt(models.Model):
    """The random salt of one day's visitor hashes (see counter.features.visitors). Deleted once its day is
    over, after which no hash of that day can be linked to an address again."""

    day = models.DateField(primary_key=True)
    salt = models.BinaryField(max_length=32)

    def __str__(self):
        return str(self.day)


class DailyVisitor(models.Model):
    """One visitor of one counter on one day, with the database store (no HyperLogLog in Redis):
    ``name`` is the day's series name, ``visitor`` the day's salted hash, never an address."""

    name = models.CharField(max_length=64)
    visitor = models.CharField(max_length=32)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "visitor"], name="one_row_per_visitor_and_day")]

    def __str__(self):
        return f"{self.name} {self.visitor}"


class DailyVisitors(models.Model):
    """A day's count of visitors, kept in the database: with the Redis store, a copy of the day's
    HyperLogLog made after each flush round, so that a Redis that loses it loses at most one flush
    interval of visitors; with the database store, the count of a day that is over."""

    name = models.CharField(max_length=64, primary_key=True)
    visitors = models.BigIntegerField(default=0)
    registers = models.BinaryField(null=True)

    def __str__(self):
        return self.name
