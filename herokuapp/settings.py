"""Settings for herokuapp, read from environment variables.

Production is the default; ``DEBUG=true`` opts into development. Every variable is listed, with
its default, in the README's configuration table. A malformed value stops the process at start
with one line naming the variable (see herokuapp.environment).
"""

import os
from datetime import timedelta
from pathlib import Path

from django.utils.csp import CSP

from herokuapp import environment as env
from herokuapp import media

BASE_DIR = Path(__file__).resolve().parent.parent

# Heroku sets DYNO on every dyno (web, release and one-off), and never during the build.
ON_HEROKU = "DYNO" in os.environ

# Development is opted into: DEBUG shows tracebacks in the browser and drops the HTTPS-only
# settings below, so it must never be on where strangers can reach the app.
DEBUG = env.boolean("DEBUG", default=False)

# Signs sessions, CSRF tokens and password-reset links. Serving requires it (wsgi.py stops at start
# without it); build-time commands such as collectstatic run without it.
SECRET_KEY = env.string("SECRET_KEY") or ("development-only-key-never-used-in-production" if DEBUG else "")

# Requests for any other Host get a 400. On Heroku the router only sends the app's own domains, so
# when unset we accept the app's herokuapp.com name (exactly, if dyno metadata provides it).
if "ALLOWED_HOSTS" in os.environ:
    ALLOWED_HOSTS = env.comma_list("ALLOWED_HOSTS")
    if not ALLOWED_HOSTS:
        raise env.ConfigurationError("ALLOWED_HOSTS is set but empty: every request would get a 400")
elif ON_HEROKU:
    ALLOWED_HOSTS = [env.string("HEROKU_APP_DEFAULT_DOMAIN_NAME") or ".herokuapp.com"]
else:
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Serve static files through WhiteNoise in development too, so that both behave alike.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "herokuapp",
    "counter",
    "axes",
]

MIDDLEWARE = [
    # First, so that every later log line of the request carries Heroku's X-Request-Id.
    "herokuapp.request_id.RequestIdMiddleware",
    # Outside SecurityMiddleware and WhiteNoise, so that static files, redirects to HTTPS and
    # bad-host answers carry these headers too.
    "herokuapp.resource_policy.CrossOriginResourcePolicyMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Right after SecurityMiddleware, as WhiteNoise asks: static files skip the rest of the stack.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads a body: one Django would not read is refused, never dropped in silence.
    "counter.web.request_body.LengthRequiredMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Last, as django-axes asks: it answers a login it refused with the lockout page (AXES_* below).
    "axes.middleware.AxesMiddleware",
    # A view that finds the database or Redis away answers 503, not 500 (see counter.web.unavailable).
    "counter.web.unavailable.OutageMiddleware",
]

ROOT_URLCONF = "herokuapp.urls"
WSGI_APPLICATION = "herokuapp.wsgi.application"
# The home page's fast path, a WSGI layer around Django's application that answers GET / itself
# (counter.web.page); named here so that the project imports no module of the app.
WSGI_WRAPPER = "counter.web.page.CounterPage"

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

# The embedded default is a SQLite file, so the app runs with no service at all; Heroku Postgres
# provides DATABASE_URL. Connections persist for ten minutes and are health-checked before reuse.
# Heroku Postgres requires TLS: sslmode=require on dynos unless the URL's query says otherwise.
DATABASES = {
    "default": env.database(
        "DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=600,
        require_ssl=ON_HEROKU,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # An unreachable database fails a request, a check or the release in seconds, not minutes.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several gunicorn workers write to one file: WAL lets readers and a writer work at once, and
    # IMMEDIATE transactions with a busy timeout make writers queue instead of failing "locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Heroku Key-Value Store provides REDIS_URL; when it is set the app counts in Redis (see
# COUNTER_STORE). Its rediss:// endpoint presents a self-signed certificate, which only "none"
# accepts.
REDIS_URL = env.redis_url("REDIS_URL")
REDIS_SSL_CERT_REQS = env.choice("REDIS_SSL_CERT_REQS", "none", {"none", "optional", "required"})

# Where every count lives: views, named counters, their days, visitors and rate limits. "redis"
# counts in Redis and keeps the database as the durable record; "database" writes each view to
# the database, slower but durable before it is shown, even when Redis is there for nothing else.
COUNTER_STORE = env.choice("COUNTER_STORE", "redis" if REDIS_URL else "database", {"redis", "database"})
if COUNTER_STORE == "redis" and not REDIS_URL:
    raise env.ConfigurationError("COUNTER_STORE=redis needs REDIS_URL")

# With Redis, each process moves the views counted there to the database this many seconds
# apart: the most a Redis that loses its data can take with it (see docs/counting.md).
COUNTER_FLUSH_INTERVAL = env.number("COUNTER_FLUSH_INTERVAL", 1.0, minimum=0.1, maximum=60)

# Known crawlers (see counter.features.bots) are shown counts without adding to them; a named counter
# counts them per day apart from its views. True counts them like anyone.
COUNTER_COUNT_BOTS = env.boolean("COUNTER_COUNT_BOTS", default=False)

# The counter API is open to anyone: each client (by the address Heroku's router saw) may make
# this many API requests a minute, create this many counters an hour, and load this many stats
# pages or CSVs a minute (each reads up to a year of days).
COUNTER_API_REQUESTS_PER_MINUTE = env.integer("COUNTER_API_REQUESTS_PER_MINUTE", 120, minimum=1)
COUNTER_CREATIONS_PER_HOUR = env.integer("COUNTER_CREATIONS_PER_HOUR", 20, minimum=1)
COUNTER_STATS_REQUESTS_PER_MINUTE = env.integer("COUNTER_STATS_REQUESTS_PER_MINUTE", 30, minimum=1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes throttles password guessing at the admin login (see herokuapp.login_throttle): this
# many failures within the cool-off lock out the username, whichever addresses guessed, and the
# client's address (by Heroku's router, an IPv6 client by its /64), whichever usernames it tried.
# Axes applies one limit to both. A locked-out attempt, even with the right password, counts as a
# failure and starts the cool-off again. A success clears nothing: it would also clear the failures
# its address made against other usernames.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_RESET_ON_SUCCESS = False
AXES_CLIENT_IP_CALLABLE = "herokuapp.login_throttle.client"
AXES_LOCKOUT_CALLABLE = "herokuapp.login_throttle.lockout_response"
# Otherwise every process, manage.py commands included, starts by logging axes' version.
AXES_VERBOSE = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files are collected at build time and served by WhiteNoise, compressed (Brotli and gzip)
# under content-hashed names that browsers may cache for good. Files in herokuapp/public are
# served at the site's root (favicon.ico, robots.txt).
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_ROOT = BASE_DIR / "herokuapp" / "public"
WHITENOISE_KEEP_ONLY_HASHED_FILES = True

# Uploaded files. A dyno's filesystem is ephemeral: every restart and deploy wipes it, so on Heroku
# uploads belong in a bucket on S3 or an S3-compatible store (AWS_S3_ENDPOINT_URL), and naming one
# in AWS_STORAGE_BUCKET_NAME switches to it. Without one they go to MEDIA_ROOT, which suits only
# development (urls.py serves it when DEBUG is on).
MEDIA_URL = "media/"
MEDIA_ROOT = BASE_DIR / "media"
media_bucket = media.S3Bucket(
    name=env.string("AWS_STORAGE_BUCKET_NAME"),
    region=env.string("AWS_S3_REGION_NAME"),
    endpoint_url=env.http_url("AWS_S3_ENDPOINT_URL", example="https://<account>.r2.cloudflarestorage.com"),
    custom_domain=env.string("AWS_S3_CUSTOM_DOMAIN"),
    access_key=env.string("AWS_ACCESS_KEY_ID"),
    secret_key=env.string("AWS_SECRET_ACCESS_KEY"),
)
media_origins = [media_bucket.origin()] if media_bucket.name else []

STORAGES = {
    "default": media_bucket.storage()
    if media_bucket.name
    else {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Heroku's router terminates TLS and says so in X-Forwarded-Proto; it sets that header itself, so
# a client cannot forge it. Everything below is HTTPS-only unless in development.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = not DEBUG
# Monitors inside a private network may probe health over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
SECURE_HSTS_SECONDS = 0 if DEBUG else 63072000  # two years, as the HSTS preload list asks
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Nothing runs inline and nothing but uploaded images comes from another origin (the bucket's,
# when media is on S3), so the policy can be strict.
SECURE_CSP = {
    "default-src": [CSP.NONE],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", *media_origins],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "manifest-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
}

# One line per event on stdout, where Heroku's log router collects it, each with the request id.
LOG_LEVEL = env.choice("LOG_LEVEL", "info", {"debug", "info", "warning", "error", "critical"}).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "herokuapp.request_id.RequestIdLogFilter"}},
    "formatters": {
        "line": {
            "()": "herokuapp.log.OneLineFormatter",
            "format": 'level=%(levelname)s logger=%(name)s request_id=%(request_id)s msg="%(message)s"',
        }
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "filters": ["request_id"],
            "formatter": "line",
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        # axes logs several lines per failed login; the lockout itself is a warning.
        "axes": {"level": "WARNING"},
    },
}
