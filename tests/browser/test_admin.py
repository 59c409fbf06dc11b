"""The admin in Chromium: an administrator signs in over HTTPS, with the Secure session cookie."""

import pytest

pytestmark = pytest.mark.slow


def test_administrator_signs_in_and_sees_the_site_administration(site, page, problems):
    page.goto(site.url + "/admin/")
    assert page.url == site.url + "/admin/login/?next=/admin/"
    page.get_by_label("Username").fill(site.admin["username"])
    page.get_by_label("Password").fill(site.admin["password"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(site.url + "/admin/")
    assert page.get_by_role("heading", name="Site administration").is_visible()
    session = next(cookie for cookie in page.context.cookies() if cookie["name"] == "sessionid")
    assert session["secure"] is True
    assert session["httpOnly"] is True
    problems.collect_csp_violations(page)
    assert problems == []


def test_wrong_password_is_refused(site, page):
    page.goto(site.url + "/admin/login/")
    page.get_by_label("Username").fill(site.admin["username"])
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_text("Please enter the correct username and password").is_visible()
    assert all(cookie["name"] != "sessionid" for cookie in page.context.cookies())
