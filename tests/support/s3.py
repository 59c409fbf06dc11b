"""A real S3-compatible server for tests, and fixtures that put the app's media in it.

The server is moto's, run in this process on a free port on 127.0.0.1; the app and the tests talk
to it over HTTP through AWS_S3_ENDPOINT_URL, exactly as they would to R2 or MinIO. One server
serves the whole session: tests.support.environment starts it before the settings load when TEST_S3=moto,
and the ``s3_server`` fixture starts it on first use otherwise.
"""

import logging
import uuid

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from herokuapp.media import S3Bucket
from tests.support.services import free_port

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"

# werkzeug logs every request at INFO, which would bury the tests' own output.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


class MotoS3:
    """moto's S3 on 127.0.0.1, reached over HTTP."""

    def __init__(self):
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def create_bucket(self):
        """A new, empty bucket with ACLs disabled, the default for new buckets on AWS."""
        name = f"media-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name, ObjectOwnership="BucketOwnerEnforced")
        return name

    def bucket(self, name):
        """The app's view of bucket ``name`` on this server, as settings would build it."""
        return S3Bucket(
            name=name,
            region=REGION,
            endpoint_url=self.endpoint_url,
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
        )

    def require_signatures(self, required=True):
        """Make the server check every request's credentials (off by default: moto accepts any key)."""
        count = "0" if required else "inf"
        requests.post(f"{self.endpoint_url}/moto-api/reset-auth", data=count, timeout=5).raise_for_status()


_server = None


def server():
    """The session's one MotoS3, started on first call."""
    global _server
    if _server is None:
        _server = MotoS3()
    return _server


@pytest.fixture(scope="session")
def s3_server():
    return server()


@pytest.fixture
def s3_media(settings, s3_server):
    """Store media in a fresh bucket on the test server for this test; returns its S3Bucket.

    Changing STORAGES through the ``settings`` fixture sends setting_changed, on which Django
    drops its cached storages (default_storage and django.core.files.storage.storages); the
    same happens again when the test ends.
    """
    bucket = s3_server.bucket(s3_server.create_bucket())
    settings.STORAGES = {**settings.STORAGES, "default": bucket.storage()}
    if bucket.origin() not in settings.SECURE_CSP["img-src"]:
        settings.SECURE_CSP = {**settings.SECURE_CSP, "img-src": [*settings.SECURE_CSP["img-src"], bucket.origin()]}
    return bucket


@pytest.fixture
def local_media(settings, tmp_path):
    """Store media on the local disk, in a MEDIA_ROOT of this test's own; returns that directory."""
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
