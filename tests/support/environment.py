"""A pytest plugin that gives the suite a production environment before Django's settings load.

Loaded with ``-p tests.support.environment`` (see pytest.ini): pytest-django imports the settings before
any conftest.py runs, so this is the only place early enough. DATABASE_URL and REDIS_URL are left
as the caller set them, which is how bin/test runs the suite a second time on real services.
"""

import os
import secrets

for name in ("DEBUG", "DYNO", "ALLOWED_HOSTS", "HEROKU_APP_DEFAULT_DOMAIN_NAME", "PORT", "WEB_CONCURRENCY"):
    os.environ.pop(name, None)
os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)

# Media go to S3 only when asked. TEST_S3=moto (bin/test's second run) starts a test S3 server and
# names a fresh bucket on it, as Heroku config vars would name a real one.
for name in (
    "AWS_STORAGE_BUCKET_NAME",
    "AWS_S3_ENDPOINT_URL",
    "AWS_S3_REGION_NAME",
    "AWS_S3_CUSTOM_DOMAIN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
):
    os.environ.pop(name, None)
if os.environ.get("TEST_S3", "") not in ("", "moto"):
    raise SystemExit(f"tests.support.environment: TEST_S3 must be moto or unset, not {os.environ['TEST_S3']!r}")
if os.environ.get("TEST_S3") == "moto":
    from tests.support import s3

    os.environ.update(
        AWS_STORAGE_BUCKET_NAME=s3.server().create_bucket(),
        AWS_S3_ENDPOINT_URL=s3.server().endpoint_url,
        AWS_S3_REGION_NAME=s3.REGION,
        AWS_ACCESS_KEY_ID=s3.ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=s3.SECRET_KEY,
    )
