"""Django settings of the gateway, read from environment variables.

Trading and audit policy live in the runtime config file instead (see
``ibkr_gateway.runtime_config``). Every default here is safe for a single
host: the database is a SQLite file under ``var/`` and the server listens on
loopback only.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

DEVELOPMENT_SECRET_KEY = "development-only-secret-key-do-not-use-with-real-accounts"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if os.environ.get("IBKR_GATEWAY_CONFIG"):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it to a long random string; a "
            "runtime config file turns the development fallback off."
        )
    SECRET_KEY = DEVELOPMENT_SECRET_KEY

DEBUG = os.environ.get("DJANGO_DEBUG", "").lower() in ("1", "true", "yes")
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get(
        "DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]"
    ).split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "ibkr_gateway.apps.GatewayConfig",
    "ibkr_gateway.broker.apps.BrokerConfig",
    "audit.apps.AuditConfig",
    "api.apps.ApiConfig",
    "orders.apps.OrdersConfig",
]

MIDDLEWARE = [
    "ibkr_gateway.request_id.RequestIdMiddleware",
    "api.host_check.ApiHostCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ibkr_gateway.urls"
WSGI_APPLICATION = "ibkr_gateway.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# One SQLite file contains Django's tables, the audit log and the order tables.
# BEGIN IMMEDIATE on every transaction makes concurrent writers queue on the
# write lock instead of failing on a lock upgrade or forking the audit chain.
# WAL lets readers (verify, export) run beside writers. PRAGMA synchronous
# comes from the runtime config and is set per connection by
# ``ibkr_gateway.sqlite.configure_connection``.
try:
    SQLITE_BUSY_TIMEOUT_SECONDS = float(
        os.environ.get("IBKR_SQLITE_BUSY_TIMEOUT", "30")
    )
except ValueError:
    raise ImproperlyConfigured(
        "IBKR_SQLITE_BUSY_TIMEOUT is not a number of seconds; set it to, say, 30."
    ) from None

try:
    DATABASES = {
        "default": dj_database_url.parse(
            os.environ.get(
                "DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'gateway.sqlite3'}"
            )
        )
    }
except ValueError as exc:
    raise ImproperlyConfigured(
        f"DATABASE_URL is invalid ({exc}); use sqlite:////absolute/path.sqlite3."
    ) from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
        "init_command": "PRAGMA journal_mode=WAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("IBKR_TEST_DATABASE")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_VALIDATORS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATORS}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATORS}.MinimumLengthValidator"},
    {"NAME": f"{_VALIDATORS}.CommonPasswordValidator"},
    {"NAME": f"{_VALIDATORS}.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# The REST API under /api/: bearer tokens with scopes, one JSON error shape,
# and no session or basic authentication, so the admin's cookie never
# authenticates an API call.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasRequiredScopes"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "api.openapi.ScopedAutoSchema",
    "EXCEPTION_HANDLER": "api.exception_handler.handle_exception",
    "UNAUTHENTICATED_USER": None,
}

# The docs page loads Swagger UI from the sidecar package's static files,
# so it works without internet access.
SPECTACULAR_SETTINGS = {
    "TITLE": "IBKR compliance gateway API",
    "DESCRIPTION": (
        "Read access to the broker and the audit log with scoped bearer "
        "tokens. Every call, including refused ones, is recorded in the "
        "audit log. Errors have the body "
        '{"error": {"code", "message", "request_id"}}.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI calls its public validator unless validatorUrl is null
    # (checked in the bundle of drf-spectacular-sidecar 2026.10.1).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# Dotted paths of the market clock and market hours (see ibkr_gateway.market).
IBKR_MARKET_CLOCK = os.environ.get(
    "IBKR_MARKET_CLOCK", "ibkr_gateway.market.wall_clock"
)
IBKR_MARKET_HOURS = os.environ.get(
    "IBKR_MARKET_HOURS", "ibkr_gateway.market.hours_of_configured_broker"
)

Q_CLUSTER = {
    "name": "ibkr_gateway",
    "orm": "default",
    # Each reconcile sweep occupies a worker for its two-minute slot and one
    # starts every minute, so sweeps take two workers and the rest run other
    # tasks.
    "workers": 4,
    "timeout": 150,
    "retry": 300,
    "catch_up": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs each request URL at INFO, and broker URLs carry
        # account ids.
        "httpx": {"level": "WARNING"},
    },
}
