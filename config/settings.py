"""Hearth settings, read from the environment.

Every variable read here is listed, with its default and meaning, in docs/operations.md
(tests/test_settings_docs.py keeps the two in step). The defaults are the embedded mode:
SQLite and the in-memory channel layer, good for one process on a laptop. Production mode
(HEARTH_MODE=production) refuses to start on the insecure defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("HEARTH_VAR_DIR", BASE_DIR / "var"))

DEFAULT_SECRET_KEY = "hearth-embedded-insecure-secret-key-change-me"  # noqa: S105


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}.") from exc


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


HEARTH_MODE = env_str("HEARTH_MODE", "embedded")
if HEARTH_MODE not in {"embedded", "production"}:
    raise ImproperlyConfigured(
        f"HEARTH_MODE must be 'embedded' or 'production', not {HEARTH_MODE!r}."
    )
PRODUCTION = HEARTH_MODE == "production"

SECRET_KEY = env_str("SECRET_KEY", DEFAULT_SECRET_KEY)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = True

if PRODUCTION:
    problems = []
    if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 32:
        problems.append("SECRET_KEY is the built-in default or shorter than 32 characters")
    if DEBUG:
        problems.append("DEBUG is on")
    if not os.environ.get("MESSAGE_KEYS"):
        problems.append("MESSAGE_KEYS is not set (message bodies would be unencrypted-key-derived)")
    if problems:
        raise ImproperlyConfigured(
            "Hearth refuses to start in production mode: "
            + "; ".join(problems)
            + ". Set them in the environment (see docs/operations.md)."
        )

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "ninja",  # serves the API docs' Swagger assets locally (the CSP allows no CDN)
    "rooms",
    "realtime",
    "signaling",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "frontend.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "rooms.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'hearth.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
# Sockets run their queries in a thread pool (realtime/db.py) and Django ties a connection to
# each socket's context, so without a pool every frame would open (fork) a PostgreSQL backend,
# and persistent connections would hold one per socket. psycopg's pool shares a few per process.
DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 8)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers wait for each other instead of failing at once with "database is locked": a
    # busy timeout, and every transaction taking the write lock when it begins (IMMEDIATE).
    # A deferred transaction that reads and then writes (a socket being recorded while the
    # presence heartbeat writes) cannot wait for the lock: SQLite refuses it at once, and the
    # socket closed with 4503.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
else:
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int(
        "DATABASE_CONNECT_TIMEOUT", 3
    )
    # Server-side binding and prepared statements: PostgreSQL stops parsing and planning the
    # statements that every join, signal and message repeats (docs/operations.md).
    if env_bool("DATABASE_PREPARED", True):
        DATABASES["default"]["OPTIONS"].update(
            {"server_side_binding": True, "prepare_threshold": 5}
        )
    if DATABASE_POOL_SIZE > 0:
        # With health checks Django has the pool test a connection before handing it out, so
        # one broken by a PostgreSQL restart or network cut is replaced, not used and failed.
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": 1,
            "max_size": DATABASE_POOL_SIZE,
            # A request waits this long for a free connection before failing `unavailable`.
            "timeout": env_int("DATABASE_CONNECT_TIMEOUT", 3),
        }

# The live interface's one read on every relayed signal (the route check) runs on the event
# loop over one async connection per process instead of hopping to a database thread (realtime/
# db.py); off sends it through the thread pool like everything else. Off by default without a
# pool, as in `make test`, whose test database must be free of connections to be dropped.
DATABASE_ASYNC_READS = env_bool("DATABASE_ASYNC_READS", DATABASE_POOL_SIZE > 0)

# Redis carries the channel layer across daphne instances and the shared rate limits.
# Empty means the embedded mode: the in-memory layer and per-process limits.
REDIS_URL = env_str("REDIS_URL", "")
CHANNEL_LAYER_PREFIX = env_str("CHANNEL_LAYER_PREFIX", "hearth")
# Room-wide events through one Redis subscription per process, encoded once and written to
# every local socket (realtime/fanout.py); off sends them through Channels' group_send.
BROADCAST_HUB = env_bool("BROADCAST_HUB", True)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # One PUBLISH per group message instead of the core layer's Lua script and round
            # trips (about 10x less Redis CPU, see docs/operations.md "Choosing the layer").
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # redis-py 8 defaults socket_timeout to 5 s; bounded so a hung Redis
                        # fails a publish instead of stalling it forever (the pub/sub reader
                        # polls with its own 0.1 s timeout, so idle sockets are not affected).
                        "socket_timeout": 5,
                        "socket_connect_timeout": 2,
                    }
                ],
                "prefix": CHANNEL_LAYER_PREFIX,
                # Chat bodies cross Redis inside layer messages: encrypt them there too.
                "symmetric_encryption_keys": [env_str("MESSAGE_KEYS", "") or SECRET_KEY],
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None

STATIC_URL = "/static/"
# Production serves the collected, hashed files; the embedded mode serves straight from the
# apps (WHITENOISE_USE_FINDERS below) and has nothing to collect.
STATIC_ROOT = BASE_DIR / "staticfiles" if PRODUCTION else None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            # Hashed names for long caching, with ES module imports rewritten to match.
            "frontend.storage.StaticStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_MAX_AGE = 3600

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Hearth <no-reply@hearth.invalid>")
# SMTP for the smtp backend (production care-thread notices); defaults are Django's own.
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

# Message bodies at rest: comma-separated Fernet keys, newest first (rotate with
# `manage.py rotate_message_keys`). The embedded default derives one key from SECRET_KEY.
MESSAGE_KEYS = env_list("MESSAGE_KEYS", "")

# Invitations and websocket tickets.
INVITATION_TTL_HOURS = env_int("INVITATION_TTL_HOURS", 72)
WS_TICKET_TTL_SECONDS = env_int("WS_TICKET_TTL_SECONDS", 60)

# Realtime limits.
WS_MAX_FRAME_BYTES = env_int("WS_MAX_FRAME_BYTES", 16 * 1024)
WS_MAX_SOCKETS_PER_USER_PER_ROOM = env_int("WS_MAX_SOCKETS_PER_USER_PER_ROOM", 4)
CHAT_RATE_PER_10S = env_int("CHAT_RATE_PER_10S", 20)
TYPING_RATE_PER_10S = env_int("TYPING_RATE_PER_10S", 20)
SIGNAL_RATE_PER_10S = env_int("SIGNAL_RATE_PER_10S", 400)
PRESENCE_HEARTBEAT_SECONDS = env_int("PRESENCE_HEARTBEAT_SECONDS", 15)
PRESENCE_TIMEOUT_SECONDS = env_int("PRESENCE_TIMEOUT_SECONDS", 45)
CARE_THREAD_EMAIL_INTERVAL_MINUTES = env_int("CARE_THREAD_EMAIL_INTERVAL_MINUTES", 15)

# WebRTC.
STUN_URLS = env_list("STUN_URLS", "")
TURN_URLS = env_list("TURN_URLS", "")
TURN_SECRET = env_str("TURN_SECRET", "")
TURN_CREDENTIAL_TTL_SECONDS = env_int("TURN_CREDENTIAL_TTL_SECONDS", 3600)
PRECALL_MAX_CONCURRENT = env_int("PRECALL_MAX_CONCURRENT", 4)
PRECALL_MAX_SECONDS = env_int("PRECALL_MAX_SECONDS", 30)
# Production runs pre-call peers in `manage.py precall_worker`, never in daphne; the embedded
# mode may host them in-process.
PRECALL_IN_PROCESS = env_bool("PRECALL_IN_PROCESS", not PRODUCTION)
PRECALL_CHANNEL = env_str("PRECALL_CHANNEL", "precall")
PRECALL_REPLY_TIMEOUT_SECONDS = env_int("PRECALL_REPLY_TIMEOUT_SECONDS", 15)

# Moderation.
READMISSION_GRACE_SECONDS = env_int("READMISSION_GRACE_SECONDS", 300)

# Demo data exists only where the embedded mode seeded it (`manage.py seed_demo`).
HEARTH_SEED_DEMO = env_bool("HEARTH_SEED_DEMO", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # channels_redis reports dropped group messages at INFO; keep them visible.
        "channels_redis": {"level": "INFO"},
        "django.db.backends": {"level": "WARNING"},
    },
}

# The embedded mode serves static files straight from the apps (no collectstatic step).
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG
