from django.db import models


class Counter(models.Model):
    """A named count of page views: the durable record, whichever backend counts."""

    name = models.CharField(max_length=200, primary_key=True)
    views = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name}: {self.views:,}"
