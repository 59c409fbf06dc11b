"""A site owner uploads an image in the admin, and the home page shows the newest one.

Uploads are stored through Django's default storage: a bucket on a real S3-compatible server
(moto, over HTTP) or, without one, the local disk.
"""

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from counter.features import page_image
from counter.models import PageImage
from herokuapp import process_state
from tests.herokuapp.test_security import login_to_admin

pytestmark = pytest.mark.django_db

HTTPS = {"secure": True}
ADD_URL = "/admin/counter/pageimage/add/"
PASSWORD = "correct horse battery staple"
# A 1×1 transparent PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
IMG = re.compile(r'<img class="page-image" src="([^"]+)" alt="([^"]*)">')


class Bucket:
    """The files in the test's S3 bucket, read with boto3 directly."""

    def __init__(self, server, name):
        self.client, self.name = server.client, name

    def files(self):
        listing = self.client.list_objects_v2(Bucket=self.name).get("Contents", [])
        return {
            item["Key"]: self.client.get_object(Bucket=self.name, Key=item["Key"])["Body"].read() for item in listing
        }


class Disk:
    """The files under the test's MEDIA_ROOT."""

    def __init__(self, root):
        self.root = root

    def files(self):
        if not self.root.exists():
            return {}
        return {str(path.relative_to(self.root)): path.read_bytes() for path in self.root.rglob("*") if path.is_file()}


@pytest.fixture(params=["s3", "local"])
def media(request):
    """Run the test once with media in an S3 bucket and once on the local disk."""
    if request.param == "s3":
        return Bucket(request.getfixturevalue("s3_server"), request.getfixturevalue("s3_media").name)
    return Disk(request.getfixturevalue("local_media"))


@pytest.fixture
def owner(client, django_user_model):
    """The test client, logged in to the admin over HTTPS as a superuser."""
    django_user_model.objects.create_superuser("owner", "owner@example.com", PASSWORD)
    assert login_to_admin(client, "owner", PASSWORD).status_code == 302
    return client


def upload(client, name, content, alt="A lighthouse at dusk"):
    return client.post(ADD_URL, {"file": SimpleUploadedFile(name, content), "alt": alt}, **HTTPS)


def uploaded(client, name, content, alt="A lighthouse at dusk"):
    response = upload(client, name, content, alt)
    assert response.status_code == 302, response.content.decode()
    return PageImage.objects.first()


def shown_image(client):
    """The src (unescaped) and alt of the page's image, or None when it shows none."""
    response = client.get("/", **HTTPS)
    assert response.status_code == 200
    found = IMG.search(response.content.decode())
    return found and (html.unescape(found[1]), html.unescape(found[2]))


# uploading, on either storage


def test_an_upload_through_the_admin_is_stored(owner, media):
    image = uploaded(owner, "lighthouse.png", PNG)
    assert media.files() == {"page-images/lighthouse.png": PNG}
    assert image.file.name == "page-images/lighthouse.png"


def test_a_second_upload_with_the_same_name_keeps_the_first(owner, media):
    first = uploaded(owner, "lighthouse.png", PNG)
    second = uploaded(owner, "lighthouse.png", GIF)
    assert second.file.name != first.file.name
    assert media.files() == {first.file.name: PNG, second.file.name: GIF}


@pytest.mark.parametrize(
    "name, content",
    [
        ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("page.html", b"<script>alert(1)</script>"),
    ],
)
def test_files_that_can_carry_script_are_refused(owner, media, name, content):
    response = upload(owner, name, content)
    assert response.status_code == 200
    assert "File extension" in html.unescape(response.content.decode())
    assert media.files() == {}
    assert not PageImage.objects.exists()


def test_an_image_without_alternative_text_is_refused(owner, media):
    response = upload(owner, "lighthouse.png", PNG, alt="")
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert media.files() == {}


# the home page


def test_page_without_an_image_shows_none(client, media):
    response = client.get("/", **HTTPS)
    assert response.status_code == 200
    assert "<img" not in response.content.decode()
    assert "Hello, world!" in response.content.decode()


def test_page_shows_the_newest_image_above_the_greeting_with_its_alt_text(owner, media):
    uploaded(owner, "first.png", PNG, alt="The first image")
    newest = uploaded(owner, "second.gif", GIF, alt='A "quoted" <b>alt</b>')
    page = owner.get("/", **HTTPS).content.decode()
    assert page.index('<img class="page-image"') < page.index("<h1>Hello, world!</h1>")
    assert shown_image(owner) == (newest.file.url, 'A "quoted" <b>alt</b>')


def test_the_image_costs_one_query_for_one_row_per_process_every_ten_seconds(owner, media):
    uploaded(owner, "lighthouse.png", PNG)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            owner.get("/", **HTTPS)
    image_queries = [query["sql"] for query in queries if "counter_pageimage" in query["sql"]]
    assert len(image_queries) == 1
    assert "LIMIT 1" in image_queries[0]


def test_an_image_added_by_another_process_shows_once_the_cache_expires(client, media, monkeypatch):
    assert "<img" not in client.get("/", **HTTPS).content.decode()
    PageImage.objects.bulk_create([PageImage(file="page-images/new.png", alt="New")])  # no signal here
    assert "<img" not in client.get("/", **HTTPS).content.decode()
    process_state.reset()  # as the cache expiring would
    assert 'alt="New"' in client.get("/", **HTTPS).content.decode()


@pytest.fixture
def database_down(database_down):
    """The database refuses connections for the rest of the test; the image's breaker closes after."""
    yield
    page_image.breaker.succeeded()


@pytest.mark.django_db(transaction=True)
def test_with_the_database_down_the_page_still_counts_with_the_image_it_knew(
    client, local_media, redis_counter, request, monkeypatch
):
    monkeypatch.setattr(page_image, "CACHE_SECONDS", 0)  # each view asks the database
    PageImage.objects.create(file="page-images/lighthouse.png", alt="A lighthouse at dusk")
    assert "<img" in client.get("/", **HTTPS).content.decode()  # Redis now holds the count
    request.getfixturevalue("database_down")
    for views in (2, 3):
        response = client.get("/", **HTTPS)
        assert response.status_code == 200
        page = response.content.decode()
        assert f"<strong>{views}</strong>" in page
        assert 'alt="A lighthouse at dusk"' in page
    assert not page_image.breaker.is_closed


# on S3


def test_on_s3_the_page_links_the_image_at_a_signed_url_that_serves_it(owner, s3_media):
    uploaded(owner, "lighthouse.png", PNG)
    src, _ = shown_image(owner)
    url = urlsplit(src)
    assert f"{url.scheme}://{url.netloc}" == s3_media.origin()
    assert url.path == f"/{s3_media.name}/page-images/lighthouse.png"
    assert "X-Amz-Signature" in parse_qs(url.query)
    response = requests.get(src, timeout=10)
    assert response.status_code == 200
    assert response.content == PNG


def test_on_s3_the_image_is_private(owner, s3_server, s3_media):
    uploaded(owner, "lighthouse.png", PNG)
    src, _ = shown_image(owner)
    unsigned = src.split("?")[0]
    assert requests.get(unsigned, timeout=10).status_code == 403
    grants = s3_server.client.get_object_acl(Bucket=s3_media.name, Key="page-images/lighthouse.png")["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]
    assert grants[0]["Grantee"]["Type"] == "CanonicalUser"


def test_on_s3_uploads_send_no_acl_so_buckets_with_acls_disabled_accept_them(owner, s3_server, s3_media):
    # AWS refuses any ACL sent to a BucketOwnerEnforced bucket; moto accepts one regardless, so the
    # test looks at the request the storage actually sends.
    from django.core.files.storage import default_storage

    sent = []
    events = default_storage.connection.meta.client.meta.events
    events.register("before-send.s3.PutObject", lambda request, **kwargs: sent.append(dict(request.headers)))
    uploaded(owner, "lighthouse.png", PNG)
    assert len(sent) == 1
    assert not any(header.lower() == "x-amz-acl" or header.lower().startswith("x-amz-grant") for header in sent[0])
    ownership = s3_server.client.get_bucket_ownership_controls(Bucket=s3_media.name)
    assert ownership["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_on_s3_the_content_security_policy_lets_the_page_load_the_image(owner, s3_media):
    # s3_media allows the bucket's origin as settings would; tests/herokuapp/test_storage.py
    # checks that settings do.
    uploaded(owner, "lighthouse.png", PNG)
    response = owner.get("/", **HTTPS)
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";") if part.strip())
    src = urlsplit(shown_image(owner)[0])
    assert f"{src.scheme}://{src.netloc}" in policy["img-src"].split()


# on the local disk


def test_on_local_disk_the_page_links_the_image_under_media_url(owner, local_media):
    uploaded(owner, "lighthouse.png", PNG)
    assert (local_media / "page-images" / "lighthouse.png").read_bytes() == PNG
    assert shown_image(owner)[0] == "/media/page-images/lighthouse.png"
