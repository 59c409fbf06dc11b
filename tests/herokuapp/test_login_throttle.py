"""The admin login's throttle (django-axes with herokuapp.login_throttle): failed logins lock out
the username, and the client's address as Heroku's router appended it, for a cool-off."""

import time
from datetime import timedelta

import pytest
from django.test import Client

from tests.herokuapp.test_security import HASHED_STYLESHEET, login_to_admin

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
ADDRESS = "203.0.113.7"
OTHER_ADDRESS = "198.51.100.9"


@pytest.fixture(autouse=True)
def quick_hashing(settings):
    """Hash passwords cheaply: at production cost every guess takes half a second, and the throttle counts the same."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.com", PASSWORD)


@pytest.fixture
def limit(settings):
    return settings.AXES_FAILURE_LIMIT


def fail(client, username, address):
    """One wrong password, which must be answered by the login form again."""
    response = login_to_admin(client, username, "wrong password", client_address=address)
    assert response.status_code == 200
    assert "Please enter the correct username and password" in response.content.decode()


def is_locked_out(response):
    return response.status_code == 429


def logged_in(response):
    return response.status_code == 302 and response["Location"] == "/admin/"


def test_failures_below_the_limit_lock_out_nobody(client, admin, limit):
    for _ in range(limit - 1):
        fail(client, "admin", ADDRESS)
    assert logged_in(login_to_admin(client, "admin", PASSWORD, client_address=ADDRESS))


def test_an_address_that_reaches_the_limit_is_locked_out_for_every_username(client, admin, limit):
    for guess in range(limit - 1):
        fail(client, f"guess-{guess}", ADDRESS)
    assert is_locked_out(login_to_admin(client, "last-guess", "wrong password", client_address=ADDRESS))
    assert is_locked_out(login_to_admin(client, "admin", PASSWORD, client_address=ADDRESS))
    assert logged_in(login_to_admin(client, "admin", PASSWORD, client_address=OTHER_ADDRESS))


def test_a_username_that_reaches_the_limit_is_locked_out_from_every_address(client, admin, limit):
    for n in range(limit):
        login_to_admin(client, "admin", "wrong password", client_address=f"192.0.2.{n + 1}")
    assert is_locked_out(login_to_admin(client, "admin", PASSWORD, client_address=OTHER_ADDRESS))


def test_the_right_password_during_a_lockout_logs_nobody_in(client, admin, limit):
    for _ in range(limit):
        login_to_admin(client, "admin", "wrong password", client_address=ADDRESS)
    response = login_to_admin(client, "admin", PASSWORD, client_address=ADDRESS)
    assert is_locked_out(response)
    assert "sessionid" not in response.cookies
    assert client.get("/admin/", secure=True).status_code == 302


def test_the_lockout_says_when_to_try_again_in_its_fields_and_its_styled_page(client, admin, limit, settings):
    for guess in range(limit):
        login_to_admin(client, f"guess-{guess}", "wrong password", client_address=ADDRESS)
    response = login_to_admin(client, "admin", PASSWORD, client_address=ADDRESS)
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    assert response.status_code == 429
    assert response["Retry-After"] == str(seconds)
    assert response["RateLimit-Policy"] == f'"login";q={limit};w={seconds}'
    assert response["RateLimit"] == f'"login";r=0;t={seconds}'
    page = response.content.decode()
    assert "<h1>Too many failed logins</h1>" in page
    assert f"after {limit} failed attempts for this username or from this address" in page
    assert f"Try again in {seconds // 60} minutes" in page
    assert HASHED_STYLESHEET.search(page)


def test_production_locks_out_after_five_failures_for_fifteen_minutes(settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=15)


def test_the_lockout_ends_a_cool_off_after_the_last_attempt_made_during_it(client, admin, limit, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=2)
    for _ in range(limit):
        login_to_admin(client, "admin", "wrong password", client_address=ADDRESS)
    time.sleep(1)
    assert is_locked_out(login_to_admin(client, "admin", PASSWORD, client_address=ADDRESS))
    time.sleep(1.5)  # past a cool-off after the last failure, not after the attempt made during the lockout
    assert is_locked_out(login_to_admin(client, "admin", PASSWORD, client_address=ADDRESS))
    time.sleep(2.5)
    assert logged_in(login_to_admin(client, "admin", PASSWORD, client_address=ADDRESS))


def test_the_client_is_the_address_the_router_appended_not_those_the_client_sent(client, admin, limit):
    for n in range(limit):
        login_to_admin(client, f"guess-{n}", "wrong password", client_address=f"10.0.0.{n}, {ADDRESS}")
    assert is_locked_out(login_to_admin(client, "admin", PASSWORD, client_address=ADDRESS))


def test_addresses_in_one_ipv6_64_count_as_one_client(client, admin, limit):
    for n in range(limit):
        login_to_admin(client, f"guess-{n}", "wrong password", client_address=f"2001:db8:1:2::{n + 1:x}")
    assert is_locked_out(login_to_admin(client, "admin", PASSWORD, client_address="2001:db8:1:2:ffff::1"))


def test_a_client_in_another_ipv6_64_is_not_locked_out(client, admin, limit):
    for n in range(limit):
        login_to_admin(client, f"guess-{n}", "wrong password", client_address=f"2001:db8:1:2::{n + 1:x}")
    assert logged_in(login_to_admin(client, "admin", PASSWORD, client_address="2001:db8:1:3::1"))


def test_text_that_is_no_address_counts_as_one_client(client, admin, limit):
    for n in range(limit):
        login_to_admin(client, f"guess-{n}", "wrong password", client_address=f"unknown-{n}")
    assert is_locked_out(login_to_admin(client, "admin", PASSWORD, client_address="unknown"))
    assert logged_in(login_to_admin(client, "admin", PASSWORD, client_address=ADDRESS))


def test_a_success_keeps_the_failures_its_address_made_against_other_usernames(client, admin, limit):
    for guess in range(limit - 1):
        fail(client, f"guess-{guess}", ADDRESS)
    assert logged_in(login_to_admin(Client(), "admin", PASSWORD, client_address=ADDRESS))
    assert is_locked_out(login_to_admin(client, "last-guess", "wrong password", client_address=ADDRESS))
