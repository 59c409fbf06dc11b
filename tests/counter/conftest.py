import pytest

from counter.features import history
from tests.support.days import DAY


@pytest.fixture(params=["database", "redis"])
def backend(request):
    """Run the test once with each counter store (COUNTER_STORE)."""
    request.getfixturevalue(f"{request.param}_counter")
    return request.param


@pytest.fixture
def clock(monkeypatch):
    """The UTC day it is, as the test sets it: DAY until the test moves it."""
    now = {"day": DAY}
    monkeypatch.setattr(history, "today", lambda: now["day"])
    return now
