"""The image the home page shows above the greeting, if any.

It changes only when someone uploads or deletes one in the admin, yet the page is the hottest
path there is: each process keeps the answer for CACHE_SECONDS (and forgets it at once when it
saves or deletes an image itself), so that counting a view with Redis needs no database query.
It is decoration: with the database down the page still answers, without the image, and a
circuit breaker spares each request the wait for a database that is not there.
"""

import logging
import time

from django.db import DatabaseError
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from counter.features.breaker import CircuitBreaker
from counter.models import PageImage
from herokuapp import process_state

log = logging.getLogger(__name__)

CACHE_SECONDS = 10

breaker = CircuitBreaker()
_cached = (0.0, None)  # (monotonic time it expires, image)


def current():
    """The newest PageImage, or None when there is none. While the database can't say, the last
    answer this process had stands."""
    global _cached
    expires, image = _cached
    if time.monotonic() < expires or not breaker.allow():
        return image
    try:
        image = PageImage.objects.first()
    except DatabaseError as error:
        breaker.failed()
        log.warning("page image: the database did not answer, keeping the last answer: %s", error)
        return _cached[1]
    breaker.succeeded()
    _cached = (time.monotonic() + CACHE_SECONDS, image)
    return image


@receiver([post_save, post_delete], sender=PageImage)
@process_state.on_reset
def forget(**kwargs):
    global _cached
    _cached = (0.0, None)
