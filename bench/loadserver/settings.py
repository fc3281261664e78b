"""ketaclinic's settings with the bench's URLs (a bare one-row insert to compare writes with)."""

from ketaclinic.settings import *  # noqa: F403

ROOT_URLCONF = "loadserver.urls"
