"""Django settings. Every value that varies between installs comes from config/env.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.utils.translation import gettext_lazy as _

from fidele.config import env

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env.data_dir()
IMPORTS_DIR = DATA_DIR / "imports"

SECRET_KEY = env.secret_key(DATA_DIR)
DEBUG = env.env_bool("FIDELE_DEBUG", False)
BASE_URL = (env.env_str("FIDELE_BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/")
ALLOWED_HOSTS = env.env_list("FIDELE_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.env_list("FIDELE_CSRF_TRUSTED_ORIGINS", [BASE_URL])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "fidele.core",
    "fidele.accounts",
    "fidele.contacts",
    "fidele.commerce",
    "fidele.imports",
    "fidele.quality",
    "fidele.compliance",
    "fidele.campaigns",
    "fidele.delivery",
    "fidele.tracking",
    "fidele.segments",
    "fidele.analytics",
    "fidele.web",
    "fidele.ui",
    "fidele.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "fidele.core.middleware.SiteLanguageMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "fidele.core.middleware.LoginRequiredMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the login page's lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "fidele.config.urls"
WSGI_APPLICATION = "fidele.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "fidele.web.context_processors.navigation",
            ],
        },
    }
]

DATABASES = {"default": env.database_config(DATA_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    # First: refuses any login attempt from a locked-out address or for a locked-out account.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (django-axes): after FIDELE_LOGIN_FAILURE_LIMIT failed logins from one address,
# or for one account, further attempts from that address or for that account are refused for
# FIDELE_LOGIN_LOCKOUT_MINUTES (each new attempt during the lockout starts it again). The two
# counts are separate, so a flood from one address locks that address, not the accounts tried
# from elsewhere, unless one account itself is tried that many times.
AXES_FAILURE_LIMIT = env.env_int("FIDELE_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.env_int("FIDELE_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "fidele.accounts.views.login_locked_out"
AXES_USERNAME_CALLABLE = "fidele.accounts.views.login_attempt_username"
# Attempts are in the database (and the audit log, core/signals.py); no admin site here.
AXES_ENABLE_ADMIN = False
# The client's address, also behind a reverse proxy (FIDELE_TRUSTED_PROXIES, below): otherwise
# every login would come from the proxy's address, and one flood would lock everybody out.
AXES_CLIENT_IP_CALLABLE = "fidele.core.http.client_ip"
AXES_VERBOSE = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
TIME_ZONE = env.env_str("FIDELE_TIME_ZONE", "Europe/Paris")
USE_I18N = True
FOLLOW_BROWSER_LANGUAGE = env.env_bool("FIDELE_FOLLOW_BROWSER_LANGUAGE", False)
USE_TZ = True
FORMAT_MODULE_PATH = ["fidele.config.formats"]
# App locale directories are found automatically; this one holds strings shared by all.
LOCALE_PATHS = [BASE_DIR / "web" / "locale"]
DEFAULT_REGION = env.env_str("FIDELE_DEFAULT_REGION", "FR") or "FR"
DEFAULT_CURRENCY = env.env_str("FIDELE_CURRENCY", "EUR") or "EUR"

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
# WhiteNoise serves from the app directories (no collectstatic for `make run`) but wants the
# root to exist.
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the app directories so `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Served over https (FIDELE_BASE_URL says so): cookies only travel over https. Behind a reverse
# proxy that ends TLS, FIDELE_TRUST_X_FORWARDED_PROTO=1 lets the proxy's X-Forwarded-Proto say
# that a request came in over https (only set it when the proxy always sets or replaces that
# header: otherwise any client could claim https). HSTS (FIDELE_HSTS_SECONDS, off by default:
# once sent, browsers refuse plain http for that long) is sent on https responses only.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.env_bool("FIDELE_SECURE_COOKIES", BASE_URL.startswith("https://"))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env.env_bool("FIDELE_TRUST_X_FORWARDED_PROTO", False)
    else None
)
# How many reverse proxies stand in front of the app, each appending to X-Forwarded-For the
# address it saw (nginx: proxy_add_x_forwarded_for): the client's address is read from there
# (fidele.core.http.client_ip). 0: no proxy, REMOTE_ADDR is the client.
TRUSTED_PROXIES = env.env_int("FIDELE_TRUSTED_PROXIES", 0, minimum=0)
SECURE_HSTS_SECONDS = env.env_int("FIDELE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.env_bool("FIDELE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp): the app serves every script, style and font itself.
# Scripts only from files of the app, and no inline event handler (script-src-attr 'none').
# Styles: the templates have <style> blocks and style attributes. Images from anywhere over
# http(s): the email previews (and the Outbox) show the campaign's images where they are hosted.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "script-src-attr": [NONE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "https:", "http:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
IMPORT_MAX_UPLOAD_BYTES = env.env_int("FIDELE_IMPORT_MAX_UPLOAD_MB", 200) * 1024 * 1024
# Uploaded files hold personal data: those of imports not started within this many days, and of
# failed imports (kept for a retry) this many days after they ended, are deleted.
IMPORT_UPLOAD_RETENTION_DAYS = env.env_int("FIDELE_IMPORT_RETENTION_DAYS", 7)
# The rejected-rows and warnings files an import leaves for the user to download hold personal
# data too: deleted this many days after the import ended.
IMPORT_REPORT_RETENTION_DAYS = env.env_int("FIDELE_IMPORT_FILES_RETENTION_DAYS", 30, minimum=1)
# An XLSX is a zip: what it may unpack to (all its parts together, declared and actual sizes),
# and how much smaller than its content a part may be packed (a zip bomb packs 1000 to 1).
IMPORT_XLSX_MAX_UNPACKED_BYTES = (
    env.env_int("FIDELE_IMPORT_XLSX_MAX_UNPACKED_MB", 1000) * 1024 * 1024
)
IMPORT_XLSX_MAX_RATIO = env.env_int("FIDELE_IMPORT_XLSX_MAX_RATIO", 100)
# Whether an import writes its batches from a second thread while the next batch is read
# (fidele.imports.pipeline.BatchWriter): None chooses by database (on for PostgreSQL, off for
# SQLite, whose single writer gains nothing from it). Tests force it to exercise both paths.
IMPORT_WRITER_THREAD: bool | None = None
# A first import into an empty contacts table writes the whole file in one transaction and builds
# the search indexes after the rows (fidele.contacts.bulk_load): all or nothing, and several
# times faster. Off: batch by batch, each batch kept, as into a non-empty base.
IMPORT_FIRST_LOAD = env.env_bool("FIDELE_IMPORT_FIRST_LOAD", True)

# The data-quality audit (fidele.quality): a contact with no order, no sign-up and no opened or
# clicked email for this many months counts as "stale"; domains' mail servers, once looked up
# (on demand), are trusted for this many days; one look-up waits at most this many seconds.
QUALITY_STALE_MONTHS = env.env_int("FIDELE_QUALITY_STALE_MONTHS", 24, minimum=1)
QUALITY_MX_CACHE_DAYS = env.env_int("FIDELE_QUALITY_MX_CACHE_DAYS", 30, minimum=1)
QUALITY_MX_TIMEOUT_SECONDS = env.env_int("FIDELE_QUALITY_MX_TIMEOUT_SECONDS", 3, minimum=1)

# `fidele worker` retries a database that does not answer, waiting twice as long each time up to
# this many seconds.
WORKER_BACKOFF_MAX_SECONDS = env.env_int("FIDELE_WORKER_BACKOFF_MAX_SECONDS", 30)

TASKS = {
    "default": {
        "BACKEND": env.env_str("FIDELE_TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default", "imports", "sending"],
    }
}

# Sending (see README): transport, DKIM, pace.
EMAIL_TRANSPORT = env.email_config(env.env_str("EMAIL_URL"))
DKIM_DOMAIN = env.env_str("DKIM_DOMAIN", "") or ""
DKIM_SELECTOR = env.env_str("DKIM_SELECTOR", "") or ""
DKIM_PRIVATE_KEY_FILE = env.env_str("DKIM_PRIVATE_KEY_FILE", "") or ""
# Bounces come back to <bounce-local>+<token>@<domain> when VERP is on.
FIDELE_RETURN_PATH = env.env_str("FIDELE_RETURN_PATH", "") or ""
FIDELE_VERP = env.env_bool("FIDELE_VERP", False)
BOUNCE_MAILBOX_URL = env.env_str("BOUNCE_MAILBOX_URL", "") or ""
SEND_RATE_PER_SECOND = env.env_int("FIDELE_SEND_RATE_PER_SECOND", 0)  # 0: as fast as possible
SEND_RATE_PER_HOUR = env.env_int("FIDELE_SEND_RATE_PER_HOUR", 0)
# Where the rate limits above are counted for all senders: Redis when set, else the database.
REDIS_URL = env.redis_url("REDIS_URL")
SEND_CONCURRENCY = env.env_int("FIDELE_SEND_CONCURRENCY", 1)
SEND_BATCH_SIZE = env.env_int("FIDELE_SEND_BATCH_SIZE", 200)
SEND_MAX_ATTEMPTS = env.env_int("FIDELE_SEND_MAX_ATTEMPTS", 5)
SOFT_BOUNCE_THRESHOLD = env.env_int("FIDELE_SOFT_BOUNCE_THRESHOLD", 3)
# ESP webhooks (bounces, complaints, opens) are refused until this "user:password" is set; the
# provider is given https://user:password@host/delivery/webhooks/anymail/<esp>/tracking/.
ANYMAIL = {
    key: value
    for key, value in {
        "WEBHOOK_SECRET": env.env_str("FIDELE_WEBHOOK_SECRET"),
        "MAILGUN_WEBHOOK_SIGNING_KEY": env.env_str("MAILGUN_WEBHOOK_SIGNING_KEY"),
        "POSTAL_WEBHOOK_KEY": env.env_str("POSTAL_WEBHOOK_KEY"),
        "RESEND_SIGNING_SECRET": env.env_str("RESEND_SIGNING_SECRET"),
        "MAILERSEND_WEBHOOK_SIGNING_SECRET": env.env_str("MAILERSEND_WEBHOOK_SIGNING_SECRET"),
    }.items()
    if value
}
# Django's own mail (password resets, test sends go through the Transport instead).
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # A 403 is an expected answer: one line, without the traceback Django attaches to it.
    "filters": {
        "permission_denied": {"()": "fidele.core.permissions.PermissionDeniedLogFilter"},
        "frequent_jobs": {"()": "fidele.core.tasks.FrequentJobsLogFilter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.env_str("FIDELE_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Each failed login is in the audit log; axes logs lockouts as warnings.
        "axes": {"level": "WARNING"},
        "django.request": {"filters": ["permission_denied"]},
        # A job every five seconds (tracking's drain) would fill the worker's log.
        "django_tasks": {"filters": ["frequent_jobs"]},
    },
}

# --- People or machines (fidele.tracking.classify) ------------------------------------------
# Off: no message carries an open pixel, tracked links or the honeypot link, whatever the
# campaign, list or contact says (a shop that does not measure at all).
TRACKING_ENABLED = env.env_bool("FIDELE_TRACKING", True)
# Several different links of one message clicked within this many seconds: a scanner (a person
# reads between two clicks).
TRACKING_BURST_SECONDS = env.env_int("FIDELE_TRACKING_BURST_SECONDS", 5, minimum=1)
TRACKING_BURST_LINKS = env.env_int("FIDELE_TRACKING_BURST_LINKS", 3, minimum=2)
# Clicks this close to a click on the invisible link are the same machine's.
TRACKING_HONEYPOT_SECONDS = env.env_int("FIDELE_TRACKING_HONEYPOT_SECONDS", 10, minimum=0)
# An image proxy (Gmail, Yahoo) fetching the pixel this soon after the send does it on delivery,
# not for a reader.
TRACKING_IMAGE_PROXY_SECONDS = env.env_int("FIDELE_TRACKING_IMAGE_PROXY_SECONDS", 30, minimum=0)
# Pieces of user agents that name security scanners and link checkers (lower case).
TRACKING_SCANNER_AGENTS = tuple(
    marker.lower()
    for marker in env.env_list(
        "FIDELE_TRACKING_SCANNER_AGENTS",
        [
            "barracuda",
            "mimecast",
            "proofpoint",
            "symantec",
            "forcepoint",
            "trendmicro",
            "sophos",
            "fortiguard",
            "ironport",
            "zscaler",
            "checkpoint",
            "safelinks",
            "bingpreview",
            "headlesschrome",
            "phantomjs",
            "python-requests",
            "python-urllib",
            "curl/",
            "wget/",
            "go-http-client",
            "java/",
            "libwww-perl",
            "okhttp",
            "scrapy",
        ],
    )
)

# --- Attribution (fidele.analytics.attribution) ----------------------------------------------
# An order is credited to the campaign its customer last clicked within this many days before.
ATTRIBUTION_DAYS = env.env_int("FIDELE_ATTRIBUTION_DAYS", 7, minimum=1)
# Count opens too (a customer who read the email and came to the shop without clicking).
ATTRIBUTION_OPENS = env.env_bool("FIDELE_ATTRIBUTION_OPENS", False)
# --- Lifetime value and churn (fidele.analytics.clv, predictions) ---------------------------
# The lifetime value shown is the value of the purchases expected over this many months...
CLV_HORIZON_MONTHS = env.env_int("FIDELE_CLV_HORIZON_MONTHS", 12, minimum=1, maximum=120)
# ...each month's discounted at this rate (0.01: a euro a month away is worth 0.99 today).
CLV_MONTHLY_DISCOUNT_RATE = env.env_float(
    "FIDELE_CLV_MONTHLY_DISCOUNT_RATE", 0.01, minimum=0.0, maximum=0.5
)
# Raw opens and clicks are deleted after this many days (13 months by default, the CNIL's
# guideline for audience measurement); the counts rolled up from them stay.
EVENT_RETENTION_DAYS = env.env_int("FIDELE_EVENT_RETENTION_DAYS", 395, minimum=1)
