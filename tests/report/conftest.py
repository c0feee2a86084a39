"""A real SMTP server on 127.0.0.1 for the e-mail tests (aiosmtpd), and small run folders.

The server speaks STARTTLS with a throwaway CA and server certificate made here
(``cryptography``), requires TLS before login, checks one user and password, refuses
recipients whose address starts with ``nobody@`` (550) and, when asked, answers the next
DATA with a temporary 451. Every message it accepts is kept, as bytes, with its envelope.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import pytest

USER = "st561-reports"
PASSWORD = "Zq8-unique-SMTP-secret-41f7"  # searched for in every output and file
SENDER = "ST561-1 reports <st561-reports@hospital.example>"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class MailServer:
    host: str
    port: int
    messages: list[Received] = field(default_factory=list)
    fail_data: int = 0          # answer this many next DATA commands with 451
    logins: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> dict[str, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.timezone.utc)

    def name(text):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("trialkit test CA")).issuer_name(name("trialkit test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return paths


def _start(tls_files, *, mode: str):
    """mode: starttls (TLS required before login) | ssl (implicit TLS) | plain (no TLS offered)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    server = MailServer(host="127.0.0.1", port=_free_port())

    class Handler:
        async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
            if address.startswith("nobody@"):
                return "550 5.1.1 <%s>: no such user here" % address
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, smtp, session, envelope):
            if server.fail_data:
                server.fail_data -= 1
                return "451 4.3.0 Busy, try again later"
            server.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                            envelope.original_content or envelope.content))
            return "250 2.0.0 Queued"

    def authenticator(smtp, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode() if isinstance(auth_data.login, bytes) else auth_data.login
        password = auth_data.password.decode() if isinstance(auth_data.password, bytes) else auth_data.password
        server.logins.append(login)
        return AuthResult(success=login == USER and password == PASSWORD, handled=False)  # 535 when wrong

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files["cert"], tls_files["key"])
    options = {"authenticator": authenticator, "decode_data": False}
    if mode == "starttls":
        options |= {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
    elif mode == "ssl":
        options |= {"ssl_context": context, "auth_require_tls": False, "server_hostname": "localhost"}
    else:
        options |= {"auth_require_tls": False}
    controller = Controller(Handler(), hostname=server.host, port=server.port, **options)
    controller.start()
    return controller, server


def _serve(tls_files, mode: str):
    controller, server = _start(tls_files, mode=mode)
    yield server
    controller.stop()


@pytest.fixture(scope="module")
def _starttls_server(tls_files):
    yield from _serve(tls_files, "starttls")


@pytest.fixture
def smtp_server(_starttls_server) -> MailServer:
    """The STARTTLS server, emptied for each test."""
    _starttls_server.messages.clear()
    _starttls_server.logins.clear()
    _starttls_server.fail_data = 0
    return _starttls_server


@pytest.fixture
def ssl_server(tls_files):
    yield from _serve(tls_files, "ssl")


@pytest.fixture
def plain_server(tls_files):
    yield from _serve(tls_files, "plain")


@pytest.fixture
def password_file(tmp_path) -> Path:
    path = tmp_path / "secrets" / "smtp-password"
    path.parent.mkdir()
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture
def smtp_env(monkeypatch, tmp_path, smtp_server, tls_files, password_file) -> dict[str, str]:
    """TRIALKIT_SMTP_* for the STARTTLS server; HOME elsewhere so no config file is read."""
    home = tmp_path / "home"
    home.mkdir()
    for key in ("TRIALKIT_SMTP_PASSWORD", "TRIALKIT_SMTP_CONFIG", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(key, raising=False)
    env = {"HOME": str(home), "TRIALKIT_SMTP_HOST": smtp_server.host, "TRIALKIT_SMTP_PORT": str(smtp_server.port),
           "TRIALKIT_SMTP_SECURITY": "starttls", "TRIALKIT_SMTP_USER": USER,
           "TRIALKIT_SMTP_PASSWORD_FILE": str(password_file), "TRIALKIT_SMTP_FROM": SENDER,
           "TRIALKIT_SMTP_CAFILE": str(tls_files["ca"]), "TRIALKIT_SMTP_TIMEOUT": "10",
           "TRIALKIT_SMTP_RETRIES": "2", "TRIALKIT_SMTP_RETRY_DELAY": "0.01"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def make_run_folder(parent: Path, *, name: str = "demo_2026-10-31", reports=(("alpha", "ok", 3000), ("beta", "ok", 5000)),
                    email: dict | None = None, pack: bool = True) -> Path:
    """A finished run folder as ``trialkit run`` leaves it: report pages, pack, manifest.

    ``reports``: (name, status, HTML size in bytes) each; a failed report has no HTML.
    The pages are random-ish bytes-in-HTML so that zips and splits behave like real ones.
    """
    folder = parent / name
    folder.mkdir(parents=True)
    entries = []
    for report, status, size in reports:
        entry = {"report": report, "status": status, "title": f"{report.capitalize()} report",
                 "html": None, "ipynb": f"{report}.ipynb", "html_bytes": None, "error": None}
        if status == "ok":
            filler = hashlib.sha256(report.encode()).hexdigest()
            body = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{report}</title></head><body>"
                    f"<h1>{report} ✓</h1><p>")
            text = body + (filler * (size // len(filler) + 1))[: max(0, size - len(body.encode()) - 22)] + "</p></body></html>"
            (folder / f"{report}.html").write_text(text, encoding="utf-8")
            entry |= {"html": f"{report}.html", "html_bytes": (folder / f"{report}.html").stat().st_size}
        else:
            entry["error"] = {"stage": "execute", "cell": 4, "exception": "ValueError",
                              "message": "planted failure"}
        entries.append(entry)
    manifest = {"run_name": name, "params_file": str(parent / "study.yaml"),
                "params": {"study": "NCT07334483", "data_cutoff": "2026-10-31",
                           **({"email": email} if email else {})},
                "run_start": "2026-11-25T08:00:00+00:00", "run_end": "2026-11-25T08:01:00+00:00",
                "reports": entries, "status": "failed" if any(s != "ok" for _, s, _ in reports) else "ok"}
    if pack and any(s == "ok" for _, s, _ in reports):
        (folder / "pack.html").write_text("<!DOCTYPE html><html><body>pack of all</body></html>", encoding="utf-8")
        manifest["pack"] = {"html": "pack.html", "html_bytes": (folder / "pack.html").stat().st_size}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return folder


@pytest.fixture
def run_folder(tmp_path) -> Path:
    return make_run_folder(tmp_path / "outputs", email={"to": ["Jane Doe <jane.doe@hospital.example>"],
                                                       "cc": ["li.wei@hospital.example"]})
