from __future__ import annotations

import pytest

from fidele.config import env


def test_a_malformed_boolean_fails_loudly_with_the_variables_name(monkeypatch):
    monkeypatch.setenv("FIDELE_DEBUG", "maybe")
    with pytest.raises(env.ConfigError, match="FIDELE_DEBUG"):
        env.env_bool("FIDELE_DEBUG")


def test_a_malformed_integer_fails_loudly(monkeypatch):
    monkeypatch.setenv("FIDELE_IMPORT_MAX_UPLOAD_MB", "lots")
    with pytest.raises(env.ConfigError, match="FIDELE_IMPORT_MAX_UPLOAD_MB"):
        env.env_int("FIDELE_IMPORT_MAX_UPLOAD_MB", 1)


def test_a_secret_can_come_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY_FILE", str(secret))
    assert env.env_str("SECRET_KEY") == "from-a-file"


def test_an_unreadable_secret_file_is_reported(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(env.ConfigError, match="SECRET_KEY_FILE"):
        env.env_str("SECRET_KEY")


def test_the_secret_key_is_generated_once_into_the_data_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)
    first = env.secret_key(tmp_path)
    assert len(first) >= 50
    assert env.secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_sqlite_is_the_default_and_is_tuned_for_a_web_app_and_a_worker(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = env.database_config(tmp_path)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "fidele.sqlite3")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert "busy_timeout" in config["OPTIONS"]["init_command"]


def test_postgresql_comes_from_database_url(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://fidele:pw@db.example:5433/shop")
    config = env.database_config(tmp_path)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("db.example", 5433, "shop")


def test_an_unsupported_database_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "mysql://root@localhost/shop")
    with pytest.raises(env.ConfigError, match="not supported"):
        env.database_config(tmp_path)


@pytest.mark.django_db
def test_the_running_sqlite_connection_uses_wal(settings):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] == 20000


def test_the_capture_transport_is_the_default():
    assert env.email_config(None) == {"kind": "capture"}


def test_an_smtp_url_with_starttls_and_credentials_is_parsed():
    config = env.email_config("smtp+tls://user%40shop:p%3Ass@mail.example:587")
    assert config["kind"] == "smtp"
    assert (config["host"], config["port"], config["starttls"], config["ssl"]) == (
        "mail.example",
        587,
        True,
        False,
    )
    assert (config["username"], config["password"]) == ("user@shop", "p:ss")


def test_a_plain_smtp_url_keeps_its_port():
    config = env.email_config("smtp://127.0.0.1:2525")
    assert (config["host"], config["port"], config["starttls"]) == ("127.0.0.1", 2525, False)


def test_an_unknown_email_scheme_is_refused_with_the_choices():
    with pytest.raises(env.ConfigError, match="unknown scheme 'carrier-pigeon'"):
        env.email_config("carrier-pigeon://coop")


def test_a_redis_url_is_checked_without_echoing_its_password(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://:s3cret@127.0.0.1:6379/0")
    assert env.redis_url() == "redis://:s3cret@127.0.0.1:6379/0"
    monkeypatch.setenv("REDIS_URL", "http://:s3cret@cache")
    with pytest.raises(env.ConfigError, match="REDIS_URL is not a Redis URL") as raised:
        env.redis_url()
    assert "s3cret" not in str(raised.value)
    monkeypatch.delenv("REDIS_URL")
    assert env.redis_url() == ""


def test_a_lifetime_value_setting_out_of_its_bounds_fails_loudly(monkeypatch):
    monkeypatch.setenv("FIDELE_CLV_MONTHLY_DISCOUNT_RATE", "5%")
    with pytest.raises(env.ConfigError, match="FIDELE_CLV_MONTHLY_DISCOUNT_RATE='5%' is not a"):
        env.env_float("FIDELE_CLV_MONTHLY_DISCOUNT_RATE", 0.01, minimum=0, maximum=0.5)
    monkeypatch.setenv("FIDELE_CLV_MONTHLY_DISCOUNT_RATE", "0.8")
    with pytest.raises(env.ConfigError, match="above its maximum"):
        env.env_float("FIDELE_CLV_MONTHLY_DISCOUNT_RATE", 0.01, minimum=0, maximum=0.5)
    monkeypatch.setenv("FIDELE_CLV_MONTHLY_DISCOUNT_RATE", "nan")
    with pytest.raises(env.ConfigError, match="not a finite number"):
        env.env_float("FIDELE_CLV_MONTHLY_DISCOUNT_RATE", 0.01, minimum=0, maximum=0.5)
    monkeypatch.setenv("FIDELE_CLV_MONTHLY_DISCOUNT_RATE", "0,02")
    assert env.env_float("FIDELE_CLV_MONTHLY_DISCOUNT_RATE", 0.01, minimum=0, maximum=0.5) == 0.02
    monkeypatch.setenv("FIDELE_CLV_HORIZON_MONTHS", "240")
    with pytest.raises(env.ConfigError, match="FIDELE_CLV_HORIZON_MONTHS='240' is above"):
        env.env_int("FIDELE_CLV_HORIZON_MONTHS", 12, minimum=1, maximum=120)
