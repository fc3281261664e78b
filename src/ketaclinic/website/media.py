"""The website's images for everyone, in production too: Wagtail's originals and renditions.

Django serves no media in production, and MEDIA_ROOT also holds files that are not public
(the clinic's logo, served through a logged-in view). So this view serves exactly one
kind of file: an image Wagtail stored in `original_images/` or a rendition in `images/`,
that a row of the image library (or of its renditions) names, with a raster image's
content type. Any other path under /media/, a name with a separator or `..`, a file no
row names (left behind, or put there by hand) and any other extension is a 404.

Stored names are unique (Wagtail's storage adds a suffix rather than overwrite, and a
rendition's name holds its filter and focal point), so a browser or a proxy may keep a
file for a year. Deleting an image in /cms/ deletes its files; copies already cached by
visitors' browsers are not recalled (docs/deployment.md).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from django.conf import settings
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponseBase,
    HttpResponseNotModified,
)
from django.utils.http import http_date
from django.views.decorators.http import require_safe
from django.views.static import was_modified_since
from wagtail.images import get_image_model

# Wagtail's folders under MEDIA_ROOT: an image's upload, and the renditions made of it.
ORIGINALS = "original_images"
RENDITIONS = "images"
# The formats Wagtail accepts by default (WAGTAILIMAGES_EXTENSIONS): never SVG, which can
# carry script and would run with the site's origin.
CONTENT_TYPES = {
    ".avif": "image/avif",
    ".gif": "image/gif",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
CACHE_CONTROL = "public, max-age=31536000, immutable"


def _stored(folder: str, name: str) -> Path:
    """The file on disk for a name that a row of the library names, or Http404."""
    if not name or name.startswith(".") or any(c in name for c in "/\\\x00"):
        raise Http404("No such image.")
    content_type = CONTENT_TYPES.get(PurePosixPath(name).suffix.lower())
    if content_type is None:
        raise Http404("No such image.")
    image_model = get_image_model()
    model = image_model if folder == ORIGINALS else image_model.get_rendition_model()
    if not model.objects.filter(file=f"{folder}/{name}").exists():
        raise Http404("No such image.")
    base = (Path(settings.MEDIA_ROOT) / folder).resolve()
    path = (base / name).resolve()
    # A symbolic link pointing out of the folder is refused like a `..`.
    if path.parent != base or not path.is_file():
        raise Http404("No such image.")
    return path


def _serve(request: HttpRequest, folder: str, name: str) -> HttpResponseBase:
    path = _stored(folder, name)
    mtime = path.stat().st_mtime
    if not was_modified_since(request.META.get("HTTP_IF_MODIFIED_SINCE"), int(mtime)):
        not_modified = HttpResponseNotModified()
        not_modified["Cache-Control"] = CACHE_CONTROL
        return not_modified
    response = FileResponse(
        path.open("rb"), content_type=CONTENT_TYPES[PurePosixPath(name).suffix.lower()]
    )
    response["Last-Modified"] = http_date(mtime)
    response["Cache-Control"] = CACHE_CONTROL
    return response


@require_safe
def original_image(request: HttpRequest, name: str) -> HttpResponseBase:
    return _serve(request, ORIGINALS, name)


@require_safe
def rendition(request: HttpRequest, name: str) -> HttpResponseBase:
    return _serve(request, RENDITIONS, name)
