"""The website's images load in production (DEBUG off), and no other uploaded file does.

An article's picture is a Wagtail image: the page shows a rendition of it, the library
links the original. Both are served from /media/ with a long cache; the clinic's logo,
a file left in Wagtail's folders by hand, an SVG and any path that climbs out are not.
"""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.images import ImageFile
from django.test import Client, override_settings
from PIL import Image as PILImage
from wagtail.images import get_image_model

from ketaclinic.website.models import ArticlePage

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _png(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), (30, 90, 160)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def pictured_article(website):
    image = get_image_model().objects.create(
        title="The treatment room", file=ImageFile(io.BytesIO(_png()), name="room.png")
    )
    article = ArticlePage.objects.get(pk=website.article.pk)
    article.image = image
    article.save_revision().publish()
    return image


@override_settings(DEBUG=False)
def test_a_published_articles_image_and_its_original_load_in_production(pictured_article):
    page = Client().get("/what-it-involves/")
    assert page.status_code == 200
    src = re.search(r'<img[^>]+src="([^"]+)"', page.content.decode()).group(1)
    assert src.startswith("/media/images/room.")
    for url in (src, pictured_article.file.url):
        response = Client().get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"] == "image/png"
        assert "max-age=31536000" in response["Cache-Control"]
        assert b"".join(response.streaming_content).startswith(PNG_SIGNATURE)
    assert pictured_article.file.url == f"/media/{pictured_article.file.name}"


@override_settings(DEBUG=False)
def test_a_browser_that_has_the_image_is_told_it_has_not_changed(pictured_article):
    first = Client().get(pictured_article.file.url)
    again = Client().get(
        pictured_article.file.url, headers={"if-modified-since": first["Last-Modified"]}
    )
    assert again.status_code == 304


@override_settings(DEBUG=False)
def test_no_other_uploaded_file_is_served(pictured_article, media_root):
    (media_root / "clinic-logos").mkdir()
    (media_root / "clinic-logos" / "logo.png").write_bytes(_png())
    (media_root / "original_images" / "left-by-hand.png").write_bytes(_png())
    (media_root / "original_images" / "drawing.svg").write_text("<svg><script/></svg>")
    (media_root / "secret.png").write_bytes(_png())
    name = pictured_article.file.name.split("/", 1)[1]
    for path in (
        "/media/clinic-logos/logo.png",
        "/media/original_images/left-by-hand.png",
        "/media/original_images/drawing.svg",
        "/media/secret.png",
        "/media/images/../secret.png",
        "/media/images/..%2Fsecret.png",
        "/media/original_images/..%5Csecret.png",
        "/media/original_images/%2e%2e",
        f"/media/images/{name}",  # an original's name asked for as a rendition
        f"/media/original_images/{name}%00.png",
    ):
        response = Client().get(path)
        assert response.status_code == 404, path
        assert PNG_SIGNATURE not in response.content, path


@override_settings(DEBUG=False)
def test_an_image_link_outside_the_folder_is_refused(pictured_article, media_root):
    (media_root / "secret.png").write_bytes(_png())
    name = pictured_article.file.name
    (media_root / name).unlink()
    (media_root / name).symlink_to(media_root / "secret.png")
    assert Client().get(f"/media/{name}").status_code == 404


def test_an_image_is_only_read(pictured_article):
    assert Client().post(pictured_article.file.url).status_code == 405
