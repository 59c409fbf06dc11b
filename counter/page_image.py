"""The image the home page shows above the greeting, if any.

It is decoration: with the database down while Redis counts, the page still answers, without the
image, and a circuit breaker spares each request the wait for a database that is not there.
"""

import logging

from django.db import DatabaseError

from counter.breaker import CircuitBreaker
from counter.models import PageImage

log = logging.getLogger(__name__)

breaker = CircuitBreaker()


def current():
    """The newest PageImage (one query for one row), or None when there is none or the database can't say."""
    if not breaker.allow():
        return None
    try:
        image = PageImage.objects.first()
    except DatabaseError as error:
        breaker.failed()
        log.warning("page image: the database did not answer, showing the page without it: %s", error)
        return None
    breaker.succeeded()
    return image
