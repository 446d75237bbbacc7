"""Django settings, read from environment variables only (documented in .env.example).

The defaults suit a developer's machine: DEBUG on, SQLite under var/, Redis on
127.0.0.1. Production sets DJANGO_DEBUG=false, which makes DJANGO_SECRET_KEY and
ALLOWED_HOSTS mandatory and turns on HTTPS-only cookies, redirects and HSTS;
`manage.py check --deploy` is then clean (tests/portal/test_settings.py runs it).
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from portal.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DJANGO_DEBUG", default=True)

# The dev key exists only so a checkout runs without configuration; it is
# public, so it is refused whenever DEBUG is off.
_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production-attls-portal-0000"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false")
if not DEBUG and SECRET_KEY == _DEV_SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY is the public development key")

# Alerts (certificate expiry, drift) go to these addresses and to the owners of the
# services concerned. The console backend prints mail in development.
FLEET_ALERT_RECIPIENTS = env_list("FLEET_ALERT_RECIPIENTS", default=[])
EMAIL_BACKEND = env_str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", default="attls-portal@localhost")

# Encrypts LPAR passwords and keys at rest (fleet/secrets.py): a Fernet key.
FLEET_SECRETS_KEY = env_str("FLEET_SECRETS_KEY", default="")
if not DEBUG and not FLEET_SECRETS_KEY:
    raise ImproperlyConfigured("FLEET_SECRETS_KEY must be set when DJANGO_DEBUG is false")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DJANGO_DEBUG is false")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # API tokens, stored hashed (accounts.ApiToken; see "Sign-in" below).
    "knox",
    # Sign-in lock-out per username and per address (see "Sign-in" below).
    "axes",
    "drf_spectacular",
    "django_htmx",
    # Loaders are configured explicitly in TEMPLATES rather than patched in by the
    # app's default config, so what renders templates is visible here.
    "template_partials.apps.SimpleAppConfig",
    # After django.contrib.auth: its post_migrate handler creates the role groups
    # once auth's permissions exist (see accounts/apps.py).
    "accounts",
    "policies",
    "fleet",
    "rollouts",
    "audits",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    # The client (address, user agent) of each request, for the audit log (accounts/client.py).
    "accounts.client.ClientContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Signed-in pages must not be kept by a browser or a proxy (portal/middleware.py).
    "portal.middleware.NoStoreForSignedInMiddleware",
    # Last, as django-axes asks: turns a sign-in refused by a lock-out into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.roles",
            ],
            "loaders": [
                (
                    "template_partials.loader.Loader",
                    [
                        (
                            "django.template.loaders.cached.Loader",
                            [
                                "django.template.loaders.filesystem.Loader",
                                "django.template.loaders.app_directories.Loader",
                            ],
                        )
                    ],
                )
            ],
        },
    }
]

# --- Database ------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", default=60, min_value=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The web server and the Celery worker write at the same time: wait for the lock (not
    # "database is locked" at once), take it when a transaction starts, and let readers
    # read while a writer writes (WAL).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL;",
        }
    )
    # A file, not memory: integration tests run a Celery worker in another process that
    # must see the test database.
    # One file per test run (by PID), so two runs on one machine never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-portal-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication --------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
# A working day: this portal can push policy to production LPARs.
SESSION_COOKIE_AGE = 8 * 60 * 60

# --- Sign-in: lock-out, client address, throttles, cache, API tokens ----------------------------
# The proxies of our own in front of the portal (addresses or networks, comma-separated).
# Empty (the default): the client is the TCP peer and X-Forwarded-For is ignored, since any
# client can send it. Otherwise X-Forwarded-For is read only from a listed peer, and only the
# addresses our proxies appended (accounts/client.py). The lock-out, the API throttles and the
# audit log all count clients this way.
if os.environ.get("DJANGO_NUM_PROXIES", "").strip():
    raise ImproperlyConfigured(
        "DJANGO_NUM_PROXIES is replaced by DJANGO_TRUSTED_PROXIES: list your proxies' addresses"
        " or networks, so that X-Forwarded-For is believed only from them"
    )
TRUSTED_PROXIES = env_list("DJANGO_TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as error:
        raise ImproperlyConfigured(f"DJANGO_TRUSTED_PROXIES: {error}") from None
# Lock-out (django-axes): after AUTH_LOCKOUT_FAILURES failed sign-ins (the login form and
# POST /api/token/ alike) for one username from one address, within AUTH_LOCKOUT_MINUTES
# of each other, that username may not sign in from that address for AUTH_LOCKOUT_MINUTES
# after the last failure: a colleague behind the same NAT is not locked out with it. One
# address failing AUTH_LOCKOUT_ADDRESS_FAILURES times over any usernames (password spraying)
# is locked for everyone. An admin lifts it earlier (Users > Sign-in lock-outs); every
# lock-out and every lift is in the audit log.
AUTH_LOCKOUT_FAILURES = env_int("AUTH_LOCKOUT_FAILURES", default=10, min_value=1)
AUTH_LOCKOUT_ADDRESS_FAILURES = env_int(
    "AUTH_LOCKOUT_ADDRESS_FAILURES", default=100, min_value=AUTH_LOCKOUT_FAILURES
)
AUTH_LOCKOUT_MINUTES = env_int("AUTH_LOCKOUT_MINUTES", default=15, min_value=1)
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username or address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = AUTH_LOCKOUT_FAILURES
AXES_COOLOFF_TIME = timedelta(minutes=AUTH_LOCKOUT_MINUTES)
# Counted per (username, address) and per address; axes has one limit for both, so the
# handler (accounts.lockout.LockoutHandler) holds the address to its own, higher one.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_HANDLER = "accounts.lockout.LockoutHandler"
AXES_CLIENT_IP_CALLABLE = "accounts.client.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.locked_out"
# Attempts refused during a lock-out do not extend it: otherwise anyone could keep a user
# locked out for ever by sending a wrong password every few minutes.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A success does not wipe the counts: axes would also wipe the address's failures, so one
# valid account would let an address guess on at other users' passwords.
AXES_RESET_ON_SUCCESS = False
# Successful sign-ins are in the audit log already; axes keeps only failures.
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False  # no Django admin site: admins use Users > Sign-in lock-outs
AXES_HTTP_RESPONSE_CODE = 429


# The cache holds the API throttles' counts (and nothing the portal cannot lose). With a
# Redis broker it is Django's RedisCache on that Redis, so every web process and host counts
# the same requests; otherwise (RabbitMQ, or none) memory of each process.
def _cache_for_broker(broker_url: str) -> dict[str, object]:
    if broker_url.startswith(("redis://", "rediss://")):
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": broker_url,
            # The broker's keys are Celery's; ours are told apart by this prefix.
            "KEY_PREFIX": "attls-portal-cache",
        }
    return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


# API tokens (django-rest-knox): only a SHA-512 digest of each is stored, each expires after
# at most API_TOKEN_MAX_DAYS (its owner may choose fewer), and a user holds at most
# API_TOKEN_LIMIT_PER_USER live ones. Tokens start with "attls_" so that secret scanners can
# recognise one that leaked into a repository or a log.
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", default=30, min_value=1)
API_TOKEN_LIMIT_PER_USER = 20
KNOX_TOKEN_MODEL = "accounts.ApiToken"
# Knox's own migrations create its AuthToken table even when KNOX_TOKEN_MODEL swaps it out:
# an unused table whose foreign key to auth_user makes PostgreSQL refuse Django's flush
# (between transactional tests). Without migrations the swapped model gets no table.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=API_TOKEN_MAX_DAYS),
    "TOKEN_PREFIX": "attls_",
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",
}
# --- end of sign-in ----------------------------------------------------------------------------

# --- Security headers ------------------------------------------------------------
# Off in DEBUG because runserver speaks plain HTTP; each can be set explicitly.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int(
    "DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 60 * 60, min_value=0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", default=not DEBUG)
if env_bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    # Only behind a proxy that terminates TLS and overwrites this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# htmx sends the token from <body hx-headers>, so no script needs the cookie.
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# --- Internationalisation ----------------------------------------------------------
LANGUAGE_CODE = "en-us"
# Audit evidence compares timestamps across LPARs and hosts: store and show UTC.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "static")))

# --- Celery -----------------------------------------------------------------------
# Everything that talks to an LPAR runs on its own queue so each can get its own
# workers; beat only enqueues. Unrouted housekeeping goes to "default".
# Each queue with its own exchange and routing key, spelled out as in Celery's
# routing guide rather than left to defaults.
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name), routing_key=name)
    for name in ("default", "deploy", "verify", "probe", "evidence")
]
# Which queue each task goes to (Celery's task_routes; a `queue=` on the task itself is
# deprecated). Tasks not listed here go to the default queue.
CELERY_TASK_ROUTES = {
    "fleet.tasks.run_deployment": {"queue": "deploy"},
    "fleet.tasks.resume_stale_deployments": {"queue": "deploy"},
    "fleet.tasks.run_verification": {"queue": "verify"},
    "fleet.tasks.schedule_verifications": {"queue": "verify"},
    "fleet.tasks.prune_observations": {"queue": "default"},
    "audits.tasks.generate_evidence_pack": {"queue": "evidence"},
    "audits.tasks.resume_stale_evidence_packs": {"queue": "evidence"},
    "audits.tasks.audit_chain_checkpoint": {"queue": "default"},
}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_DEFAULT_EXCHANGE = "default"
CELERY_TASK_DEFAULT_ROUTING_KEY = "default"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Tasks are idempotent and claim their rows, so a message is acknowledged only
# after the task ran, and redelivered when a worker dies mid-task.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Results live in our own rows (status, steps, error), not in a result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
# Beat only enqueues; the work is keyed by stack on its own queue (ARCHITECTURE.md, Scale).
FLEET_SCHEDULER_SECONDS = env_int("FLEET_SCHEDULER_SECONDS", default=5)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "fleet-schedule-verifications": {
        "task": "fleet.tasks.schedule_verifications",
        "schedule": float(FLEET_SCHEDULER_SECONDS),
    },
    "fleet-resume-stale-deployments": {
        "task": "fleet.tasks.resume_stale_deployments",
        "schedule": float(env_int("FLEET_RESUME_SECONDS", default=15)),
    },
    "fleet-prune-observations": {"task": "fleet.tasks.prune_observations", "schedule": 3600.0},
    "audits-resume-stale-evidence-packs": {
        "task": "audits.tasks.resume_stale_evidence_packs",
        "schedule": float(env_int("EVIDENCE_RESUME_SECONDS", default=30)),
    },
}
# The audit log's head is recorded outside the chain this often (audits.log): entries deleted
# from its end are then named by `audit_verify`, at worst those written since the last one.
AUDIT_CHECKPOINT_SECONDS = env_int("AUDIT_CHECKPOINT_SECONDS", default=3600, min_value=60)
CELERY_BEAT_SCHEDULE["audits-chain-checkpoint"] = {
    "task": "audits.tasks.audit_chain_checkpoint",
    "schedule": float(AUDIT_CHECKPOINT_SECONDS),
}
# A running deployment whose worker has not logged a step for this long is taken over.
FLEET_DEPLOY_STALE_SECONDS = env_int("FLEET_DEPLOY_STALE_SECONDS", default=120)
# A deployment taken over this many times (its workers kept stopping mid-run) is given up:
# the stack is restored to last-known-good and the deployment ends failed.
FLEET_DEPLOY_MAX_CLAIMS = env_int("FLEET_DEPLOY_MAX_CLAIMS", default=3, min_value=1)
# A verification still pending or running this long after it was created lost its worker (or
# its queued message): it ends failed with that reason. Longer than any run can take (its
# commands' timeouts and the probe).
FLEET_VERIFY_STALE_SECONDS = env_int("FLEET_VERIFY_STALE_SECONDS", default=600, min_value=10)
# Raw connection observations are kept this long; hourly roll-ups stay for the audit period.
FLEET_OBSERVATION_RETENTION_HOURS = env_int("FLEET_OBSERVATION_RETENTION_HOURS", default=48)
# A surge of refused clients (EZD1286I) opens an incident for a service when, over a
# verification's stretch of syslog, AT-TLS refused more than PER_MINUTE attempts a minute,
# more than PERCENT of its attempts (refused + live connections), and more than FACTOR times
# its refusal rate in the hour before the deployment or drift that preceded (or the hour
# before the stretch when nothing changed in the last hour).
FLEET_REFUSAL_SURGE_PER_MINUTE = env_int("FLEET_REFUSAL_SURGE_PER_MINUTE", default=5, min_value=0)
FLEET_REFUSAL_SURGE_PERCENT = env_int("FLEET_REFUSAL_SURGE_PERCENT", default=10, min_value=0)
FLEET_REFUSAL_SURGE_FACTOR = env_int("FLEET_REFUSAL_SURGE_FACTOR", default=2, min_value=1)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- rollout campaigns (rollouts/) -----------------------------------------------------------
# Gates are evaluated on every verification of a campaign's stacks; beat looks this often too,
# for bakes that ended and deployments that finished between verifications.
ROLLOUTS_TICK_SECONDS = env_int("ROLLOUTS_TICK_SECONDS", default=10, min_value=1)
# A step still pending this long after a promotion lost its worker: it is started again.
ROLLOUTS_STEP_STALE_SECONDS = env_int("ROLLOUTS_STEP_STALE_SECONDS", default=30, min_value=1)
CELERY_BEAT_SCHEDULE["rollouts-evaluate"] = {
    "task": "rollouts.tasks.evaluate_running_campaigns",
    "schedule": float(ROLLOUTS_TICK_SECONDS),
}
CELERY_BEAT_SCHEDULE["rollouts-resume"] = {
    "task": "rollouts.tasks.resume_pending_steps",
    "schedule": float(ROLLOUTS_STEP_STALE_SECONDS),
}

# --- zERT collection (fleet/zert/) ----------------------------------------------------------
# Its own queue; beat looks this often for LPAR connections whose zERT interval has passed.
CELERY_TASK_QUEUES.append(Queue("zert", Exchange("zert"), routing_key="zert"))
CELERY_TASK_ROUTES["fleet.tasks.run_zert_collection"] = {"queue": "zert"}
CELERY_TASK_ROUTES["fleet.tasks.schedule_zert_collections"] = {"queue": "zert"}
CELERY_TASK_ROUTES["fleet.tasks.prune_zert_records"] = {"queue": "zert"}
ZERT_SCHEDULER_SECONDS = env_int("ZERT_SCHEDULER_SECONDS", default=30, min_value=1)
CELERY_BEAT_SCHEDULE["fleet-schedule-zert"] = {
    "task": "fleet.tasks.schedule_zert_collections",
    "schedule": float(ZERT_SCHEDULER_SECONDS),
}
CELERY_BEAT_SCHEDULE["fleet-prune-zert"] = {
    "task": "fleet.tasks.prune_zert_records",
    "schedule": 3600.0,
}
# Raw zERT records are kept this many days; the daily roll-ups per service and peer stay.
ZERT_RETENTION_DAYS = env_int("ZERT_RETENTION_DAYS", default=35, min_value=1)
# The dump job must end within this (it is left on the LPAR otherwise); one HTTP answer, one
# SFTP read and one connect are bounded by these.
ZERT_JOB_TIMEOUT_SECONDS = env_int("ZERT_JOB_TIMEOUT_SECONDS", default=300, min_value=5)
ZERT_READ_TIMEOUT_SECONDS = env_int("ZERT_READ_TIMEOUT_SECONDS", default=120, min_value=5)
ZERT_CONNECT_TIMEOUT_SECONDS = env_int("ZERT_CONNECT_TIMEOUT_SECONDS", default=10, min_value=1)
# A run pending or running this long lost its worker: it ends failed and the LPAR is due again.
ZERT_STALE_SECONDS = env_int("ZERT_STALE_SECONDS", default=1800, min_value=30)
# Where the downloaded dumps are kept, each named by its SHA-256.
ZERT_DUMP_DIR = env_str("ZERT_DUMP_DIR", default="") or str(VAR_DIR / "zert")

# --- Cache -----------------------------------------------------------------------
# On the broker's Redis when it is Redis (see _cache_for_broker in "Sign-in" above).
CACHES = {
    "default": _cache_for_broker(CELERY_BROKER_URL),
    # In each process's memory, whether or not a broker answers: what a process keeps for
    # itself a few seconds (the dashboard's estate overview, portal/dashboard.py).
    "process": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "attls-portal-process",
    },
}
# How long the dashboard's estate overview may be kept, at most, when nothing it shows changed
# (portal/dashboard.py says what counts as a change); 0 computes it for every view.
DASHBOARD_CACHE_SECONDS = env_int("DASHBOARD_CACHE_SECONDS", default=10, min_value=0)

# --- API --------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous request is then answered 401 with
    # `WWW-Authenticate: Token` rather than a bare 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Password guessing at POST /api/token/, per client address (accounts/client.py: the
    # same TRUSTED_PROXIES rule as the lock-out), counted in the cache (shared through Redis).
    # The lock-out (AUTH_LOCKOUT_*) holds behind it whatever the rate.
    "DEFAULT_THROTTLE_RATES": {"token": "10/minute"},
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AT-TLS portal API",
    "DESCRIPTION": """
Design AT-TLS policy, deploy it to z/OS LPARs, verify and prove it.

**Signing in.** In a browser the portal's session works (send the `X-CSRFToken`
header on writes). Scripts use a token: `POST /api/token/` with
`{"username": ..., "password": ..., "name": "what uses it", "days": 30}` answers 201
`{"token": "attls_...", "uuid": ..., "expiry": ...}`; send it as
`Authorization: Token <token>`. The token is shown only then (the portal keeps a hash of it)
and works until its expiry (at most API_TOKEN_MAX_DAYS days) or until it is revoked:
`DELETE /api/token/` revokes the token of the request, `GET /api/tokens/` lists your live
tokens and `DELETE /api/tokens/<uuid>/` revokes one of them. Token requests are limited to
10 a minute per client address, and failed ones count towards the sign-in lock-out (429
while it lasts).
What you may do follows your role: architects edit the design and publish, everyone
who sees the estate reads it, app owners read only the services they own.

**Naming.** Objects are named in URLs and bodies by stable names or uuids, never by
database ids: a stack as `SYSA/TCPIP`, a shared object by its statement name, a user
by username, a service by uuid, a version by its number within the stack.

**Answers.** 400: field errors (`{field: [messages]}`), nothing saved. 403: your role
does not allow it, nothing changed. 409: someone saved the object since the `revision`
you sent, or a deletion would leave references behind. 422: publication refused, with
the lint findings. Lists are paginated (`page`, `page_size` up to 500).
""".strip(),
    "VERSION": "0.1.0",
    # Tags and operation ids come from the path after this prefix: /api/lpars/ is tagged
    # `lpars` with ids `lpars_list`, /api/fleet/stacks/ gives `fleet_stacks_list`, and
    # /audits/api/packs/ keeps `audits_api_packs_list`. Left unset, drf-spectacular takes
    # the common prefix of every path, `/`, and tags the whole designer API `api`.
    "SCHEMA_PATH_PREFIX": "/api/",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Separate request and response components: read-only fields (uuid, revision,
    # usage) are not offered as inputs.
    "COMPONENT_SPLIT_REQUEST": True,
    # Served from static/vendor/swagger-ui/ (see static/vendor/README.md): no CDN.
    "SWAGGER_UI_DIST": f"{STATIC_URL}vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": f"{STATIC_URL}favicon.svg",
    # validatorUrl: null keeps Swagger UI from sending the schema to swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # One name for the On/Off/inherit switch that connection actions and rule
    # overrides share, instead of one per field.
    "ENUM_NAME_OVERRIDES": {
        "TriStateEnum": "policies.choices.TriState",
        # Several models have a "status" field: each choice set keeps its own name.
        "RunStatusEnum": "fleet.models.RunStatus",
        "TargetStatusEnum": "fleet.models.TargetStatus",
        "DeliveryStatusEnum": "fleet.alerts.models.DeliveryStatus",
        "CampaignStatusEnum": "rollouts.models.CampaignStatus",
        "StepStatusEnum": "rollouts.models.StepStatus",
        "ActionStatusEnum": "rollouts.models.ActionStatus",
        "CohortKindEnum": "rollouts.models.CohortKind",
        "StepKindEnum": "rollouts.models.StepKind",
        "ActionKindEnum": "rollouts.models.ActionKind",
    },
    # The docs list the groups in the order a reader meets them, not alphabetically.
    "TAGS": [
        {"name": "lpars", "description": "LPARs, by system name"},
        {"name": "stacks", "description": "TCP/IP stacks: draft, publication, versions"},
        {"name": "services", "description": "Services and their rules (read and write)"},
        {"name": "rules", "description": "Rules on their own (read)"},
        {"name": "group-actions", "description": "Shared: TTLSGroupAction"},
        {"name": "environment-actions", "description": "Shared: TTLSEnvironmentAction"},
        {"name": "connection-actions", "description": "Shared: TTLSConnectionAction"},
        {"name": "cipher-sets", "description": "Shared: TTLSCipherParms"},
        {"name": "keyrings", "description": "Shared: TTLSKeyringParms"},
        {"name": "token", "description": "API tokens"},
        {"name": "directory-groups", "description": "Single sign-on: directory groups to roles"},
        {"name": "fleet", "description": "Fleet: each stack's deployed state; verify it"},
        {"name": "deployments", "description": "Fleet: deployments, approvals, rollbacks"},
        {"name": "verifications", "description": "Fleet: verification runs"},
        {"name": "drift", "description": "Fleet: drift between deployed and observed policy"},
        {"name": "certificates", "description": "Fleet: server certificates the probe saw"},
        {"name": "incidents", "description": "Fleet: what broke for users"},
        {"name": "connections", "description": "Fleet: how the portal reaches each LPAR"},
        {"name": "my-services", "description": "Fleet: the services you own, live"},
        {"name": "impact", "description": "Fleet: change impact, predictions and outcomes"},
        {
            "name": "campaigns",
            "description": "Rollout campaigns: phases, cohorts, steps, gates and their actions",
        },
        {"name": "evidence", "description": "Audits: evidence packs and their verification"},
    ],
}

# --- Logging ----------------------------------------------------------------------
LOG_LEVEL = env_str("DJANGO_LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"DJANGO_LOG_LEVEL={LOG_LEVEL!r} is not a logging level")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # A refused request (403) is one line, not a traceback (portal/logfilters.py).
    "filters": {"forbidden_one_line": {"()": "portal.logfilters.ForbiddenAsOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # asyncssh logs every channel at INFO; the fleet's own steps say what matters.
        "asyncssh": {"level": "WARNING"},
        # axes logs every sign-in at INFO; failures and lock-outs (WARNING) are what matter.
        "axes": {"level": "WARNING"},
        "django.request": {"filters": ["forbidden_one_line"]},
    },
}

# --- Evidence packs (audits: PDF, signature, OSCAL) ----------------------------------------
# Where the signed PDFs and OSCAL files of evidence packs are kept. Each file's SHA-256 is
# recorded in its EvidencePack row: that table is the ledger an uploaded PDF is checked against.
EVIDENCE_DIR = Path(env_str("EVIDENCE_DIR", default=str(VAR_DIR / "evidence")))
# A running pack whose worker has not finished a step for this long is taken over. A step of
# a 1,000-service pack takes well under a minute; the margin is for a loaded worker.
EVIDENCE_STALE_SECONDS = env_int("EVIDENCE_STALE_SECONDS", default=300, min_value=10)
# The organisation's signing key and certificate chain, as PKCS#12. `make demo` creates a demo
# CA and a signing certificate at these default paths on first run
# (`manage.py ensure_demo_signing_key`); production points them at its own.
EVIDENCE_SIGNING_P12 = Path(
    env_str("EVIDENCE_SIGNING_P12", default=str(VAR_DIR / "signing" / "evidence-signing.p12"))
)
# The demo passphrase exists only so a checkout signs without configuration; with DEBUG off
# it must be set, or generation fails with a message naming this variable.
_DEMO_SIGNING_PASSPHRASE = "demo-only-evidence-signing-passphrase"
EVIDENCE_SIGNING_PASSPHRASE = env_str(
    "EVIDENCE_SIGNING_PASSPHRASE", default=_DEMO_SIGNING_PASSPHRASE if DEBUG else ""
)
# PEM file of the CA certificate(s) a pack's signature must chain to for "trusted".
EVIDENCE_TRUST_ROOTS = Path(
    env_str("EVIDENCE_TRUST_ROOTS", default=str(VAR_DIR / "signing" / "demo-ca.pem"))
)
# An RFC 3161 time-stamp authority. Set: signatures are PAdES B-T; unset: PAdES B-B.
EVIDENCE_TSA_URL = env_str("EVIDENCE_TSA_URL", default="")
EVIDENCE_TSA_TIMEOUT_SECONDS = env_int("EVIDENCE_TSA_TIMEOUT_SECONDS", default=10, min_value=1)

# --- Verify a pack: the largest upload ------------------------------------------------------
# The signed PDF of the 1,000-service estate of bench/audits_bench.py measured 743 KiB (20
# stacks, 560 verification runs; December 2026), and a pack grows with the services in its
# scope. 10 MB is over 13 times that: no pack of a real estate reaches it, and a larger upload
# is refused before it is parsed (audits.forms.pack_upload_problem), as is one that is not a
# signed PDF by its first and last bytes.
EVIDENCE_VERIFY_MAX_BYTES = env_int("EVIDENCE_VERIFY_MAX_MB", default=10, min_value=1) * 1000 * 1000

# --- Single sign-on (accounts/sso/; README "Single sign-on") --------------------------------
# Each directory is off until its variable is set; local accounts always stay (break-glass).
# Directory users' roles and owned services follow the directory-group mapping (Users >
# Directory groups) at every sign-in. Four eyes compares persons: accounts.identity.
#
# Person link, to tell that two accounts are one person: the OIDC claim and the LDAP attribute
# that hold the same value for one person in both directories (an employee number, or the
# e-mail address, the default), and whether accounts with one e-mail address are one person
# (this is what ties a local break-glass account to its holder's directory accounts).
SSO_PERSON_LINK_OIDC_CLAIM = env_str("SSO_PERSON_LINK_OIDC_CLAIM", default="email")
SSO_PERSON_LINK_LDAP_ATTRIBUTE = env_str("SSO_PERSON_LINK_LDAP_ATTRIBUTE", default="mail")
SSO_PERSON_LINK_BY_EMAIL = env_bool("SSO_PERSON_LINK_BY_EMAIL", default=True)

# OpenID Connect (mozilla-django-oidc): on when OIDC_ISSUER is set. The provider's endpoints
# come from its discovery document ({issuer}/.well-known/openid-configuration); register
# https://<portal>/oidc/callback/ as the redirect URI.
OIDC_ISSUER = env_str("OIDC_ISSUER", default="")
OIDC_ENABLED = bool(OIDC_ISSUER)
if OIDC_ENABLED and not DEBUG and not OIDC_ISSUER.startswith("https://"):
    raise ImproperlyConfigured("OIDC_ISSUER must be an https:// URL when DJANGO_DEBUG is false")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", default="single sign-on")
# Required when OIDC_ISSUER is set: the portal's client id and secret at the provider.
OIDC_RP_CLIENT_ID = (
    env_str("OIDC_CLIENT_ID", default="") if not OIDC_ENABLED else env_str("OIDC_CLIENT_ID")
)
OIDC_RP_CLIENT_SECRET = (
    env_str("OIDC_CLIENT_SECRET", default="") if not OIDC_ENABLED else env_str("OIDC_CLIENT_SECRET")
)
OIDC_RP_SCOPES = env_str("OIDC_SCOPES", default="openid email profile")
# ID tokens signed with the provider's key (from its JWKS), never with the client secret.
OIDC_RP_SIGN_ALGO = env_str("OIDC_SIGN_ALGO", default="RS256")
OIDC_USERNAME_CLAIM = env_str("OIDC_USERNAME_CLAIM", default="preferred_username")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_USE_PKCE = True  # RFC 7636, on top of the client secret
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT_SECONDS", default=10, min_value=1)
OIDC_VERIFY_SSL = env_bool("OIDC_VERIFY_TLS", default=True)
OIDC_AUTHENTICATION_CALLBACK_URL = "sso:oidc-callback"
# After the provider, back to where the person was going, else the dashboard.
OIDC_REDIRECT_FIELD_NAME = "next"

# LDAP / Active Directory (django-auth-ldap): on when LDAP_SERVER_URI is set. The login form's
# password is checked against the directory for names that are not local accounts.
LDAP_SERVER_URI = env_str("LDAP_SERVER_URI", default="")
LDAP_ENABLED = bool(LDAP_SERVER_URI)
# The attribute that names an entry for ever: entryUUID (OpenLDAP and most directories,
# RFC 4530) or objectGUID (Active Directory).
LDAP_UNIQUE_ID_ATTRIBUTE = env_str("LDAP_UNIQUE_ID_ATTRIBUTE", default="entryUUID")
# Stored with each identity (DirectoryIdentity.issuer): keep it when the server's address
# changes, or every LDAP user gets a new portal account.
LDAP_IDENTITY_ISSUER = env_str("LDAP_IDENTITY_ISSUER", default=LDAP_SERVER_URI)
if LDAP_ENABLED:
    import ldap
    from django_auth_ldap.config import (
        ActiveDirectoryGroupType,
        GroupOfNamesType,
        GroupOfUniqueNamesType,
        LDAPSearch,
        NestedActiveDirectoryGroupType,
    )

    _LDAP_GROUP_TYPES = {
        "groupOfNames": GroupOfNamesType,
        "groupOfUniqueNames": GroupOfUniqueNamesType,
        "activeDirectory": ActiveDirectoryGroupType,
        "nestedActiveDirectory": NestedActiveDirectoryGroupType,
    }
    _ldap_group_type = env_str("LDAP_GROUP_TYPE", default="groupOfNames")
    if _ldap_group_type not in _LDAP_GROUP_TYPES:
        raise ImproperlyConfigured(
            f"LDAP_GROUP_TYPE={_ldap_group_type!r}: use one of {sorted(_LDAP_GROUP_TYPES)}"
        )
    AUTH_LDAP_SERVER_URI = LDAP_SERVER_URI
    AUTH_LDAP_BIND_DN = env_str("LDAP_BIND_DN", default="")
    AUTH_LDAP_BIND_PASSWORD = env_str("LDAP_BIND_PASSWORD", default="")
    AUTH_LDAP_START_TLS = env_bool("LDAP_START_TLS", default=False)
    # Directory passwords cross the network: in production only over TLS (ldaps:// or StartTLS).
    if not DEBUG and LDAP_SERVER_URI.startswith("ldap://") and not AUTH_LDAP_START_TLS:
        raise ImproperlyConfigured(
            "LDAP_SERVER_URI is ldap:// without LDAP_START_TLS=true: directory passwords would"
            " cross the network in clear; use ldaps:// or set LDAP_START_TLS=true"
        )
    _ldap_timeout = env_int("LDAP_TIMEOUT_SECONDS", default=10, min_value=1)
    AUTH_LDAP_GLOBAL_OPTIONS: dict[int, object] = {
        ldap.OPT_NETWORK_TIMEOUT: _ldap_timeout,
        ldap.OPT_TIMEOUT: _ldap_timeout,
        ldap.OPT_REFERRALS: 0,  # Active Directory's referrals lead outside the directory
    }
    if env_str("LDAP_CA_FILE", default=""):
        AUTH_LDAP_GLOBAL_OPTIONS[ldap.OPT_X_TLS_CACERTFILE] = env_str("LDAP_CA_FILE")
        AUTH_LDAP_GLOBAL_OPTIONS[ldap.OPT_X_TLS_REQUIRE_CERT] = ldap.OPT_X_TLS_DEMAND
    # The unique id is operational in OpenLDAP (not returned by "*"): asked for by name.
    _ldap_user_attributes = ["*", LDAP_UNIQUE_ID_ATTRIBUTE]
    AUTH_LDAP_USER_SEARCH = LDAPSearch(
        env_str("LDAP_USER_BASE"),
        ldap.SCOPE_SUBTREE,
        env_str("LDAP_USER_FILTER", default="(uid=%(user)s)"),
        _ldap_user_attributes,
    )
    AUTH_LDAP_USER_ATTRLIST = _ldap_user_attributes
    AUTH_LDAP_GROUP_SEARCH = LDAPSearch(
        env_str("LDAP_GROUP_BASE"),
        ldap.SCOPE_SUBTREE,
        env_str("LDAP_GROUP_FILTER", default="(objectClass=groupOfNames)"),
    )
    AUTH_LDAP_GROUP_TYPE = _LDAP_GROUP_TYPES[_ldap_group_type]()
    # accounts.sso.ldap writes the user (details, roles, services) itself; django-auth-ldap
    # must neither copy attributes nor mirror directory groups into Django groups (the
    # portal's roles are Django groups).
    AUTH_LDAP_ALWAYS_UPDATE_USER = False
    AUTH_LDAP_MIRROR_GROUPS = False
    AUTH_LDAP_CACHE_TIMEOUT = 0  # group changes take effect at the next sign-in

# After the local accounts (break-glass first), each directory that is on.
AUTHENTICATION_BACKENDS += [
    *(["accounts.sso.ldap.LdapBackend"] if LDAP_ENABLED else []),
    *(["accounts.sso.oidc.OidcBackend"] if OIDC_ENABLED else []),
]
# --- end of single sign-on ------------------------------------------------------------------

# === Operations: production serving, health, metrics, exports (issue 17) =============
# Kept in one block so that serving concerns read together; deploy/README.md explains them.
#
# Static files in production: WhiteNoise serves STATIC_ROOT (filled by `collectstatic`) from
# the gunicorn processes themselves, with far-future caching of the hashed names and
# compressed copies, so no separate web server is needed for them. Right after
# SecurityMiddleware, as WhiteNoise's documentation asks, so static answers skip the rest.
# With DEBUG on, runserver serves static/ itself and there is no STATIC_ROOT to read.
if not DEBUG:
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names need a collectstatic first; a developer's DEBUG runserver and the tests
    # serve the files as they are.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "portal.storage.StaticFilesStorage"
    },
}
# The load balancer probes /healthz/ over plain HTTP on the gunicorn port; it must not be
# redirected to HTTPS (SECURE_SSL_REDIRECT) or it never sees the answer.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
# Health (portal/health.py): how long the worker check waits for workers to answer Celery's
# broadcast (it is part of every probe, so short), and how often beat stamps its heartbeat;
# beat counts as stopped after OPS_BEAT_HEARTBEAT_SECONDS x 3 without one.
OPS_HEALTH_WORKER_TIMEOUT = (
    env_int("OPS_HEALTH_WORKER_TIMEOUT_MS", default=1000, min_value=50) / 1000
)
OPS_BEAT_HEARTBEAT_SECONDS = env_int("OPS_BEAT_HEARTBEAT_SECONDS", default=30, min_value=5)
CELERY_TASK_ROUTES["portal.tasks.beat_heartbeat"] = {"queue": "default"}
CELERY_BEAT_SCHEDULE["portal-beat-heartbeat"] = {
    "task": "portal.tasks.beat_heartbeat",
    "schedule": float(OPS_BEAT_HEARTBEAT_SECONDS),
    # A heartbeat nobody ran within its own interval is worthless: let it expire in the queue.
    "options": {"expires": float(OPS_BEAT_HEARTBEAT_SECONDS)},
}
# Prometheus metrics (portal/metrics.py) at /metrics, for a scraper sending
# `Authorization: Bearer <OPS_METRICS_TOKEN>`. Unset: the endpoint does not exist (404).
OPS_METRICS_TOKEN = env_str("OPS_METRICS_TOKEN", default="")
if OPS_METRICS_TOKEN and len(OPS_METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("OPS_METRICS_TOKEN must be at least 32 characters")
# Exports (portal/exports.py): the longest window of connections one export may cover.
OPS_EXPORT_MAX_DAYS = env_int("OPS_EXPORT_MAX_DAYS", default=31, min_value=1)
# === end of operations ========================================================================
# --- Alerts (fleet/alerts): e-mail, syslog and webhook channels --------------------------
# The channels themselves are rows an admin configures (/alerts/channels/). The dispatcher
# runs on its own queue so a slow SIEM never delays a verification or a deployment.
CELERY_TASK_QUEUES.append(Queue("alerts", Exchange("alerts"), routing_key="alerts"))
CELERY_IMPORTS = ["fleet.alerts.tasks"]  # not an app's tasks.py, so autodiscovery misses it
CELERY_TASK_ROUTES["fleet.alerts.tasks.deliver_alerts"] = {"queue": "alerts"}
CELERY_TASK_ROUTES["fleet.alerts.tasks.resume_alert_deliveries"] = {"queue": "alerts"}
CELERY_BEAT_SCHEDULE["alerts-resume-deliveries"] = {
    "task": "fleet.alerts.tasks.resume_alert_deliveries",
    "schedule": float(env_int("ALERTS_RESUME_SECONDS", default=60, min_value=5)),
}
# A failed delivery is retried after BASE, 2 x BASE, 4 x BASE ... at most MAX seconds apart, until
# the channel's max attempts dead-letter it.
ALERTS_RETRY_BASE_MS = env_int("ALERTS_RETRY_BASE_MS", default=5000, min_value=1)
ALERTS_RETRY_MAX_SECONDS = env_int("ALERTS_RETRY_MAX_SECONDS", default=900, min_value=1)
# A delivery claimed this long ago by a worker that never finished it is taken over.
ALERTS_CLAIM_STALE_SECONDS = env_int("ALERTS_CLAIM_STALE_SECONDS", default=120, min_value=10)
# HOSTNAME of the RFC 5424 header; empty: this machine's name.
ALERTS_SYSLOG_HOSTNAME = env_str("ALERTS_SYSLOG_HOSTNAME", default="")
# Device version in the CEF header.
ALERTS_PRODUCT_VERSION = env_str("ALERTS_PRODUCT_VERSION", default="1.0")
SPECTACULAR_SETTINGS["TAGS"].append(  # type: ignore[attr-defined]
    {"name": "alerts", "description": "Alerts: channels (admin) and deliveries; retry"}
)
