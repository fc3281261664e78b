"""WSGI entry point; refuses to serve in production mode with an unsafe secret or e-mail log."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketaclinic.settings")
# Requests journal their audit events off the database path (audit/journal.py).
os.environ.setdefault("KETACLINIC_AUDIT_JOURNAL", "1")

from django.core.wsgi import get_wsgi_application  # noqa: E402

from ketaclinic.checks import refuse_unsafe_production  # noqa: E402

refuse_unsafe_production()

application = get_wsgi_application()
