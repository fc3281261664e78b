"""axe-core finds no serious or critical WCAG violation on the pages anyone can reach."""

from __future__ import annotations

import pytest

from tests.browser.axe import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_sign_in_page_has_no_serious_accessibility_violation(page):
    page.goto("/login/")
    assert_accessible(page)


def test_the_check_itself_finds_an_image_without_a_text_alternative(page):
    page.goto("/login/")
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<img src=\"/x.png\">')")
    with pytest.raises(AssertionError, match="image-alt"):
        assert_accessible(page)
