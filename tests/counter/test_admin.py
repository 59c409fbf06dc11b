"""The admin's lists of counts (counter.admin). Named counters: totals and today's figures,
searchable, and no way to create a counter that would have no admin token. Every count the app
keeps: as the counter store reads it, and read-only. The page's image: text that reads as it shows."""

import pytest
from django.contrib.admin.utils import quote
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from counter.engine.base import get_store
from counter.features import named
from counter.models import Counter, PageImage
from tests.counter.test_media import PNG
from tests.counter.test_text import HIDDEN
from tests.herokuapp.test_security import login_to_admin
from tests.support.s3 import local_media  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backend")]

HTTPS = {"secure": True}
LIST_URL = "/admin/counter/namedcounter/"


@pytest.fixture
def owner(client, django_user_model):
    django_user_model.objects.create_superuser("owner", "owner@example.com", "correct horse battery staple")
    assert login_to_admin(client, "owner", "correct horse battery staple").status_code == 302
    return client


def test_the_list_shows_each_counters_total_and_todays_figures(owner):
    named.create("blog.example/home", start=1_000_000)
    for _ in range(2):
        named.hit("blog.example/home")
    named.hit("shop.example/cart")
    page = owner.get(LIST_URL, **HTTPS).content.decode()
    row = page[page.index("blog.example/home") :]
    row = row[: row.index("</tr>")]
    assert [cell for cell in ("1,000,002", ">2<") if cell in row] == ["1,000,002", ">2<"]
    assert "shop.example/cart" in page


def test_counters_can_be_searched_by_name(owner):
    named.hit("blog.example/home")
    named.hit("shop.example/cart")
    page = owner.get(LIST_URL, {"q": "shop"}, **HTTPS).content.decode()
    assert "shop.example/cart" in page and "blog.example/home" not in page


def test_the_admin_cannot_add_a_counter_without_its_token(owner):
    assert owner.get(LIST_URL + "add/", **HTTPS).status_code == 403
    named.create("blog.example/home")
    change = owner.get(reverse("admin:counter_namedcounter_change", args=[quote("blog.example/home")]), **HTTPS)
    assert change.status_code == 200
    assert "blog.example/home" in change.content.decode()
    assert "token_hash" not in change.content.decode()
    assert 'name="first_day"' not in change.content.decode(), "where its history starts is shown, not edited"


COUNTS_URL = "/admin/counter/counter/"


def count_views(name, views, flushed):
    """Count views of ``name``; with Redis, the first ``flushed`` of them reach the database's row."""
    store = get_store()
    for view in range(views):
        if view == flushed:
            store.flush()
        store.hit(name)


def test_each_count_is_listed_as_the_store_reads_it_unflushed_views_included(owner):
    count_views("index", 5, flushed=3)
    page = owner.get(COUNTS_URL, **HTTPS).content.decode()
    row = page[page.index(">index<") :]
    assert ">5<" in row[: row.index("</tr>")]


def test_counts_can_be_read_but_not_added_changed_or_deleted(owner):
    count_views("index", 2, flushed=1)
    change_url = reverse("admin:counter_counter_change", args=["index"])
    change = owner.get(change_url, **HTTPS)
    assert change.status_code == 200
    assert 'name="views"' not in change.content.decode() and ">2<" in change.content.decode()
    assert owner.post(change_url, {"name": "index", "views": "0"}, **HTTPS).status_code == 403
    assert (
        owner.post(reverse("admin:counter_counter_delete", args=["index"]), {"post": "yes"}, **HTTPS).status_code == 403
    )
    assert owner.get(COUNTS_URL + "add/", **HTTPS).status_code == 403
    assert Counter.objects.filter(name="index").exists()
    assert get_store().get("index") == 2


IMAGE_ADD_URL = "/admin/counter/pageimage/add/"


def add_image(client, alt):
    return client.post(IMAGE_ADD_URL, {"file": SimpleUploadedFile("lighthouse.png", PNG), "alt": alt}, **HTTPS)


@pytest.mark.usefixtures("local_media")
@pytest.mark.parametrize("kind", ["bidi override", "zero-width space", "C0 control"])
def test_an_image_whose_alternative_text_would_not_read_as_it_shows_is_refused_naming_the_character(owner, kind):
    char = HIDDEN[kind]
    refused = add_image(owner, f"A lighthouse{char} at dusk")
    assert refused.status_code == 200
    assert f"Remove U+{ord(char):04X}" in refused.content.decode()
    assert not PageImage.objects.exists()


@pytest.mark.usefixtures("local_media")
def test_an_alternative_text_in_any_script_or_with_emoji_is_kept_as_written(owner):
    assert add_image(owner, "Phare à l'aube, 灯台 🌅").status_code == 302
    assert PageImage.objects.get().alt == "Phare à l'aube, 灯台 🌅"
