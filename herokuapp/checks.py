"""System checks that each configured service answers, so that `manage.py check` and the release
phase (migrate runs every check) name a wrong URL, password or unreachable host before any dyno
serves a half-working app. Build-time commands such as collectstatic do not run them."""

from django.conf import settings
from django.core.checks import Error, register
from django.db import DEFAULT_DB_ALIAS, connections

from herokuapp import media

SERVICES = "services"
CREDENTIALS = "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"


def first_line(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


@register(SERVICES)
def check_database(app_configs=None, **kwargs):
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        connection.ensure_connection()
    except Exception as error:
        return [
            Error(
                f"DATABASE_URL: cannot connect to the database: {first_line(error)}",
                hint="Check the URL's host, port, user, password and database name.",
                id="herokuapp.E001",
            )
        ]
    return []


@register(SERVICES)
def check_redis(app_configs=None, **kwargs):
    """With the Redis counter store, Redis must answer; the database store keeps nothing there."""
    if settings.COUNTER_STORE != "redis":
        return []
    import redis

    from herokuapp.redis_client import get_redis

    try:
        get_redis().ping()
    except redis.AuthenticationError as error:
        problem, hint = f"Redis refused the credentials: {first_line(error)}", "Check the password in the URL."
    except redis.RedisError as error:
        problem = f"cannot reach Redis: {first_line(error)}"
        hint = "Check the host and port; for rediss:// see REDIS_SSL_CERT_REQS."
    else:
        return []
    return [Error(f"REDIS_URL: {problem}", hint=hint, id="herokuapp.E002")]


@register(SERVICES)
def check_storage(app_configs=None, **kwargs):
    """With uploads on S3, the bucket must exist and the credentials must be allowed to use it."""
    if settings.STORAGES["default"]["BACKEND"] != media.BACKEND:
        return []
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    from django.core.files.storage import storages

    storage = storages["default"]
    bucket = storage.bucket_name
    client = storage.connection.meta.client
    credentials_hint = "Check the key pair, and that its IAM policy allows s3:ListBucket on the bucket."
    try:
        client.head_bucket(Bucket=bucket)
    except NoCredentialsError:
        variable, problem, hint = CREDENTIALS, "no S3 credentials are set", credentials_hint
    except ClientError as error:
        status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        if status == 404:
            variable, problem = "AWS_STORAGE_BUCKET_NAME", f"bucket {bucket!r} does not exist"
            hint = "Create the bucket, or correct its name."
        elif status in (401, 403):
            variable, problem = CREDENTIALS, f"S3 refused access to bucket {bucket!r} ({status})"
            hint = credentials_hint
        else:
            variable, problem = (
                "AWS_STORAGE_BUCKET_NAME",
                f"S3 answered {status} for bucket {bucket!r}: {first_line(error)}",
            )
            hint = "Check the bucket's name and AWS_S3_REGION_NAME."
    except BotoCoreError as error:
        # Without a custom endpoint the host is AWS's, which follows from the region.
        variable = "AWS_S3_ENDPOINT_URL" if storage.endpoint_url else "AWS_S3_REGION_NAME"
        problem = f"cannot reach S3 at {client.meta.endpoint_url}: {first_line(error)}"
        hint = "Check the endpoint's host and port." if storage.endpoint_url else "Check the region's name."
    else:
        return []
    return [Error(f"{variable}: {problem}", hint=hint, id="herokuapp.E003")]
