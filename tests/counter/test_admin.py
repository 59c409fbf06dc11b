"""The admin's list of named counters (counter.admin): totals and today's figures, searchable,
and no way to create a counter that would have no admin token."""

import pytest
from django.contrib.admin.utils import quote
from django.urls import reverse

from counter import named
from tests.herokuapp.test_security import login_to_admin

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backend")]

HTTPS = {"secure": True}
LIST_URL = "/admin/counter/namedcounter/"


@pytest.fixture
def owner(client, django_user_model):
    django_user_model.objects.create_superuser("owner", "owner@example.com", "correct horse battery staple")
    assert login_to_admin(client, "owner", "correct horse battery staple").status_code == 302
    return client


def test_the_list_shows_each_counters_total_and_todays_figures(owner):
    named.registry.create("blog.example/home", start=1_000_000)
    for _ in range(2):
        named.registry.hit("blog.example/home")
    named.registry.hit("shop.example/cart")
    page = owner.get(LIST_URL, **HTTPS).content.decode()
    row = page[page.index("blog.example/home"):]
    row = row[:row.index("</tr>")]
    assert [cell for cell in ("1,000,002", ">2<") if cell in row] == ["1,000,002", ">2<"]
    assert "shop.example/cart" in page


def test_counters_can_be_searched_by_name(owner):
    named.registry.hit("blog.example/home")
    named.registry.hit("shop.example/cart")
    page = owner.get(LIST_URL, {"q": "shop"}, **HTTPS).content.decode()
    assert "shop.example/cart" in page and "blog.example/home" not in page


def test_the_admin_cannot_add_a_counter_without_its_token(owner):
    assert owner.get(LIST_URL + "add/", **HTTPS).status_code == 403
    named.registry.create("blog.example/home")
    change = owner.get(reverse("admin:counter_namedcounter_change", args=[quote("blog.example/home")]), **HTTPS)
    assert change.status_code == 200
    assert "blog.example/home" in change.content.decode()
    assert "token_hash" not in change.content.decode()
