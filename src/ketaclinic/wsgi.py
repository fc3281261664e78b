"""WSGI entry point; refuses to serve in production mode with an unsafe secret key."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketaclinic.settings")

from django.conf import settings  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from ketaclinic.checks import unsafe_secret_reason  # noqa: E402

if not settings.DEBUG and (reason := unsafe_secret_reason(settings.SECRET_KEY)):
    raise ImproperlyConfigured(f"Refusing to start in production mode: {reason}")

application = get_wsgi_application()
