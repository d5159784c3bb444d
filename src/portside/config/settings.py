"""Django settings for Portside.

Every value comes from the environment (see README "Configuration"), with an embedded
default: SQLite in WAL mode and blobs under ``PORTSIDE_DATA_DIR``, mail written to files.
Setting ``DATABASE_URL`` switches to PostgreSQL. A value that cannot be parsed raises
``ConfigurationError`` here; unsafe combinations are refused by the system checks (such as
``portside.audit.checks``) when any command starts.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP

from portside.config import env, paths
from portside.core.errors import ConfigurationError

PACKAGE_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = paths.data_dir()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """The secret key from the environment, or one generated once and kept in the data dir."""
    configured = env.get_str("PORTSIDE_SECRET_KEY")
    if configured:
        if len(configured) < 32:
            raise ConfigurationError("PORTSIDE_SECRET_KEY must be at least 32 characters long")
        return configured
    path = DATA_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(48)
        try:
            with open(path, "x", opener=lambda p, f: __import__("os").open(p, f, 0o600)) as fh:
                fh.write(key)
        except FileExistsError:  # another process won the race
            return path.read_text().strip()
        return key


SECRET_KEY = _secret_key()
DEBUG = env.get_bool("PORTSIDE_DEBUG", False)
BASE_URL = env.get_str("PORTSIDE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
HTTPS = env.get_bool("PORTSIDE_HTTPS", BASE_URL.startswith("https://"))
ALLOWED_HOSTS = env.get_list("PORTSIDE_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = [BASE_URL]
BEHIND_PROXY = env.get_bool("PORTSIDE_BEHIND_PROXY", False)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_tasks_db",
    "portside.core",
    "portside.accounts",
    "portside.audit",
    "portside.registry",
    "portside.scanning",
    "portside.publishers",
    "portside.catalog",
    "portside.moderation",
    "portside.storefront",
    "portside.commerce",
    "portside.policy",
    "portside.notifications",
    "portside.cli",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portside.registry.middleware.RegistryDispatchMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "portside.accounts.middleware.StoreTeamTwoFactorMiddleware",
]

ROOT_URLCONF = "portside.config.urls"
WSGI_APPLICATION = "portside.config.wsgi.application"

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
                "django.template.context_processors.csp",
                "portside.accounts.context_processors.navigation",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------------------
DATABASE_URL = env.get_str("DATABASE_URL")
if DATABASE_URL:
    try:
        _db = dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    except Exception as exc:  # dj-database-url raises several types for a bad URL
        raise ConfigurationError(f"DATABASE_URL cannot be parsed: {exc}") from None
    if _db["ENGINE"] != "django.db.backends.postgresql":
        raise ConfigurationError(
            "DATABASE_URL must point at PostgreSQL (postgres://...); "
            "leave it unset for the embedded SQLite database"
        )
    _db.setdefault("TEST", {})
    if env.get_str("PORTSIDE_TEST_DATABASE_NAME"):
        _db["TEST"]["NAME"] = env.get_str("PORTSIDE_TEST_DATABASE_NAME")
    DATABASES = {"default": _db}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "portside.sqlite3"),
            # Keep each thread's connection: opening one (and running the PRAGMAs below)
            # cost more than the query of a registry pull.
            "CONN_MAX_AGE": None,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {
                # IMMEDIATE: a transaction takes the write lock when it starts, so web
                # workers and the task worker queue up instead of failing mid-way.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- caches: shared by every web process (login throttling needs that) ---------------------
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "portside_cache",
    }
}

# --- background work ------------------------------------------------------------------------
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        # "vulndb": the feeds' sync, which can take minutes; `portside serve` runs it in a
        # worker of its own so that it never holds up scans and deliveries.
        "QUEUES": ["default", "events", "vulndb"],
    }
}
# Domain events are delivered by tasks of this backend, written in the emitting
# transaction (core/events.py): a subscriber that fails is tried again, up to
# EVENT_DELIVERY_ATTEMPTS times over about a day; a delivery left running by a worker that
# died is queued again after EVENT_DELIVERY_TIMEOUT seconds.
EVENTS_TASK_BACKEND = "default"
EVENT_DELIVERY_ATTEMPTS = env.get_int("PORTSIDE_EVENT_DELIVERY_ATTEMPTS", 8, minimum=1, maximum=50)
EVENT_DELIVERY_TIMEOUT = env.get_int(
    "PORTSIDE_EVENT_DELIVERY_TIMEOUT", 900, minimum=1, maximum=7 * 86400
)
# Finished background tasks are forgotten after this many days (failed ones after four
# times as long).
TASK_RESULTS_KEEP_DAYS = env.get_int("PORTSIDE_TASK_RESULTS_KEEP_DAYS", 7, minimum=1, maximum=3650)

# --- accounts -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_ADAPTER = "portside.accounts.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_USERNAME_VALIDATORS = "portside.accounts.names.username_validators"
ACCOUNT_USERNAME_MIN_LENGTH = 2
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Portside] "
ACCOUNT_PRESERVE_USERNAME_CASING = False
# Five failed sign-ins for one account within five minutes lock it for the rest of that
# window; ten a minute from one address lock the address.
_attempts = env.get_int("PORTSIDE_LOGIN_ATTEMPTS_LIMIT", 5, minimum=1, maximum=100)
_lockout = env.get_int("PORTSIDE_LOGIN_LOCKOUT_SECONDS", 300, minimum=1)
ACCOUNT_RATE_LIMITS = {"login_failed": f"10/m/ip,{_attempts}/{_lockout}s/key"}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# One period either side absorbs clock drift between phone and server.
MFA_TOTP_TOLERANCE = 1
MFA_TOTP_ISSUER = env.get_str("PORTSIDE_SITE_NAME", "Portside")
# Store-team members (moderators, security, admins) must set up two-factor authentication
# before any page their role opens (accounts/middleware.py); off restores the old rule.
STORE_TEAM_REQUIRE_2FA = env.get_bool("PORTSIDE_STORE_TEAM_REQUIRE_2FA", True)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 60 * 60 * 24 * 14
CSRF_COOKIE_HTTPONLY = True

# --- tokens ---------------------------------------------------------------------------------
TOKEN_DEFAULT_DAYS = env.get_int("PORTSIDE_TOKEN_DEFAULT_DAYS", 90, minimum=1, maximum=366)
TOKEN_MAX_DAYS = env.get_int("PORTSIDE_TOKEN_MAX_DAYS", 366, minimum=1, maximum=3660)

# --- registry -------------------------------------------------------------------------------
BLOB_STORE_URL = env.get_str("PORTSIDE_BLOB_STORE", (DATA_DIR / "blobs").as_uri())
REGISTRY_SERVICE = env.get_str("PORTSIDE_REGISTRY_SERVICE")
REGISTRY_TOKEN_TTL = env.get_int("PORTSIDE_REGISTRY_TOKEN_TTL", 300, minimum=30, maximum=3600)
REGISTRY_REFRESH_DAYS = env.get_int("PORTSIDE_REGISTRY_REFRESH_DAYS", 30, minimum=1, maximum=365)
REGISTRY_ORG_QUOTA_BYTES = env.get_int("PORTSIDE_REGISTRY_ORG_QUOTA_GB", 100, minimum=0) * 1024**3
REGISTRY_PULL_FLUSH_MS = env.get_int(
    "PORTSIDE_REGISTRY_PULL_FLUSH_MS", 200, minimum=0, maximum=5000
)
REGISTRY_UPLOAD_GRACE_HOURS = env.get_int("PORTSIDE_REGISTRY_UPLOAD_GRACE_HOURS", 24, minimum=1)

# --- scanning -------------------------------------------------------------------------------
# The vulnerability database is a SQLite file filled by `portside vulndb import|sync`; each
# node that scans keeps its own copy (it is read-mostly and rebuilt from the feeds).
VULNDB_PATH = paths.vulndb_path()
# Feeds for `portside vulndb sync` and the worker's schedule, comma-separated: `default`
# (osv.dev for every cataloged ecosystem, the Debian tracker, Alpine's secdb, NVD's API),
# NAME=KIND:URL or KIND=URL (portside.vulndb.feeds).
VULNDB_SOURCES = env.get_list("PORTSIDE_VULNDB_SOURCES", ["default"])
# A mirror of the public feed URLs (<mirror>/<host>/<path>), for stores that cannot reach
# them; empty: the public URLs.
VULNDB_MIRROR = env.get_str("PORTSIDE_VULNDB_MIRROR", "")
# Hours between the worker's syncs of the feeds; 0 turns them off (an air-gapped store
# runs `portside vulndb sync --from FOLDER` instead).
VULNDB_SYNC_HOURS = env.get_int("PORTSIDE_VULNDB_SYNC_HOURS", 24, minimum=0, maximum=24 * 30)
# NVD's API key raises its request rate from 10 to 100 a minute.
NVD_API_KEY = env.get_str("PORTSIDE_NVD_API_KEY", "")
SCAN_ON_PUSH = env.get_bool("PORTSIDE_SCAN_ON_PUSH", True)

# --- the vulnerability SLA (portside.policy) -------------------------------------------------
# Hours a publisher has to fix a finding of each class once told of it; minor: no SLA.
SLA_CRITICAL_HOURS = env.get_int("PORTSIDE_SLA_CRITICAL_HOURS", 72, minimum=1, maximum=24 * 365)
SLA_MAJOR_HOURS = env.get_int("PORTSIDE_SLA_MAJOR_HOURS", 7 * 24, minimum=1, maximum=24 * 365)
# Days a listing stays on hold before it is revoked.
SLA_REVOKE_AFTER_DAYS = env.get_int("PORTSIDE_SLA_REVOKE_AFTER_DAYS", 30, minimum=1, maximum=365)
# Days existing customers keep pulling a revoked listing's images (0: they stop at once).
SLA_REVOKED_PULL_DAYS = env.get_int("PORTSIDE_SLA_REVOKED_PULL_DAYS", 30, minimum=0, maximum=365)
# Refuse customers' pulls of images the store has never scanned (a rescan never blocks an
# image that was scanned before).
PULL_REQUIRES_SCAN = env.get_bool("PORTSIDE_PULL_REQUIRES_SCAN", False)

# --- commerce -------------------------------------------------------------------------------
COMMERCE_PROVIDER = env.get_str("PORTSIDE_PAYMENT_PROVIDER", "manual").lower()
if COMMERCE_PROVIDER not in {"manual", "stripe"}:
    raise ConfigurationError("PORTSIDE_PAYMENT_PROVIDER must be manual or stripe")


def _revenue_share_bp() -> int:
    from decimal import Decimal, InvalidOperation

    raw = env.get_str("PORTSIDE_REVENUE_SHARE_PERCENT", "20")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ConfigurationError("PORTSIDE_REVENUE_SHARE_PERCENT must be a number") from None
    if not value.is_finite() or not 0 <= value <= 100 or (value * 100) % 1:
        raise ConfigurationError(
            "PORTSIDE_REVENUE_SHARE_PERCENT must be 0 to 100 with at most two decimals"
        )
    return int(value * 100)


COMMERCE_REVENUE_SHARE_BP = _revenue_share_bp()
COMMERCE_STORE_COUNTRY = env.get_str("PORTSIDE_STORE_COUNTRY", "IE").upper()
COMMERCE_STORE_NAME = env.get_str("PORTSIDE_STORE_LEGAL_NAME", "Portside store operator")
COMMERCE_STORE_ADDRESS = env.get_str("PORTSIDE_STORE_ADDRESS", "")
COMMERCE_STORE_TAX_ID = env.get_str("PORTSIDE_STORE_TAX_ID", "")
COMMERCE_INVOICE_PREFIX = env.get_str("PORTSIDE_INVOICE_PREFIX", "PS-")
COMMERCE_MANUAL_INSTRUCTIONS = env.get_str(
    "PORTSIDE_MANUAL_PAYMENT_INSTRUCTIONS",
    "Pay {amount} by bank transfer quoting invoice {invoice}; the store confirms the payment "
    "and your subscription starts.",
)
COMMERCE_PUBLISHER_MARKS_PAID = env.get_bool("PORTSIDE_PUBLISHER_MARKS_PAID", False)
# Renewal retries: days after a period ends at which an unpaid renewal is tried again (or,
# paid by invoice, looked at again); after the last one the subscription lapses.
_retry_days = env.get_list("PORTSIDE_RENEWAL_RETRY_DAYS", ["1", "3", "7"])
if not all(d.isdigit() and 0 < int(d) <= 60 for d in _retry_days) or [
    int(d) for d in _retry_days
] != sorted({int(d) for d in _retry_days}):
    raise ConfigurationError(
        "PORTSIDE_RENEWAL_RETRY_DAYS must be increasing whole days from 1 to 60, such as 1,3,7"
    )
COMMERCE_RETRY_DAYS = [int(d) for d in _retry_days]
COMMERCE_REMINDER_DAYS = env.get_int("PORTSIDE_RENEWAL_REMINDER_DAYS", 7, minimum=1, maximum=60)
STRIPE_SECRET_KEY = env.get_str("PORTSIDE_STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env.get_str("PORTSIDE_STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env.get_str("PORTSIDE_STRIPE_API_BASE")
STRIPE_PUBLISHABLE_KEY = env.get_str("PORTSIDE_STRIPE_PUBLISHABLE_KEY")

# --- audit ----------------------------------------------------------------------------------
AUDIT_RETENTION_DAYS = env.get_int("PORTSIDE_AUDIT_RETENTION_DAYS", 400)
AUDIT_STREAM = env.get_list("PORTSIDE_AUDIT_STREAM", [])

# --- mail -----------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env.get_str("PORTSIDE_MAIL_FROM", "Portside <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_SUBJECT_PREFIX = "[Portside] "
SMTP_HOST = env.get_str("PORTSIDE_SMTP_HOST")
if SMTP_HOST:
    _smtp_security = env.get_str("PORTSIDE_SMTP_SECURITY", "none").lower()
    if _smtp_security not in {"none", "starttls", "tls"}:
        raise ConfigurationError("PORTSIDE_SMTP_SECURITY must be none, starttls or tls")
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": SMTP_HOST,
                "port": env.get_int("PORTSIDE_SMTP_PORT", 25, minimum=1, maximum=65535),
                "username": env.get_str("PORTSIDE_SMTP_USER"),
                "password": env.get_str("PORTSIDE_SMTP_PASSWORD"),
                "use_tls": _smtp_security == "starttls",
                "use_ssl": _smtp_security == "tls",
                "timeout": 30,
            },
        }
    }
else:
    # The embedded default: each message is written to a file in the data directory.
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(DATA_DIR / "mail")},
        }
    }

# --- static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
# Files served at the site's root (/favicon.ico, which browsers ask for on every page).
WHITENOISE_ROOT = PACKAGE_DIR / "static_root"
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATA_DIR / "media"},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- security headers -----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Sign-in throttling counts per client address: take it from the proxy's header.
    ALLAUTH_TRUSTED_PROXY_COUNT = 1
if HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.get_bool("PORTSIDE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env.get_int("PORTSIDE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_REDIRECT_EXEMPT = [r"^health$"]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOG_LEVEL = env.get_str("PORTSIDE_LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django": {"level": LOG_LEVEL}},
}

WEB_WORKERS = env.get_int("PORTSIDE_WEB_WORKERS", 2, minimum=1, maximum=64)
WEB_THREADS = env.get_int("PORTSIDE_WEB_THREADS", 4, minimum=1, maximum=64)

# --- notifications (portside.notifications) --------------------------------------------------
# Webhook URLs whose host resolves to a private, loopback, link-local or otherwise
# non-public address are refused (when saved and again at each delivery) unless this is on.
NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE = env.get_bool("PORTSIDE_WEBHOOK_ALLOW_PRIVATE", False)
# Seconds a webhook receiver has to answer.
NOTIFICATIONS_WEBHOOK_TIMEOUT = env.get_int("PORTSIDE_WEBHOOK_TIMEOUT", 10, minimum=1, maximum=60)
# Tries of a mail or webhook notification before it is given up (waits grow from a minute
# to six hours between them).
NOTIFICATIONS_ATTEMPTS = env.get_int("PORTSIDE_NOTIFICATION_ATTEMPTS", 8, minimum=1, maximum=20)
# Days notifications that are done with (sent, in a digest, or given up) and webhook
# deliveries are kept; 0 keeps them for ever. Pruned daily (notifications.prune).
NOTIFICATIONS_RETENTION_DAYS = env.get_int(
    "PORTSIDE_NOTIFICATION_RETENTION_DAYS", 90, minimum=0, maximum=36500
)
