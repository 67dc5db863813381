"""Every setting read from the environment goes through this module.

A bad value fails loudly at start-up with the variable's name, rather than being
silently replaced by a default. Secrets may be given as ``NAME_FILE`` pointing to a
file holding the value (Docker and systemd credentials work that way).
"""

from __future__ import annotations

import math
import os
import secrets
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """A configuration value is missing or malformed."""


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is not None:
        return value
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={file_path!r} cannot be read: {exc}") from exc
    return None


def env_str(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value in (None, "") else value


def env_bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value in (None, ""):
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    value = _raw(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} is not an integer") from exc
    return _bounded(name, value, number, minimum, maximum)


def _bounded(name: str, value: str, number: Any, minimum: Any, maximum: Any) -> Any:
    if minimum is not None and number < minimum:
        raise ConfigError(f"{name}={value!r} is below its minimum, {minimum}")
    if maximum is not None and number > maximum:
        raise ConfigError(f"{name}={value!r} is above its maximum, {maximum}")
    return number


def env_float(
    name: str, default: float, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    """A decimal number ("0.01" or "0,01", as a French user may write it), within bounds."""
    value = _raw(name)
    if value in (None, ""):
        return default
    try:
        number = float(value.strip().replace(",", "."))
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} is not a number") from exc
    if not math.isfinite(number):
        raise ConfigError(f"{name}={value!r} is not a finite number")
    return _bounded(name, value, number, minimum, maximum)


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value in (None, ""):
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def data_dir() -> Path:
    path = Path(env_str("FIDELE_DATA_DIR", "data") or "data").expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"FIDELE_DATA_DIR={str(path)!r} cannot be created: {exc}") from exc
    return path


def secret_key(directory: Path) -> str:
    """Return SECRET_KEY, generating it once into the data directory when absent."""
    value = env_str("SECRET_KEY")
    if value:
        return value
    key_file = directory / "secret_key"
    if key_file.exists():
        return key_file.read_text(encoding="utf-8").strip()
    value = secrets.token_urlsafe(50)
    # O_EXCL so that a web process and a worker starting together agree on one key.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    return value


def database_config(directory: Path) -> dict:
    """DATABASE_URL (sqlite:// or postgres://) or SQLite in the data directory."""
    import dj_database_url

    url = env_str("DATABASE_URL")
    if url:
        try:
            config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        except Exception as exc:  # dj_database_url raises several types
            raise ConfigError(f"DATABASE_URL is not a valid database URL: {exc}") from exc
    else:
        config = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(directory / "fidele.sqlite3")}
    engine = config["ENGINE"]
    if engine.endswith("sqlite3"):
        config["CONN_MAX_AGE"] = 0
        config["CONN_HEALTH_CHECKS"] = False
        config.setdefault("OPTIONS", {}).update(
            {
                # A web process and a worker share the file: WAL lets readers work while
                # one writer writes, the busy timeout waits for the lock instead of failing,
                # and IMMEDIATE takes the write lock at BEGIN so that two writers never
                # deadlock on a lock upgrade.
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA busy_timeout=20000;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA cache_size=-65536;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            }
        )
    elif "postgresql" in engine:
        config["ENGINE"] = "django.db.backends.postgresql"
    else:
        raise ConfigError(f"DATABASE_URL engine {engine!r} is not supported (SQLite or PostgreSQL)")
    config.setdefault("TEST", {})
    return config


ESP_SCHEMES = {
    "brevo": "anymail.backends.brevo.EmailBackend",
    "mailgun": "anymail.backends.mailgun.EmailBackend",
    "amazonses": "anymail.backends.amazon_ses.EmailBackend",
    "postmark": "anymail.backends.postmark.EmailBackend",
    "sendgrid": "anymail.backends.sendgrid.EmailBackend",
    "mailjet": "anymail.backends.mailjet.EmailBackend",
}


def email_config(url: str | None) -> dict:
    """Parse EMAIL_URL into the transport's settings.

    capture://                      keep messages in the database for the in-app Outbox (default)
    smtp://host:port                plain SMTP, no TLS (a local relay or test sink)
    smtp+tls://user:pass@host:587   SMTP with STARTTLS
    smtps://user:pass@host:465      SMTP over TLS
    brevo://API_KEY, mailgun://API_KEY@domain, postmark://TOKEN, sendgrid://API_KEY,
    amazonses://, mailjet://KEY:SECRET   an email service provider through django-anymail
    """
    from urllib.parse import unquote, urlsplit

    if not url or url == "capture://":
        return {"kind": "capture"}
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"smtp", "smtp+tls", "smtps"}:
        if not parts.hostname:
            raise ConfigError(f"EMAIL_URL={url!r} has no host")
        try:
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"EMAIL_URL={url!r} has a bad port") from exc
        default_port = {"smtp": 25, "smtp+tls": 587, "smtps": 465}[scheme]
        return {
            "kind": "smtp",
            "host": parts.hostname,
            "port": port or default_port,
            "username": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "starttls": scheme == "smtp+tls",
            "ssl": scheme == "smtps",
        }
    if scheme in ESP_SCHEMES:
        return {
            "kind": "anymail",
            "esp": scheme,
            "backend": ESP_SCHEMES[scheme],
            "api_key": unquote(parts.username or parts.hostname or ""),
            "secret": unquote(parts.password or ""),
            "domain": parts.hostname if parts.username else "",
        }
    raise ConfigError(
        f"EMAIL_URL={url!r}: unknown scheme {scheme!r} "
        f"(capture, smtp, smtp+tls, smtps, {', '.join(sorted(ESP_SCHEMES))})"
    )


REDIS_SCHEMES = ("redis", "rediss", "unix")


def redis_url(name: str = "REDIS_URL") -> str:
    """A Redis URL (redis://host:6379/0, rediss://... with TLS, unix:///path), or "" when unset."""
    value = env_str(name, "") or ""
    if value and value.partition("://")[0] not in REDIS_SCHEMES:
        # The value is not echoed: it may hold a password.
        raise ConfigError(f"{name} is not a Redis URL (it starts with one of {REDIS_SCHEMES})")
    return value
