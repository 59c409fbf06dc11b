"""A pytest plugin that gives the suite a production environment before Django's settings load.

Loaded with ``-p tests.environment`` (see pytest.ini): pytest-django imports the settings before
any conftest.py runs, so this is the only place early enough. DATABASE_URL and REDIS_URL are left
as the caller set them, which is how bin/test runs the suite a second time on real services.
"""

import os
import secrets

for name in ("DEBUG", "DYNO", "ALLOWED_HOSTS", "HEROKU_APP_DEFAULT_DOMAIN_NAME", "PORT", "WEB_CONCURRENCY"):
    os.environ.pop(name, None)
os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
# Tests flush counters when they mean to; a background flusher would race their transactions.
os.environ["COUNTER_FLUSH_INTERVAL"] = "0"
