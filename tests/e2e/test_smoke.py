from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_owner_logs_in_and_lands_on_the_overview_in_french(page, live_server, owner, log_in):
    log_in(page, owner)
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("nav").get_by_text("Contacts").is_visible()


def test_a_wrong_password_is_refused_with_a_message(page, live_server, owner):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", owner.username)
    page.fill("input[name=password]", "wrong")
    page.locator("form button").last.click()
    assert "/login/" in page.url
    assert page.locator(".errornote, .errorlist, [role=alert]").count() >= 1
