"""What the tests stand on: services, dynos under gunicorn, the router, faults and fixtures.

Nothing here is a test; the fixtures are registered as pytest plugins (see tests/conftest.py).
"""

import pkgutil

import pytest

# Its helpers and fixtures assert as tests do: pytest rewrites those asserts to say what failed,
# even in the modules imported before it collects the tests.
pytest.register_assert_rewrite(*(f"{__name__}.{module.name}" for module in pkgutil.iter_modules(__path__)))
