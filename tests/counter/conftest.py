import pytest


@pytest.fixture(params=["database", "redis"])
def backend(request):
    """Run the test once with each counter store (COUNTER_STORE)."""
    request.getfixturevalue(f"{request.param}_counter")
    return request.param
