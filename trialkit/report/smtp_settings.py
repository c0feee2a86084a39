"""SMTP settings of ``trialkit email``: from the environment or a config file outside the repo.

Never from a params file (those are committed and copied into every manifest), and the
password is never printed, logged or written: :class:`Secret` shows ``********``.

Environment (each overrides the config file):

=============================== ===========================================================
``TRIALKIT_SMTP_HOST``          mail server, e.g. ``smtp.hospital.example`` (required)
``TRIALKIT_SMTP_PORT``          default 587 (starttls), 465 (ssl), 25 (none)
``TRIALKIT_SMTP_SECURITY``      ``starttls`` (default) | ``ssl`` | ``none`` (a local relay;
                                refused with a user: a password never goes in clear)
``TRIALKIT_SMTP_USER``          login; absent: no authentication (a relay that trusts the host)
``TRIALKIT_SMTP_PASSWORD_FILE`` file holding the password, readable by its owner only (0600)
``TRIALKIT_SMTP_PASSWORD``      the password itself (the file is better: environments of
                                cron jobs end up in process listings and crash reports)
``TRIALKIT_SMTP_FROM``          sender, e.g. ``ST561-1 reports <reports@hospital.example>``;
                                default: the user when it is an address
``TRIALKIT_SMTP_CAFILE``        extra CA certificates to trust (a hospital's own CA)
``TRIALKIT_SMTP_TIMEOUT``       seconds per network operation (default 30)
``TRIALKIT_SMTP_RETRIES``       retries of a temporary failure (default 3), waiting
``TRIALKIT_SMTP_RETRY_DELAY``   seconds before the first retry (default 10), doubled each time
``TRIALKIT_SMTP_CONFIG``        the config file (default ``~/.config/trialkit/smtp.toml``)
=============================== ===========================================================

Config file (TOML; the same names in lower case, without the prefix; no ``password``)::

    [smtp]
    host = "smtp.hospital.example"
    port = 587
    security = "starttls"
    user = "st561-reports"
    password_file = "/etc/trialkit/smtp-password"     # chmod 600
    from = "ST561-1 reports <st561-reports@hospital.example>"

Example:
    >>> settings = load_smtp_settings({"TRIALKIT_SMTP_HOST": "mail.example.org",
    ...                                "HOME": "/nonexistent"})
    >>> settings.host, settings.port, settings.security
    ('mail.example.org', 587, 'starttls')
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trialkit.errors import TrialkitError

PREFIX = "TRIALKIT_SMTP_"
SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
KEYS = ("host", "port", "security", "user", "password_file", "from", "cafile", "timeout", "retries",
        "retry_delay")


class SmtpSettingsError(TrialkitError):
    """SMTP settings are missing or unsafe (no host, a password file others can read, ...)."""

    exit_code = 78  # EX_CONFIG (sysexits.h)


class Secret:
    """A password that does not show itself: ``str()``/``repr()`` are ``********``.

    Example:
        >>> print(Secret("hunter2"), repr(Secret("hunter2")))
        ******** Secret('********')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "********"

    def __repr__(self) -> str:
        return "Secret('********')"

    def __reduce__(self):  # never pickled (logged, cached) with the value
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send; ``password`` is a :class:`Secret` (None without a user)."""

    host: str
    port: int
    security: str
    user: str | None
    password: Secret | None = field(repr=False)
    sender: str | None
    cafile: str | None = None
    timeout: float = 30.0
    retries: int = 3
    retry_delay: float = 10.0
    source: str = "environment"

    def describe(self) -> str:
        """'smtp.example.org:587 (STARTTLS), user reports' — safe to print (no password)."""
        who = f", user {self.user}" if self.user else ", no login"
        return f"{self.host}:{self.port} ({self.security.upper() if self.security != 'none' else 'no TLS'}{who})"


def default_config_file(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "trialkit" / "smtp.toml"


def load_smtp_settings(env: Mapping[str, str] | None = None) -> SmtpSettings:
    """The settings from ``env`` (default ``os.environ``) over the config file.

    Raises:
        SmtpSettingsError: no host, a bad value, a config or password file inside a git
            checkout or readable by others; the message names the variable or file and the fix.
    """
    env = os.environ if env is None else env
    config_path = Path(env[PREFIX + "CONFIG"]).expanduser() if env.get(PREFIX + "CONFIG") else default_config_file(env)
    values: dict[str, object] = {}
    source = "environment"
    if config_path.is_file():
        values = read_config_file(config_path)
        source = str(config_path)
    elif env.get(PREFIX + "CONFIG"):
        raise SmtpSettingsError(f"trialkit: {PREFIX}CONFIG names {config_path}, which does not exist.")
    overridden = [key for key in KEYS if env.get(PREFIX + key.upper())]
    for key in overridden:
        values[key] = env[PREFIX + key.upper()]
    if overridden and source != "environment":
        source = f"{source} and the environment"
    where = f"(from {source})"
    host = str(values.get("host") or "").strip()
    if not host:
        raise SmtpSettingsError(
            f"trialkit: no SMTP server set: set {PREFIX}HOST (and {PREFIX}USER, {PREFIX}PASSWORD_FILE, "
            f"{PREFIX}FROM), or write them to {default_config_file(env)} (README: Sending reports).")
    security = str(values.get("security") or "starttls").strip().lower()
    if security not in SECURITY:
        raise SmtpSettingsError(f"trialkit: SMTP security {security!r} {where} is not one of "
                                f"{' | '.join(SECURITY)}.")
    port = _number(values.get("port", DEFAULT_PORTS[security]), "port", where, int)
    user = str(values.get("user") or "").strip() or None
    password = read_password(env, values, where) if user else None
    if user and security == "none":
        raise SmtpSettingsError(f"trialkit: SMTP user {user!r} with security 'none' {where} would send the "
                                "password in clear text; use starttls or ssl.")
    sender = str(values.get("from") or "").strip() or (user if user and "@" in user else None)
    cafile = str(values.get("cafile") or "").strip() or None
    if cafile and not Path(cafile).expanduser().is_file():
        raise SmtpSettingsError(f"trialkit: SMTP cafile {cafile} {where} does not exist.")
    return SmtpSettings(
        host=host, port=port, security=security, user=user, password=password, sender=sender,
        cafile=str(Path(cafile).expanduser()) if cafile else None,
        timeout=_number(values.get("timeout", 30), "timeout", where, float),
        retries=_number(values.get("retries", 3), "retries", where, int),
        retry_delay=_number(values.get("retry_delay", 10), "retry_delay", where, float),
        source=source)


def read_config_file(path: Path) -> dict[str, object]:
    """The ``[smtp]`` table of a TOML config file, checked (outside git, no password, known keys)."""
    check_outside_checkout(path, "the SMTP config file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SmtpSettingsError(f"trialkit: SMTP config file {path} cannot be read: {exc}") from None
    table = data.get("smtp", data)
    if not isinstance(table, dict):
        raise SmtpSettingsError(f"trialkit: SMTP config file {path}: expected an [smtp] table.")
    if "password" in table:
        raise SmtpSettingsError(f"trialkit: SMTP config file {path} holds a password; remove it and put it in "
                                f"a file only you can read (chmod 600), named by password_file, or in "
                                f"{PREFIX}PASSWORD.")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise SmtpSettingsError(f"trialkit: SMTP config file {path}: unknown key(s) {', '.join(unknown)}; "
                                f"known: {', '.join(KEYS)}.")
    return dict(table)


def read_password(env: Mapping[str, str], values: Mapping[str, object], where: str) -> Secret:
    """The password from the password file (owner-only) or ``TRIALKIT_SMTP_PASSWORD``."""
    file = values.get("password_file")
    if file:
        path = Path(str(file)).expanduser()
        check_outside_checkout(path, "the SMTP password file")
        try:
            info = path.stat()
        except OSError:
            raise SmtpSettingsError(f"trialkit: SMTP password file {path} {where} does not exist.") from None
        if not stat.S_ISREG(info.st_mode):
            raise SmtpSettingsError(f"trialkit: SMTP password file {path} is not a regular file.")
        if info.st_mode & 0o077:
            raise SmtpSettingsError(f"trialkit: SMTP password file {path} can be read by others "
                                    f"(mode {stat.S_IMODE(info.st_mode):o}); run: chmod 600 {path}")
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            raise SmtpSettingsError(f"trialkit: SMTP password file {path} belongs to another user "
                                    f"(uid {info.st_uid}); it must belong to the user that sends.")
        try:
            secret = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise SmtpSettingsError(f"trialkit: SMTP password file {path} cannot be read: "
                                    f"{type(exc).__name__}.") from None
    elif env.get(PREFIX + "PASSWORD"):
        secret = env[PREFIX + "PASSWORD"]
    else:
        raise SmtpSettingsError(f"trialkit: SMTP user is set {where} but no password: set {PREFIX}PASSWORD_FILE "
                                f"to a file only you can read (chmod 600), or {PREFIX}PASSWORD.")
    if not secret:
        raise SmtpSettingsError(f"trialkit: the SMTP password {where} is empty.")
    return Secret(secret)


def check_outside_checkout(path: Path, what: str) -> None:
    """Refuse a settings file inside a git checkout, where it could be committed."""
    folder = path.expanduser().resolve().parent
    for parent in (folder, *folder.parents):
        if (parent / ".git").exists():
            raise SmtpSettingsError(f"trialkit: {what} {path} is inside the git checkout {parent}, where it "
                                    "could be committed; move it out, e.g. to ~/.config/trialkit/.")


def _number(value: object, name: str, where: str, kind: type) -> int | float:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise SmtpSettingsError(f"trialkit: SMTP {name} {value!r} {where} is not a number.") from None
    if number < 0:
        raise SmtpSettingsError(f"trialkit: SMTP {name} {value!r} {where} must not be negative.")
    return number
