"""Uploaded (media) files in a bucket on S3 or an S3-compatible store such as R2 or MinIO.

Settings describe the bucket once, as an S3Bucket; from that come both django-storages' options
and the origin the browser fetches the files from, which the Content-Security-Policy must allow.
boto3 is imported only when a storage is actually built, so an app without a bucket never loads it.
"""

from dataclasses import dataclass, field
from urllib.parse import urlsplit

BACKEND = "storages.backends.s3.S3Storage"


@dataclass(frozen=True)
class S3Bucket:
    """A bucket as the environment names it; empty strings stand for unset variables."""

    name: str
    region: str = ""
    endpoint_url: str = ""
    custom_domain: str = ""
    access_key: str = field(default="", repr=False)
    secret_key: str = field(default="", repr=False)

    @property
    def addressing_style(self):
        """AWS serves each bucket at its own host name; other stores are safest with the bucket in the path."""
        return "path" if self.endpoint_url else "virtual"

    def storage(self):
        """The STORAGES entry: private objects behind signed URLs, sent with no ACL, never overwritten."""
        from botocore.config import Config

        return {
            "BACKEND": BACKEND,
            "OPTIONS": {
                "bucket_name": self.name,
                "region_name": self.region or None,
                "endpoint_url": self.endpoint_url or None,
                "custom_domain": self.custom_domain or None,
                # None leaves boto3 to look for credentials itself, as on a machine with an IAM role.
                "access_key": self.access_key or None,
                "secret_key": self.secret_key or None,
                # Objects stay private; pages link to them with URLs signed for an hour.
                "querystring_auth": True,
                # Buckets have ACLs disabled by default (BucketOwnerEnforced) and refuse any ACL sent.
                "default_acl": None,
                # A second upload under a name already taken gets a new name, keeping the first file.
                "file_overwrite": False,
                "client_config": Config(
                    signature_version="s3v4",
                    # "regional" makes us-east-1 URLs name their region, as origin() expects.
                    s3={"addressing_style": self.addressing_style, "us_east_1_regional_endpoint": "regional"},
                    # An unreachable store fails an upload, or the release phase's check, in seconds:
                    # well inside gunicorn's 25 s timeout, never hanging a worker.
                    connect_timeout=3,
                    read_timeout=10,
                    retries={"mode": "standard", "total_max_attempts": 2},
                ),
            },
        }

    def origin(self):
        """The scheme, host and port that the storage's file URLs point at."""
        if self.custom_domain:
            return f"https://{urlsplit(f'https://{self.custom_domain}').netloc}"
        if self.endpoint_url:
            parts = urlsplit(self.endpoint_url)
            return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        s3_host = f"s3.{self.region}.amazonaws.com" if self.region else "s3.amazonaws.com"
        # botocore puts a bucket name with dots in the path: TLS certificates for *.s3 hosts don't cover it.
        return f"https://{s3_host}" if "." in self.name else f"https://{self.name}.{s3_host}"
