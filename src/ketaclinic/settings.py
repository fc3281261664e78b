"""ketaclinic settings: one file, driven by the environment, safe with no configuration.

Environment: DATABASE_URL, KETACLINIC_SECRET_KEY, KETACLINIC_DEBUG,
KETACLINIC_ALLOWED_HOSTS, KETACLINIC_EMAIL_URL, KETACLINIC_EMAIL_FROM, KETACLINIC_IDLE_MINUTES,
KETACLINIC_VAR_DIR, KETACLINIC_INSTRUMENTS_DIR, KETACLINIC_AUDIT_ANCHOR,
KETACLINIC_SECURE_SSL_REDIRECT, KETACLINIC_HSTS_SECONDS, KETACLINIC_AUDIT_ANCHOR_COPIES,
KETACLINIC_CACHE_URL.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import dj_database_url

PACKAGE_DIR = Path(__file__).resolve().parent
BASE_DIR = PACKAGE_DIR.parent.parent
VAR_DIR = Path(os.environ.get("KETACLINIC_VAR_DIR", BASE_DIR / "var"))
# Each audit seal's head is also appended here, outside the database, so that removing the
# newest seals and their events is detected (verify_audit). Keep a copy off the machine.
AUDIT_ANCHOR = Path(os.environ.get("KETACLINIC_AUDIT_ANCHOR", VAR_DIR / "audit-anchor.log"))
# Copies of the anchor off this machine, comma-separated: file:///mnt/other/anchor.log,
# syslog://collector:514, syslog+tcp://collector:601, syslog:///dev/log (audit/anchor.py).
AUDIT_ANCHOR_COPIES = [
    c.strip() for c in os.environ.get("KETACLINIC_AUDIT_ANCHOR_COPIES", "").split(",") if c.strip()
]


def env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


# A fixed key is fine for a laptop in debug mode; wsgi.py refuses to serve in
# production mode while this key (or any short key) is in use.
DEV_SECRET_KEY = "ketaclinic-dev-only-not-secret"
SECRET_KEY = os.environ.get("KETACLINIC_SECRET_KEY") or DEV_SECRET_KEY
DEBUG = env_flag("KETACLINIC_DEBUG")
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("KETACLINIC_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if h.strip()
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    # django-ninja's own Swagger UI files: without the app, /api/v1/docs loads them from a
    # CDN, which the content security policy (rightly) blocks, and the page stays blank.
    "ninja",
    "template_partials",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "ketaclinic.accounts",
    "ketaclinic.audit",
    "ketaclinic.patients",
    "ketaclinic.measures",
    "ketaclinic.screening",
    "ketaclinic.scheduling",
    "ketaclinic.inventory",
    "ketaclinic.treatment",
    "ketaclinic.integration",
    "ketaclinic.outcomes",
    "ketaclinic.interop",
    "ketaclinic.portal",
    "ketaclinic.billing",
    "ketaclinic.website",
    # Wagtail, for the public website (issue 18); its admin is at /cms/ (website/cms.py).
    "wagtail.contrib.sitemaps",
    "wagtail.sites",
    "wagtail.users",
    "wagtail.documents",
    "wagtail.images",
    "wagtail.search",
    "wagtail.admin",
    "wagtail",
    "modelcluster",
    "taggit",
    "django.contrib.sitemaps",
    "ketaclinic.demo",
    "ketaclinic.worker",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "ketaclinic.accounts.middleware.NoStoreMiddleware",
    "ketaclinic.accounts.middleware.IdleSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "ketaclinic.accounts.middleware.ClinicTimezoneMiddleware",
    # A restricted chart met by a page sends the browser to the break-glass form.
    "ketaclinic.patients.restricted.BreakGlassMiddleware",
    # AxesMiddleware must be last: it turns lockouts into responses.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ketaclinic.urls"
WSGI_APPLICATION = "ketaclinic.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ketaclinic.accounts.context_processors.clinic",
            ],
        },
    },
]

# The public website's templates (website/public_templates) render with this engine only:
# it has no context processor but Django's built-in CSRF one, so no user, session or
# clinic membership can reach a public page's template, whoever is signed in (issue 18).
TEMPLATES.append(
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "NAME": "public",
        "DIRS": [PACKAGE_DIR / "website" / "public_templates"],
        "APP_DIRS": False,
        "OPTIONS": {"context_processors": []},
    }
)

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'ketaclinic.sqlite3'}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers proceed during a write; IMMEDIATE takes the write lock at
    # BEGIN so two concurrent writers queue instead of failing with "locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Each request thread keeps its connection: opening one (functions registered, the
    # PRAGMAs run) cost a request with a session cookie more than its three queries did.
    DATABASES["default"]["CONN_MAX_AGE"] = 600
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "ketaclinic.accounts.login_limits.LoginLimitBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Lock an account and address after repeated failures (django-axes).
AXES_FAILURE_LIMIT = int(os.environ.get("KETACLINIC_LOCKOUT_FAILURES", "5"))
AXES_COOLOFF_TIME = 0.5  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
AXES_USERNAME_CALLABLE = "ketaclinic.accounts.signals.axes_username"

# Idle sessions end: the cookie's age slides forward on every request.
IDLE_MINUTES = int(os.environ.get("KETACLINIC_IDLE_MINUTES", "15"))
SESSION_COOKIE_AGE = IDLE_MINUTES * 60
# Activity refreshes the idle timeout at most once a minute (accounts/middleware.py).
SESSION_REFRESH_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Outside debug, plain HTTP is redirected to HTTPS and browsers are told to stay on HTTPS
# for a year. Behind a proxy that terminates TLS and redirects itself, turn the redirect off
# (KETACLINIC_SECURE_SSL_REDIRECT=0); the proxy must then send X-Forwarded-Proto.
SECURE_SSL_REDIRECT = env_flag("KETACLINIC_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("KETACLINIC_HSTS_SECONDS", "0" if DEBUG else "31536000"))
# Load balancers probe health over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$"]
X_FRAME_OPTIONS = "DENY"

# One content security policy, in every mode so that violations show in development.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
# Static files are served from the app directories by WhiteNoise; no collectstatic step.
STATIC_ROOT = os.environ.get("KETACLINIC_STATIC_ROOT") or None
# Uploaded files: the clinic's logo (served through a logged-in view) and the website's
# images (Wagtail's originals and renditions, served to everyone by website/media.py under
# MEDIA_URL; nothing else under MEDIA_ROOT is reachable by URL). No location option: the
# storage follows MEDIA_ROOT (and a test's override of it).
MEDIA_ROOT = Path(os.environ.get("KETACLINIC_MEDIA_DIR", VAR_DIR / "media"))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG


def email_settings(url: str) -> dict[str, object]:
    """Django e-mail settings from KETACLINIC_EMAIL_URL (smtp://, smtps://, console:, memory:, none:)."""
    parsed = urlparse(url)
    if parsed.scheme == "none":
        return {"EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend"}
    if parsed.scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if parsed.scheme == "memory":
        return {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    if parsed.scheme == "file":  # one file per message in a folder (tests across processes)
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": unquote(parsed.path),
        }
    if parsed.scheme not in {"smtp", "smtps", "submission"}:
        raise ValueError(f"KETACLINIC_EMAIL_URL: unsupported scheme {parsed.scheme!r}")
    query = parse_qs(parsed.query)
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parsed.hostname or "localhost",
        "EMAIL_PORT": parsed.port or (465 if parsed.scheme == "smtps" else 587),
        "EMAIL_HOST_USER": unquote(parsed.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parsed.password or ""),
        "EMAIL_USE_SSL": parsed.scheme == "smtps",
        "EMAIL_USE_TLS": parsed.scheme != "smtps" and query.get("tls", ["1"])[0] != "0",
        "DEFAULT_FROM_EMAIL": query.get("from", ["ketaclinic@localhost"])[0],
    }


# A local demo prints its (synthetic) mail; production sends nothing until told how
# (console: is refused there: it would put patient names in the log).
globals().update(
    email_settings(os.environ.get("KETACLINIC_EMAIL_URL", "console:" if DEBUG else "none:"))
)
# KETACLINIC_EMAIL_FROM names the sender on its own (e.g. "Harbor Light <care@example.org>");
# it wins over a `?from=` in KETACLINIC_EMAIL_URL.
DEFAULT_FROM_EMAIL = os.environ.get("KETACLINIC_EMAIL_FROM") or globals().get(
    "DEFAULT_FROM_EMAIL", "ketaclinic@localhost"
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# One cache shared by every process and host (rate limits, lockouts): the database by
# default (its table is made by migrate), Redis when KETACLINIC_CACHE_URL is set
# (redis://host:6379/0). See ketaclinic/limits.py.
CACHE_URL = os.environ.get("KETACLINIC_CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "ketaclinic_cache",
            # Rate-limit keys are many and short-lived; culling must not drop live counts.
            "OPTIONS": {"MAX_ENTRIES": 200_000},
        }
    )
}
# Log-in limits besides django-axes' lock of one account from one address (AXES_*):
# failures per address over all accounts (password spraying) and per account over all
# addresses (distributed guessing), each in a 15-minute window.
LOGIN_FAILURES_PER_ADDRESS = int(os.environ.get("KETACLINIC_LOGIN_FAILURES_PER_ADDRESS", "30"))
LOGIN_FAILURES_PER_ACCOUNT = int(os.environ.get("KETACLINIC_LOGIN_FAILURES_PER_ACCOUNT", "20"))
LOGIN_WINDOW_SECONDS = 15 * 60
# The worker's daily backup (worker/backup.py): where, how many to keep, after which hour (UTC).
# An empty KETACLINIC_BACKUP_DIR turns it off (e.g. when the database host backs up itself).
BACKUP_DIR = os.environ.get("KETACLINIC_BACKUP_DIR", str(VAR_DIR / "backups"))
BACKUP_KEEP = int(os.environ.get("KETACLINIC_BACKUP_KEEP", "14"))
BACKUP_HOUR = int(os.environ.get("KETACLINIC_BACKUP_HOUR", "1"))
# /readyz fails when no worker finished a pass for this long.
WORKER_STALE_SECONDS = int(os.environ.get("KETACLINIC_WORKER_STALE_SECONDS", "60"))
# API requests per token per minute.
API_REQUESTS_PER_MINUTE = int(os.environ.get("KETACLINIC_API_REQUESTS_PER_MINUTE", "600"))

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

NINJA_PAGINATION_PER_PAGE = 25
NINJA_PAGINATION_MAX_LIMIT = 100

# Application logs never carry patient data: only event kinds and ids.
LOG_JSON = env_flag("KETACLINIC_LOG_JSON", default=not DEBUG)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "ketaclinic.logjson.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", **({"formatter": "json"} if LOG_JSON else {})}
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "axes": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}

# Where a clinic keeps its own instrument, protocol and rule files:
# <dir>/instruments, <dir>/protocols, <dir>/rules (each file versioned; see README).
KETACLINIC_DATA_DIR = os.environ.get("KETACLINIC_DATA_DIR", "")
# The address patients' e-mailed links point to (https://clinic.example.org). Production
# refuses to start without it; `make run` sets it from PORT; unset in debug, the local server.
KETACLINIC_BASE_URL = os.environ.get("KETACLINIC_BASE_URL", "").strip()
# Who besides the clinic's admins is e-mailed when a restricted chart is opened by break-glass.
KETACLINIC_PRIVACY_OFFICER_EMAIL = os.environ.get("KETACLINIC_PRIVACY_OFFICER_EMAIL", "").strip()
# Questionnaire and intake links: hours valid, and reminders before they lapse.
KETACLINIC_LINK_HOURS = int(os.environ.get("KETACLINIC_LINK_HOURS", "72"))
KETACLINIC_LINK_REMINDERS = int(os.environ.get("KETACLINIC_LINK_REMINDERS", "2"))
# Months a signed consent stays valid.
KETACLINIC_CONSENT_MONTHS = int(os.environ.get("KETACLINIC_CONSENT_MONTHS", "12"))
# Trust X-Forwarded-For from the clinic's own reverse proxy (for audit addresses).
KETACLINIC_TRUST_PROXY = env_flag("KETACLINIC_TRUST_PROXY")
# A clinic's logo: at most this many bytes (PNG, JPEG or WebP).
KETACLINIC_LOGO_MAX_BYTES = 512 * 1024
# FHIR Bulk Data export: where files go, hours they are kept, largest file before a new one.
KETACLINIC_EXPORT_DIR = Path(os.environ.get("KETACLINIC_EXPORT_DIR", VAR_DIR / "exports"))
KETACLINIC_EXPORT_HOURS = int(os.environ.get("KETACLINIC_EXPORT_HOURS", "24"))
KETACLINIC_EXPORT_FILE_BYTES = int(os.environ.get("KETACLINIC_EXPORT_FILE_BYTES", str(100 * 2**20)))
# In the web server (wsgi.py turns it on) audit events go to a per-process, fsync'd local
# journal and the worker moves them into the database in batches (audit/journal.py).
# Commands (backup, restore, seed_demo, the worker) write each event in their own
# transaction, so what they record is in the database when they exit; so do the tests.
AUDIT_JOURNAL = env_flag("KETACLINIC_AUDIT_JOURNAL", default=False)
AUDIT_JOURNAL_DIR = Path(os.environ.get("KETACLINIC_AUDIT_JOURNAL_DIR", VAR_DIR / "audit-journal"))
# A bearer token's membership is remembered this long per process (api_auth.py): a revoked
# token may answer for at most this many seconds more.
API_TOKEN_CACHE_SECONDS = int(os.environ.get("KETACLINIC_API_TOKEN_CACHE_SECONDS", "10"))

# The public website (Wagtail, issue 18). Editors work at /cms/; the public pages at /.
WAGTAIL_SITE_NAME = "ketaclinic"
# Wagtail's default, said here so that its migrations' swappable dependency type-checks.
WAGTAIL_PAGE_MODEL = "wagtailcore.Page"
WAGTAILADMIN_BASE_URL = KETACLINIC_BASE_URL or "http://localhost:8000"
WAGTAILADMIN_LOGIN_URL = "login"
# Passwords, their reset and second factors are the clinic's log-in's, not Wagtail's.
WAGTAIL_PASSWORD_MANAGEMENT_ENABLED = False
WAGTAIL_PASSWORD_RESET_ENABLED = False
# No call from the editors' browsers to Wagtail's servers (and connect-src is 'self').
WAGTAIL_ENABLE_UPDATE_CHECK = False
WAGTAIL_ENABLE_WHATS_NEW_BANNER = False
# No avatar from Gravatar: it would send a hash of each editor's e-mail to a third party.
WAGTAIL_GRAVATAR_PROVIDER_URL = None
WAGTAILIMAGES_MAX_UPLOAD_SIZE = 5 * 1024 * 1024
WAGTAILSEARCH_BACKENDS = {"default": {"BACKEND": "wagtail.search.backends.database"}}
# Comments on the public website: at most this many per address per hour (shared by
# every process through the cache, ketaclinic/limits.py), this many links, this long.
# The patient portal: the crisis line shown on every portal page, and how close to an
# appointment a patient may still cancel or ask to move it online (inside it: call).
PORTAL_CRISIS_NUMBER = os.environ.get("KETACLINIC_CRISIS_NUMBER", "988")
PORTAL_LATE_CANCEL_HOURS = int(os.environ.get("KETACLINIC_LATE_CANCEL_HOURS", "24"))
# A patient's e-mailed sign-in link: minutes it works (once), and how many may be asked for
# per hour from one address and for one e-mail address (ketaclinic/limits.py).
PORTAL_SIGN_IN_LINK_MINUTES = int(os.environ.get("KETACLINIC_SIGN_IN_LINK_MINUTES", "15"))
PORTAL_SIGN_IN_LINKS_PER_ADDRESS = 20
PORTAL_SIGN_IN_LINKS_PER_EMAIL = 5
PORTAL_SIGN_IN_LINK_OPENS_PER_ADDRESS = 60
WEBSITE_COMMENTS_PER_HOUR = int(os.environ.get("KETACLINIC_COMMENTS_PER_HOUR", "5"))
WEBSITE_COMMENT_MAX_LINKS = 2
WEBSITE_COMMENT_MAX_CHARS = 4000
# A form filled faster than this is a bot's (dropped silently).
WEBSITE_COMMENT_MIN_SECONDS = 3
