"""papercast settings: one file, every value read from the environment (see README.md, Configuration).

Defaults run the whole pipeline on one machine with no outside service: SQLite and local files under
PAPERCAST_DATA_DIR, django-q2 on the ORM broker, the extractive summarizer and the title-card renderer.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from papercast.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_optional_str,
    env_path,
    env_rate,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = env_path("PAPERCAST_DATA_DIR", BASE_DIR / "var", base=BASE_DIR)
# The data dir holds the secret key, the SQLite database and local media: created for its owner only. An
# existing dir keeps the permissions the operator gave it.
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
DEBUG = env_bool("PAPERCAST_DEBUG", False)


def _secret_key() -> str:
    """The configured key, or one generated once and kept in the data dir (single-machine installs)."""
    configured = env_optional_str("PAPERCAST_SECRET_KEY")
    if configured:
        return configured
    key_file = DATA_DIR / "secret_key"
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(50)
    try:
        # O_EXCL: when two processes start at once, exactly one writes and both read the same key. Created
        # 0600, so the key is never readable by others, not even between creating and writing it.
        with os.fdopen(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write(key)
    except FileExistsError:
        return key_file.read_text().strip()
    return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("PAPERCAST_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("PAPERCAST_CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("PAPERCAST_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# --- HTTPS ------------------------------------------------------------------------------------------------
# An https site URL means a TLS proxy in front: everything below defaults to on then, and each can be
# turned off on its own. The proxy must set X-Forwarded-Proto itself, replacing any value a client sent;
# without the header trusted, Django sees every request as http, and the redirect would loop.
_https_site = SITE_URL.lower().startswith("https://")
if env_bool("PAPERCAST_TRUST_FORWARDED_PROTO", _https_site):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("PAPERCAST_SSL_REDIRECT", _https_site)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("PAPERCAST_SECURE_COOKIES", _https_site)
SECURE_HSTS_SECONDS = env_int("PAPERCAST_HSTS_SECONDS", 31_536_000 if _https_site else 0, minimum=0)
# Covers the site's own subdomains only (*.papercast.example.org), unless the site URL is a bare domain.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("PAPERCAST_HSTS_INCLUDE_SUBDOMAINS", _https_site)
SECURE_HSTS_PRELOAD = env_bool("PAPERCAST_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    # Joining the browsers' preload list is the operator's decision (PAPERCAST_HSTS_PRELOAD), not an
    # oversight `check --deploy` should report on every deployment.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "projects",
    "media_pipeline",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a login that axes locked out into its answer (papercast.api.errors.login_lockout_response).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "papercast.urls"
WSGI_APPLICATION = "papercast.wsgi.application"
ASGI_APPLICATION = "papercast.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- Database -----------------------------------------------------------------------------------------
_database_url = env_optional_str("DATABASE_URL")
if _database_url:
    try:
        # Pooled connections are checked before reuse: after a database restart or failover a dead one is
        # replaced instead of failing the next stage.
        DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL this install understands: {exc}") from exc
else:
    _sqlite_file = DATA_DIR / "papercast.sqlite3"
    # Created 0600 before SQLite creates it world-readable; an empty file is an empty database, and SQLite
    # gives its journal and WAL files the database's permissions.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(_sqlite_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_sqlite_file),
            # Workers and the web process share the file: wait for locks instead of failing at once.
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
            # A file, as in production: an in-memory test database reports locks instead of waiting.
            "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Logins ----------------------------------------------------------------------------------------------
# Every password check (the admin's and the API's session login, the API token login) goes through
# django.contrib.auth.authenticate with the request, so axes counts failures and refuses locked-out logins
# before any password is checked. Failures are counted per client address and, separately, per username
# (AXES_LOCKOUT_PARAMETERS): guessing one user's password from many addresses, or many users' from one
# address, both run into the limit. Attempts live in the database, shared by every web process.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# media_file and the admin send anonymous visitors here.
LOGIN_URL = "admin:login"
# X-Forwarded-For is trusted for this many proxies in front of the web server (0: ignored); the address
# the outermost trusted proxy saw is the client's, for axes and for the API's throttles alike.
PAPERCAST_TRUSTED_PROXIES = env_int("PAPERCAST_TRUSTED_PROXIES", 0, minimum=0, maximum=10)
AXES_FAILURE_LIMIT = env_int("PAPERCAST_LOGIN_FAILURES", 5, minimum=1, maximum=1000)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("PAPERCAST_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_CLIENT_IP_CALLABLE = "papercast.api.paging.client_address"
AXES_LOCKOUT_CALLABLE = "papercast.api.errors.login_lockout_response"
# A successful login does not wipe the failures: one account's password would otherwise let its holder
# keep guessing others' from the same address.
AXES_RESET_ON_SUCCESS = False
# Failures are kept (AccessAttempt, in the admin); a row per successful login is not.
AXES_DISABLE_ACCESS_LOG = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("PAPERCAST_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Files ----------------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request without it
# whitenoise serves the apps' static files (the admin's, the Swagger UI's) straight from where they are
# installed: `gunicorn papercast.wsgi` needs no collectstatic step first (what collectstatic copies into
# STATIC_ROOT is served as well).
WHITENOISE_USE_FINDERS = True
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"
# Uploads larger than this are streamed to a temp file rather than held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

PAPERCAST_STORAGE = env_choice("PAPERCAST_STORAGE", "filesystem", ["filesystem", "s3"])
# Lifetime of presigned S3 download links (the admin's player, the uploader's downloads).
AWS_QUERYSTRING_EXPIRE = env_int("AWS_QUERYSTRING_EXPIRE", 600, minimum=1)
_default_storage: dict[str, Any]
if PAPERCAST_STORAGE == "s3":
    _bucket = env_optional_str("AWS_STORAGE_BUCKET_NAME")
    if not _bucket:
        raise ImproperlyConfigured("PAPERCAST_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME.")
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _bucket,
            "endpoint_url": env_optional_str("AWS_S3_ENDPOINT_URL"),
            "region_name": env_optional_str("AWS_S3_REGION_NAME"),
            "access_key": env_optional_str("AWS_ACCESS_KEY_ID"),
            "secret_key": env_optional_str("AWS_SECRET_ACCESS_KEY"),
            "location": env_str("AWS_LOCATION", ""),
            # Generated names are unique, so an existing key is never silently replaced.
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": AWS_QUERYSTRING_EXPIRE,
        },
    }
else:
    _default_storage = {
        "BACKEND": "papercast.storage.LocalStorage",
        "OPTIONS": {
            "location": MEDIA_ROOT,
            "base_url": MEDIA_URL,
            # Media are served only through the access checks of media_pipeline.views: owner only on disk.
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Task queue (django-q2) -------------------------------------------------------------------------------
PAPERCAST_QUEUE_SYNC = env_bool("PAPERCAST_QUEUE_SYNC", False)
# How long one stage may run: on the default workers, and on the gpu workers (transcribe and illustrate). Each
# attempt records the limit of the worker that claimed it, and is stopped with a message when it runs longer.
PAPERCAST_STAGE_TIMEOUT = env_int("PAPERCAST_STAGE_TIMEOUT", 3600, minimum=10)
PAPERCAST_GPU_STAGE_TIMEOUT = env_int("PAPERCAST_GPU_STAGE_TIMEOUT", PAPERCAST_STAGE_TIMEOUT, minimum=10)
# django-q2 stops a worker this long after the limit, when the stage itself could not stop in time.
_STOP_GRACE = 60
PAPERCAST_MAX_ATTEMPTS = env_int("PAPERCAST_MAX_ATTEMPTS", 3, minimum=1, maximum=20)
# Liveness, apart from duration: a running stage's worker beats every PAPERCAST_HEARTBEAT_SECONDS whatever its
# progress, and a run whose beat is older than PAPERCAST_HEARTBEAT_TIMEOUT is taken for a dead worker's.
PAPERCAST_HEARTBEAT_SECONDS = env_float("PAPERCAST_HEARTBEAT_SECONDS", 5.0, minimum=0.1, maximum=600.0)
PAPERCAST_HEARTBEAT_TIMEOUT = env_float("PAPERCAST_HEARTBEAT_TIMEOUT", 30.0, minimum=1.0)
if PAPERCAST_HEARTBEAT_TIMEOUT < 3 * PAPERCAST_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "PAPERCAST_HEARTBEAT_TIMEOUT must be at least three heartbeats (3 x PAPERCAST_HEARTBEAT_SECONDS)."
    )
PAPERCAST_RETRY_BACKOFF = env_float("PAPERCAST_RETRY_BACKOFF", 5.0, minimum=0.0)
_redis_url = env_optional_str("PAPERCAST_REDIS_URL")

_queue_common: dict[str, Any] = {
    "name": "default",
    "timeout": PAPERCAST_STAGE_TIMEOUT + _STOP_GRACE,
    # A task not acknowledged by then is delivered again; the pipeline's claim makes that harmless.
    "retry": PAPERCAST_STAGE_TIMEOUT + _STOP_GRACE + 120,
    # Attempts are counted by the pipeline (a killed worker is invisible to the queue), not here.
    "max_attempts": 1,
    "ack_failures": True,
    "save_limit": 500,
    "catch_up": False,
    "sync": PAPERCAST_QUEUE_SYNC,
    "workers": env_int("PAPERCAST_WORKERS", 2, minimum=1),
    "ALT_CLUSTERS": {
        # One worker process per GPU is the sane default: whisper and diffusers each fill a card.
        "gpu": {
            "workers": env_int("PAPERCAST_GPU_WORKERS", 1, minimum=1),
            "timeout": PAPERCAST_GPU_STAGE_TIMEOUT + _STOP_GRACE,
            "retry": PAPERCAST_GPU_STAGE_TIMEOUT + _STOP_GRACE + 120,
        },
    },
}
if _redis_url:
    _queue_common["redis"] = _redis_url
else:
    _queue_common["orm"] = "default"
Q_CLUSTER = _queue_common

# --- Pipeline --------------------------------------------------------------------------------------------
# Engines. A model may be a name (fetched by the engine on a machine with internet) or a path on disk.
# auto: faster-whisper on a CPU worker with a converted model (PAPERCAST_FASTER_WHISPER_MODEL), else
# whisper-timestamped (GPUs); see projects.installed.transcriber.
PAPERCAST_TRANSCRIBER = env_choice("PAPERCAST_TRANSCRIBER", "auto", ["auto", "whisper-timestamped", "faster-whisper"])
PAPERCAST_WHISPER_MODEL = env_str("PAPERCAST_WHISPER_MODEL", "base.en")
# The models a project may choose, by name (projects.installed): names or paths, each chosen by its file
# name without .pt. Empty: the configured model only. Paths are for the operator, never a project's field.
PAPERCAST_WHISPER_MODELS = env_list("PAPERCAST_WHISPER_MODELS", [])
# faster-whisper (CTranslate2) models: a name, or the path of a converted model directory.
PAPERCAST_FASTER_WHISPER_MODEL = env_str("PAPERCAST_FASTER_WHISPER_MODEL", "")
PAPERCAST_FASTER_WHISPER_COMPUTE_TYPE = env_str("PAPERCAST_FASTER_WHISPER_COMPUTE_TYPE", "default")
# Long audio is cut at silences into pieces of at most this many minutes, transcribed piece by piece.
PAPERCAST_TRANSCRIBE_PIECE_MINUTES = env_float("PAPERCAST_TRANSCRIBE_PIECE_MINUTES", 10.0, minimum=0.25, maximum=60.0)
# What happens to segments that look invented (repetition loops, no speech, past the end): drop or flag.
PAPERCAST_HALLUCINATIONS = env_choice("PAPERCAST_HALLUCINATIONS", "drop", ["drop", "flag"])
# For narration papercast spoke itself: keep the script's words, with the recogniser's timings.
PAPERCAST_SCRIPT_ALIGNMENT = env_bool("PAPERCAST_SCRIPT_ALIGNMENT", True)
# How the words of papercast's own narration get their times: "align" (forced alignment of the known words,
# one pass per 30 s: about 20 times less CPU) or "recognise" (decode what was said, then keep the script's
# words; it also finds the sentences that are hard to follow). Uploaded audio is always recognised.
PAPERCAST_NARRATION_TIMING = env_choice("PAPERCAST_NARRATION_TIMING", "align", ["align", "recognise"])
# A script sentence the recogniser misheard more than this share of words of is flagged "hard to follow".
PAPERCAST_HARD_TO_FOLLOW = env_float("PAPERCAST_HARD_TO_FOLLOW", 0.3, minimum=0.0, maximum=1.0)
PAPERCAST_WHISPER_DEVICE = env_choice("PAPERCAST_WHISPER_DEVICE", "auto", ["auto", "cpu", "cuda"])
PAPERCAST_WHISPER_LANGUAGE = env_optional_str("PAPERCAST_WHISPER_LANGUAGE")
# 0 = automatic: beam search of 5 on a GPU, greedy decoding on a CPU (about 4 times faster there).
PAPERCAST_WHISPER_BEAM_SIZE = env_int("PAPERCAST_WHISPER_BEAM_SIZE", 0, minimum=0, maximum=20)
# Re-decode at higher temperatures when a segment looks like a repetition loop (whisper's own default).
PAPERCAST_WHISPER_TEMPERATURE_FALLBACK = env_bool("PAPERCAST_WHISPER_TEMPERATURE_FALLBACK", True)
PAPERCAST_WHISPER_THREADS = env_int("PAPERCAST_WHISPER_THREADS", 0, minimum=0)
PAPERCAST_TTS_BACKEND = env_choice("PAPERCAST_TTS_BACKEND", "piper", ["piper", "espeak", "openai"])
# A piper voice that is not installed falls back to espeak-ng (when installed) unless this is "none".
PAPERCAST_TTS_FALLBACK = env_choice("PAPERCAST_TTS_FALLBACK", "espeak", ["espeak", "none"])
PAPERCAST_ESPEAK = env_str("PAPERCAST_ESPEAK", "espeak-ng")
PAPERCAST_ESPEAK_VOICE = env_str("PAPERCAST_ESPEAK_VOICE", "en-us")
# OpenAI-compatible speech servers (OpenAI, Kokoro-FastAPI): the API base ending in /v1.
PAPERCAST_TTS_URL = env_str("PAPERCAST_TTS_URL", "https://api.openai.com/v1").rstrip("/")
PAPERCAST_TTS_MODEL = env_str("PAPERCAST_TTS_MODEL", "tts-1")
PAPERCAST_TTS_VOICE = env_str("PAPERCAST_TTS_VOICE", "alloy")
PAPERCAST_TTS_API_KEY = env_optional_str("PAPERCAST_TTS_API_KEY")
PAPERCAST_TTS_READ_TIMEOUT = env_float("PAPERCAST_TTS_READ_TIMEOUT", 120.0, minimum=1.0)
PAPERCAST_PIPER_VOICE = env_str("PAPERCAST_PIPER_VOICE", "en_US-joe-medium")
PAPERCAST_PIPER_VOICES_DIR = env_path("PAPERCAST_PIPER_VOICES_DIR", DATA_DIR / "voices", base=BASE_DIR)
# The voices a project may choose, by name; empty: the .onnx voices in the voices dir (of the machine that
# checks: list them here when the web machines have no voices of their own).
PAPERCAST_PIPER_VOICES = env_list("PAPERCAST_PIPER_VOICES", [])
for _voice in PAPERCAST_PIPER_VOICES:
    if "/" in _voice or "\\" in _voice or ".." in _voice or _voice.endswith(".onnx"):
        raise ImproperlyConfigured(
            f"PAPERCAST_PIPER_VOICES: {_voice!r} is not a voice name (a .onnx file in PAPERCAST_PIPER_VOICES_DIR, "
            "without .onnx)."
        )
PAPERCAST_LLM_BACKEND = env_choice("PAPERCAST_LLM_BACKEND", "extractive", ["extractive", "ollama", "openai"])
# Ollama: the server's root (http://host:11434). OpenAI-compatible: the API base including /v1.
PAPERCAST_LLM_URL = env_str(
    "PAPERCAST_LLM_URL",
    {"ollama": "http://127.0.0.1:11434", "openai": "https://api.openai.com/v1"}.get(PAPERCAST_LLM_BACKEND, ""),
).rstrip("/")
PAPERCAST_LLM_MODEL = env_str(
    "PAPERCAST_LLM_MODEL", {"ollama": "qwen2.5:7b", "openai": "gpt-4o-mini"}.get(PAPERCAST_LLM_BACKEND, "")
)
PAPERCAST_LLM_API_KEY = env_optional_str("PAPERCAST_LLM_API_KEY")
PAPERCAST_LLM_CONNECT_TIMEOUT = env_float("PAPERCAST_LLM_CONNECT_TIMEOUT", 5.0, minimum=0.1)
PAPERCAST_LLM_READ_TIMEOUT = env_float("PAPERCAST_LLM_READ_TIMEOUT", 300.0, minimum=0.1)
PAPERCAST_LLM_RETRIES = env_int("PAPERCAST_LLM_RETRIES", 4, minimum=0, maximum=20)
PAPERCAST_LLM_BACKOFF = env_float("PAPERCAST_LLM_BACKOFF", 1.0, minimum=0.0)
PAPERCAST_LLM_CONCURRENCY = env_int("PAPERCAST_LLM_CONCURRENCY", 1, minimum=1, maximum=64)
PAPERCAST_LLM_TEMPERATURE = env_float("PAPERCAST_LLM_TEMPERATURE", 0.3, minimum=0.0, maximum=2.0)
PAPERCAST_LLM_SEED = env_int("PAPERCAST_LLM_SEED", 42)
PAPERCAST_LLM_KEEP_ALIVE = env_str("PAPERCAST_LLM_KEEP_ALIVE", "10m")
PAPERCAST_LLM_MAX_CONTEXT = env_int("PAPERCAST_LLM_MAX_CONTEXT", 32768, minimum=1024)
PAPERCAST_IMAGE_BACKEND = env_choice(
    "PAPERCAST_IMAGE_BACKEND", "slides", ["slides", "titlecard", "a1111", "comfyui", "diffusers"]
)
PAPERCAST_IMAGE_URL = env_str(
    "PAPERCAST_IMAGE_URL",
    {"a1111": "http://127.0.0.1:7860", "comfyui": "http://127.0.0.1:8188"}.get(PAPERCAST_IMAGE_BACKEND, ""),
)
# a1111: a checkpoint title (empty: the WebUI's current one); comfyui: the ckpt_name to load (empty: the
# workflow's); diffusers: a local pipeline directory or a model id.
PAPERCAST_IMAGE_MODEL = env_str("PAPERCAST_IMAGE_MODEL", "")
PAPERCAST_IMAGE_AUTH = env_optional_str("PAPERCAST_IMAGE_AUTH")
if PAPERCAST_IMAGE_AUTH and ":" not in PAPERCAST_IMAGE_AUTH:
    raise ImproperlyConfigured("PAPERCAST_IMAGE_AUTH must be user:password.")
PAPERCAST_IMAGE_CONNECT_TIMEOUT = env_float("PAPERCAST_IMAGE_CONNECT_TIMEOUT", 5.0, minimum=0.1)
PAPERCAST_IMAGE_READ_TIMEOUT = env_float("PAPERCAST_IMAGE_READ_TIMEOUT", 600.0, minimum=0.1)
PAPERCAST_IMAGE_RETRIES = env_int("PAPERCAST_IMAGE_RETRIES", 3, minimum=0, maximum=20)
PAPERCAST_IMAGE_BACKOFF = env_float("PAPERCAST_IMAGE_BACKOFF", 2.0, minimum=0.0)
# AUTOMATIC1111 generates one image at a time; more concurrent requests only queue inside it.
PAPERCAST_IMAGE_CONCURRENCY = env_int("PAPERCAST_IMAGE_CONCURRENCY", 1, minimum=1, maximum=64)
PAPERCAST_COMFYUI_WORKFLOW = env_optional_str("PAPERCAST_COMFYUI_WORKFLOW")
PAPERCAST_DIFFUSERS_DEVICE = env_str("PAPERCAST_DIFFUSERS_DEVICE", "auto")
PAPERCAST_DIFFUSERS_DTYPE = env_choice("PAPERCAST_DIFFUSERS_DTYPE", "auto", ["auto", "float16", "bfloat16", "float32"])
PAPERCAST_FONT = env_optional_str("PAPERCAST_FONT")

# Papers as PDFs: read in a child process under these limits (see media_pipeline.backends.pdf).
PAPERCAST_PDF_MAX_MB = env_int("PAPERCAST_PDF_MAX_MB", 100, minimum=1)
PAPERCAST_PDF_MAX_PAGES = env_int("PAPERCAST_PDF_MAX_PAGES", 300, minimum=1)
PAPERCAST_PDF_MEMORY_MB = env_int("PAPERCAST_PDF_MEMORY_MB", 1024, minimum=256)
PAPERCAST_PDF_TIMEOUT = env_int("PAPERCAST_PDF_TIMEOUT", 180, minimum=5)
# arXiv: the export API's base URL (a mirror, or a stand-in in tests), and its rate limit.
PAPERCAST_ARXIV_URL = env_str("PAPERCAST_ARXIV_URL", "https://export.arxiv.org").rstrip("/")
PAPERCAST_ARXIV_INTERVAL = env_float("PAPERCAST_ARXIV_INTERVAL", 3.0, minimum=0.0)
PAPERCAST_ARXIV_TIMEOUT = env_float("PAPERCAST_ARXIV_TIMEOUT", 60.0, minimum=1.0)

# Limits on what users hand in.
PAPERCAST_MAX_TEXT_CHARS = env_int("PAPERCAST_MAX_TEXT_CHARS", 200_000, minimum=100)
PAPERCAST_MAX_AUDIO_SECONDS = env_float("PAPERCAST_MAX_AUDIO_SECONDS", 3 * 3600.0, minimum=1.0)
PAPERCAST_MAX_UPLOAD_BYTES = env_int("PAPERCAST_MAX_UPLOAD_MB", 1024, minimum=1) * 1024 * 1024

# Media tools. Names are looked up on PATH; absolute paths are used as they are.
PAPERCAST_FFMPEG = env_str("PAPERCAST_FFMPEG", "ffmpeg")
PAPERCAST_FFPROBE = env_str("PAPERCAST_FFPROBE", "ffprobe")
PAPERCAST_FFMPEG_TIMEOUT = env_int("PAPERCAST_FFMPEG_TIMEOUT", 1800, minimum=5)

# Defaults for new projects.
PAPERCAST_DEFAULT_MAX_SCENE_SECONDS = env_float("PAPERCAST_MAX_SCENE_SECONDS", 8.0, minimum=2.0, maximum=120.0)

# --- Logging ---------------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "papercast": {"handlers": ["console"], "level": env_str("PAPERCAST_LOG_LEVEL", "INFO")},
        "media_pipeline": {"handlers": ["console"], "level": env_str("PAPERCAST_LOG_LEVEL", "INFO")},
        "projects": {"handlers": ["console"], "level": env_str("PAPERCAST_LOG_LEVEL", "INFO")},
    },
}

# --- Cache (API throttling) ----------------------------------------------------------------------------
# Throttle counters live in the cache: Redis when configured (shared by every web process and machine),
# else each process's memory.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _redis_url, "KEY_PREFIX": "papercast"}
        if _redis_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- REST API (the YouTube uploader; see README.md, "The API") --------------------------------------------
PAPERCAST_API_TOKEN_DAYS = env_float("PAPERCAST_API_TOKEN_DAYS", 30.0, minimum=0.01, maximum=3650.0)
PAPERCAST_API_PAGE_SIZE = env_int("PAPERCAST_API_PAGE_SIZE", 50, minimum=1, maximum=500)
PAPERCAST_API_RATE = env_rate("PAPERCAST_API_RATE", "600/minute")
PAPERCAST_API_ANON_RATE = env_rate("PAPERCAST_API_ANON_RATE", "60/minute")
PAPERCAST_API_LOGIN_RATE = env_rate("PAPERCAST_API_LOGIN_RATE", "10/minute")
# Unexpired tokens one user may hold; a login past it is refused until one is revoked or expires.
PAPERCAST_MAX_TOKENS_PER_USER = env_int("PAPERCAST_MAX_TOKENS_PER_USER", 20, minimum=1, maximum=10_000)
PAPERCAST_UPLOAD_LEASE_SECONDS = env_int("PAPERCAST_UPLOAD_LEASE_SECONDS", 1800, minimum=60)
PAPERCAST_UPLOAD_LEASE_MAX_SECONDS = env_int("PAPERCAST_UPLOAD_LEASE_MAX_SECONDS", 86400, minimum=60)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "papercast.api.paging.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["papercast.api.paging.UserThrottle", "papercast.api.paging.AnonThrottle"],
    "DEFAULT_SCHEMA_CLASS": "papercast.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "papercast.api.errors.exception_handler",
    "DEFAULT_VERSIONING_CLASS": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Without it DRF's throttles take any X-Forwarded-For a client sends as its address.
    "NUM_PROXIES": PAPERCAST_TRUSTED_PROXIES,
}
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=PAPERCAST_API_TOKEN_DAYS),
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_PREFIX": "pc_",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "papercast API",
    "DESCRIPTION": (
        "Projects, papers and videos of papercast. The YouTube uploader lists approved, unpublished videos, "
        "claims one, downloads its files, uploads it and reports back."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "CurationStatusEnum": "projects.models.CurationStatus",
        "StageEnum": "media_pipeline.models.Stage",
        "StageRunStatusEnum": "media_pipeline.api.serializers.STAGE_STATUSES",
        "PipelineStatusEnum": "media_pipeline.api.serializers.PIPELINE_STATUSES",
        "VideoStatusEnum": "media_pipeline.api.serializers.VIDEO_STATUSES",
        "PrivacyStatusEnum": ["private", "unlisted", "public"],
    },
}
