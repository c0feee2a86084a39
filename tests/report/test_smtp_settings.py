"""SMTP settings: environment over a config file outside the repo; the password safe."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trialkit.report.smtp_settings import Secret, SmtpSettingsError, load_smtp_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def secret_file(folder: Path, mode: int = 0o600, text: str = "s3cret-pw\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "smtp-password"
    path.write_text(text)
    path.chmod(mode)
    return path


def error(env) -> str:
    with pytest.raises(SmtpSettingsError) as info:
        load_smtp_settings(env)
    assert info.value.exit_code == 78
    return str(info.value)


def test_config_file_in_the_home_folder_with_environment_overrides(home):
    password = secret_file(home / ".secrets")
    config = home / ".config" / "trialkit" / "smtp.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[smtp]\nhost = "mail.hospital.example"\nuser = "reports@hospital.example"\n'
                      f'password_file = "{password}"\nsecurity = "ssl"\n')
    settings = load_smtp_settings({"HOME": str(home), "TRIALKIT_SMTP_PORT": "2465"})
    assert (settings.host, settings.port, settings.security) == ("mail.hospital.example", 2465, "ssl")
    assert settings.sender == "reports@hospital.example"          # the user, being an address
    assert settings.password.reveal() == "s3cret-pw"
    assert "s3cret-pw" not in repr(settings) + str(settings.password) + settings.describe()
    assert str(config) in settings.source and "environment" in settings.source


def test_password_file_readable_by_others_is_refused(home):
    path = secret_file(home / "s", mode=0o644)
    message = error({"HOME": str(home), "TRIALKIT_SMTP_HOST": "h", "TRIALKIT_SMTP_USER": "u",
                     "TRIALKIT_SMTP_PASSWORD_FILE": str(path)})
    assert f"can be read by others (mode 644); run: chmod 600 {path}" in message


def test_config_file_inside_a_git_checkout_is_refused(tmp_path):
    config = tmp_path / "repo" / "deploy" / "smtp.toml"
    config.parent.mkdir(parents=True)
    (tmp_path / "repo" / ".git").mkdir()
    config.write_text('[smtp]\nhost = "h"\n')
    message = error({"HOME": str(tmp_path), "TRIALKIT_SMTP_CONFIG": str(config)})
    assert "inside the git checkout" in message and "could be committed" in message


def test_a_password_in_the_config_file_is_refused(home):
    config = home / "smtp.toml"
    config.write_text('[smtp]\nhost = "h"\nuser = "u"\npassword = "hunter2"\n')
    message = error({"HOME": str(home), "TRIALKIT_SMTP_CONFIG": str(config)})
    assert "holds a password" in message and "hunter2" not in message


@pytest.mark.parametrize(("env", "fragment"), [
    ({}, "no SMTP server set: set TRIALKIT_SMTP_HOST"),
    ({"TRIALKIT_SMTP_HOST": "h", "TRIALKIT_SMTP_USER": "u"}, "no password: set TRIALKIT_SMTP_PASSWORD_FILE"),
    ({"TRIALKIT_SMTP_HOST": "h", "TRIALKIT_SMTP_SECURITY": "tls"}, "'tls' (from environment) is not one of starttls | ssl | none"),
    ({"TRIALKIT_SMTP_HOST": "h", "TRIALKIT_SMTP_PORT": "smtp"}, "SMTP port 'smtp' (from environment) is not a number"),
    ({"TRIALKIT_SMTP_HOST": "h", "TRIALKIT_SMTP_USER": "u", "TRIALKIT_SMTP_PASSWORD": "pw",
      "TRIALKIT_SMTP_SECURITY": "none"}, "would send the password in clear text"),
    ({"TRIALKIT_SMTP_CONFIG": "/nonexistent/smtp.toml"}, "names /nonexistent/smtp.toml, which does not exist"),
])
def test_missing_or_unsafe_settings(home, env, fragment):
    assert fragment in error({"HOME": str(home), **env})


def test_password_from_the_environment_and_a_relay_without_login(home):
    settings = load_smtp_settings({"HOME": str(home), "TRIALKIT_SMTP_HOST": "h", "TRIALKIT_SMTP_USER": "u@x.org",
                                   "TRIALKIT_SMTP_PASSWORD": "pw"})
    assert settings.password.reveal() == "pw" and settings.port == 587
    relay = load_smtp_settings({"HOME": str(home), "TRIALKIT_SMTP_HOST": "localhost", "TRIALKIT_SMTP_SECURITY": "none",
                                "TRIALKIT_SMTP_FROM": "r@x.org"})
    assert (relay.port, relay.user, relay.password) == (25, None, None)


def test_secret_is_never_shown():
    secret = Secret("hunter2")
    assert "hunter2" not in f"{secret} {secret!r} {[secret]}"
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(secret)
