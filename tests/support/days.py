"""The day the history tests are set on (UTC), and counting views and bots' requests on it; the
``clock`` fixture in conftest moves it."""

import datetime

from django.test import RequestFactory

from counter.features import named
from tests.support.agents import GOOGLEBOT

DAY = datetime.date(2026, 11, 24)


def days_ago(days):
    return DAY - datetime.timedelta(days=days)


def hits(name, count):
    for _ in range(count):
        named.hit(name)


def bot_hits(name, count):
    for _ in range(count):
        named.hit(name, RequestFactory().get("/", HTTP_USER_AGENT=GOOGLEBOT))
