"""What the tests stand on: services, dynos under gunicorn, the router, faults and fixtures.

Nothing here is a test; the fixtures are registered as pytest plugins (see tests/conftest.py).
"""
