"""Media storage: the S3 bucket's options and origin, the settings that choose it, and its check."""

import subprocess
import sys
import time
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
from django.core import checks
from django.core.files.storage import default_storage

from counter.models import PageImage
from herokuapp.checks import SERVICES
from herokuapp.media import S3Bucket
from tests.herokuapp.test_settings import assert_fails_at_start_naming, manage, settings_of
from tests.support.dyno import ROOT, dyno_environment

BUCKET = {
    "AWS_STORAGE_BUCKET_NAME": "example-media",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "secret",
}


def storage_for(bucket):
    """The storage settings would build for ``bucket``, with a key pair to sign its URLs."""
    from storages.backends.s3 import S3Storage

    return S3Storage(**replace(bucket, access_key="AKIAEXAMPLE", secret_key="secret").storage()["OPTIONS"])


# the origin the storage's URLs point at


@pytest.mark.parametrize(
    "bucket, origin",
    [
        (S3Bucket("media", custom_domain="cdn.example.com"), "https://cdn.example.com"),
        (S3Bucket("media", custom_domain="cdn.example.com/uploads"), "https://cdn.example.com"),
        (
            S3Bucket("media", region="auto", endpoint_url="https://0123abc.r2.cloudflarestorage.com"),
            "https://0123abc.r2.cloudflarestorage.com",
        ),
        (S3Bucket("media", endpoint_url="http://127.0.0.1:9000"), "http://127.0.0.1:9000"),
        (S3Bucket("media", endpoint_url="https://minio.example.com:9000/"), "https://minio.example.com:9000"),
        (S3Bucket("media", region="eu-central-1"), "https://media.s3.eu-central-1.amazonaws.com"),
        (S3Bucket("media", region="us-east-1"), "https://media.s3.us-east-1.amazonaws.com"),
        (S3Bucket("media"), "https://media.s3.amazonaws.com"),
        (S3Bucket("media.example.com", region="eu-west-1"), "https://s3.eu-west-1.amazonaws.com"),
    ],
    ids=[
        "custom-domain",
        "custom-domain-with-path",
        "r2",
        "minio-http",
        "endpoint-with-port",
        "aws-region",
        "aws-us-east-1",
        "aws-no-region",
        "aws-dotted-bucket",
    ],
)
def test_origin_is_where_the_storages_urls_point(bucket, origin):
    assert bucket.origin() == origin
    url = urlsplit(storage_for(bucket).url("page-images/lighthouse.png"))
    assert f"{url.scheme}://{url.netloc}" == origin


def test_custom_endpoints_put_the_bucket_in_the_path_and_aws_in_the_host():
    on_r2 = storage_for(S3Bucket("media", region="auto", endpoint_url="https://0123abc.r2.cloudflarestorage.com"))
    on_aws = storage_for(S3Bucket("media", region="eu-central-1"))
    assert urlsplit(on_r2.url("a.png")).path == "/media/a.png"
    assert urlsplit(on_aws.url("a.png")).path == "/a.png"


def test_storage_signs_urls_sends_no_acl_and_never_overwrites():
    storage = storage_for(S3Bucket("media", region="eu-central-1"))
    assert storage.querystring_auth is True
    assert storage.default_acl is None
    assert storage.file_overwrite is False
    assert "X-Amz-Signature=" in storage.url("a.png")


def test_storage_gives_up_on_an_unresponsive_store_within_seconds():
    config = storage_for(S3Bucket("media", region="eu-central-1")).client_config
    assert config.connect_timeout <= 5
    assert config.read_timeout <= 10
    assert config.retries["total_max_attempts"] <= 2


def test_credentials_are_not_in_the_buckets_repr():
    assert "s3cr3t" not in repr(S3Bucket("media", access_key="AKIA", secret_key="s3cr3t"))


# settings: each test loads them in a fresh process


@pytest.mark.slow
def test_media_is_on_the_local_disk_without_a_bucket():
    values = settings_of("STORAGES", "SECURE_CSP")
    assert values["STORAGES"]["default"] == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert values["SECURE_CSP"]["img-src"] == ["'self'", "data:"]


@pytest.mark.slow
def test_naming_a_bucket_puts_media_on_s3_with_its_origin_allowed_for_images():
    values = settings_of("STORAGES", "SECURE_CSP", **BUCKET, AWS_S3_REGION_NAME="eu-central-1")
    storage = values["STORAGES"]["default"]
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    assert storage["OPTIONS"]["bucket_name"] == "example-media"
    assert storage["OPTIONS"]["region_name"] == "eu-central-1"
    assert storage["OPTIONS"]["access_key"] == "AKIAEXAMPLE"
    assert values["SECURE_CSP"]["img-src"] == ["'self'", "data:", "https://example-media.s3.eu-central-1.amazonaws.com"]


@pytest.mark.slow
def test_a_custom_endpoint_and_domain_come_from_the_environment():
    endpoint = settings_of("SECURE_CSP", **BUCKET, AWS_S3_ENDPOINT_URL="https://0123abc.r2.cloudflarestorage.com")
    assert endpoint["SECURE_CSP"]["img-src"][-1] == "https://0123abc.r2.cloudflarestorage.com"
    domain = settings_of("SECURE_CSP", **BUCKET, AWS_S3_CUSTOM_DOMAIN="media.example.com")
    assert domain["SECURE_CSP"]["img-src"][-1] == "https://media.example.com"


@pytest.mark.slow
@pytest.mark.parametrize("url", ["ftp://files.example.com", "minio:9000", "https://", "http://minio:99999"])
def test_malformed_endpoint_url_stops_manage_py_with_one_line_naming_it(url):
    assert_fails_at_start_naming(manage("check", **BUCKET, AWS_S3_ENDPOINT_URL=url), "AWS_S3_ENDPOINT_URL")


SERVE_THE_PAGE = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "herokuapp.settings"
import django
django.setup()
import herokuapp.wsgi
from django.core import checks
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment
from counter.models import PageImage

setup_test_environment()
call_command("migrate", verbosity=0)
PageImage.objects.create(file="page-images/lighthouse.png", alt="A lighthouse")
page = Client().get("/", secure=True).content.decode()
assert 'src="/media/page-images/lighthouse.png"' in page, page
assert not checks.run_checks(tags=["services"])
print("boto3" in sys.modules, "botocore" in sys.modules)
"""


@pytest.mark.slow
def test_without_a_bucket_boto3_is_never_imported(tmp_path):
    """boto3 and botocore take tens of megabytes per process; an app on the local disk doesn't load them."""
    result = subprocess.run(
        [sys.executable, "-c", SERVE_THE_PAGE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dyno_environment(SECRET_KEY="x" * 50, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


# in tests


def test_switching_to_s3_in_a_test_reaches_the_models_storage(s3_media):
    assert default_storage.bucket_name == s3_media.name
    assert PageImage._meta.get_field("file").storage.bucket_name == s3_media.name


# the storage check


def storage_errors():
    return {message.id: message.msg for message in checks.run_checks(tags=[SERVICES]) if message.id == "herokuapp.E003"}


@pytest.fixture
def storage_on(settings):
    """Point the default storage at ``bucket`` for the rest of the test."""

    def use(bucket):
        settings.STORAGES = {**settings.STORAGES, "default": bucket.storage()}

    return use


@pytest.mark.django_db
def test_an_existing_bucket_passes(s3_media):
    assert storage_errors() == {}


@pytest.mark.django_db
def test_storage_is_not_checked_on_the_local_disk(settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    assert storage_errors() == {}


@pytest.mark.django_db
def test_a_missing_bucket_is_an_error_naming_the_bucket_variable(s3_server, storage_on):
    storage_on(s3_server.bucket("no-such-bucket"))
    message = storage_errors()["herokuapp.E003"]
    assert message.startswith("AWS_STORAGE_BUCKET_NAME: bucket 'no-such-bucket' does not exist")


@pytest.mark.django_db
def test_refused_credentials_are_an_error_naming_the_key_variables(s3_server, s3_media):
    s3_server.require_signatures()
    try:
        message = storage_errors()["herokuapp.E003"]
    finally:
        s3_server.require_signatures(False)
    assert message.startswith("AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: S3 refused access to bucket")


@pytest.mark.django_db
def test_an_unreachable_endpoint_is_an_error_naming_it_within_seconds(storage_on):
    storage_on(S3Bucket("media", region="us-east-1", endpoint_url="http://127.0.0.1:1", access_key="a", secret_key="b"))
    started = time.monotonic()
    message = storage_errors()["herokuapp.E003"]
    assert time.monotonic() - started < 5
    assert message.startswith("AWS_S3_ENDPOINT_URL: cannot reach S3 at http://127.0.0.1:1")


@pytest.mark.slow
def test_manage_py_check_names_a_missing_bucket(s3_server):
    result = manage(
        "check",
        AWS_STORAGE_BUCKET_NAME="no-such-bucket",
        AWS_S3_ENDPOINT_URL=s3_server.endpoint_url,
        AWS_ACCESS_KEY_ID="a",
        AWS_SECRET_ACCESS_KEY="b",
        AWS_S3_REGION_NAME="us-east-1",
    )
    assert result.returncode == 1
    assert "(herokuapp.E003) AWS_STORAGE_BUCKET_NAME: bucket 'no-such-bucket' does not exist" in result.stderr
