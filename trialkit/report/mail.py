"""``trialkit email RUN_DIR``: a finished run's reports to the investigators, once.

Steps, each a short function: **check** the run (every report ran, its files are the ones
the manifest describes, it was not sent before), **plan** the attachments (the reports, or
``pack.html``, or either zipped) and split them into messages of at most ``max_mb``,
**build** each message (multipart/alternative plain + HTML body and the attachments),
**send** it (retrying temporary failures with backoff) and **record** it in
``RUN_DIR/email.json`` (Message-ID, recipients, time), which stops a second send without
``force``.

Exit codes (what cron or systemd can act on; also in the README)::

    0   sent (or --dry-run written, --check passed)
    2   bad option or params: no recipient, a malformed address
    65  the run has a failed report (--allow-failed sends the others), or its files changed
    66  RUN_DIR is not a finished run folder (no manifest.json)
    67  the server refused a recipient
    69  the server refused the message for good (e.g. too large for it)
    73  the send cannot be recorded in RUN_DIR (or --dry-run cannot write its file)
    75  temporary failure that outlasted the retries (server down, busy, timed out): retry later
    76  TLS failed: no STARTTLS offered, handshake or certificate error
    77  authentication failed (user or password refused)
    78  SMTP settings missing or unsafe, or the server refused the sender
    79  already sent (see RUN_DIR/email.json); --force sends again
    80  one attachment alone is larger than --max-mb

Example:
    >>> main_email("outputs/demo_2026-10-31", dry_run="/tmp/demo.eml")   # doctest: +SKIP
    0
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.policy
import email.utils
import hashlib
import html
import io
import json
import smtplib
import socket
import ssl
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from trialkit.errors import ParamsError, TrialkitError
from trialkit.report.params import check_address, check_email_value, check_subject
from trialkit.report.run_folder import (RunNotSendable, failed_reports, ok_reports, read_manifest,
                                        read_study_info, report_entries, report_label)
from trialkit.report.smtp_settings import SmtpSettings, SmtpSettingsError, load_smtp_settings

RECORD = "email.json"
LOCK = ".email.lock"
DEFAULT_MAX_MB = 10.0  # many hospital gateways cap a message at 10-20 MB
MB = 1_000_000
DEFAULT_SUBJECT = "{study}: reports, data cutoff {cutoff}"
HTML_MIME = ("text", "html")
ZIP_MIME = ("application", "zip")


# ---------------------------------------------------------------------------------------
# errors: one class per exit code
# ---------------------------------------------------------------------------------------

class MailError(TrialkitError):
    """A send that did not happen (or not wholly); ``exit_code`` says why, for cron."""

    exit_code = 69  # EX_UNAVAILABLE: the server refused the message for good
    transient = False


class RecipientRefused(MailError):
    exit_code = 67  # EX_NOUSER


class CannotRecord(MailError):
    exit_code = 73  # EX_CANTCREAT


class TemporaryFailure(MailError):
    exit_code = 75  # EX_TEMPFAIL
    transient = True


class TlsFailed(MailError):
    exit_code = 76  # EX_PROTOCOL


class AuthFailed(MailError):
    exit_code = 77  # EX_NOPERM


class SenderRefused(MailError):
    exit_code = 78  # EX_CONFIG: the sender address of the settings


class AlreadySent(MailError):
    exit_code = 79


class TooLarge(MailError):
    exit_code = 80


# ---------------------------------------------------------------------------------------
# what to send
# ---------------------------------------------------------------------------------------

@dataclass
class MailOptions:
    """How one run is sent; defaults are the params file's ``email`` values, then these."""

    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    subject: str | None = None
    zip: bool = False
    pack: bool = False
    max_mb: float = DEFAULT_MAX_MB
    allow_failed: bool = False
    force: bool = False


@dataclass
class Attachment:
    name: str
    data: bytes
    mime: tuple[str, str]
    files: list[str]  # the run's files inside it (itself, or those zipped)


def resolve_options(manifest: Mapping[str, Any], *, to: Sequence[str] | None = None,
                    cc: Sequence[str] | None = None, subject: str | None = None, zip: bool | None = None,
                    pack: bool | None = None, max_mb: float | None = None, allow_failed: bool = False,
                    force: bool = False) -> MailOptions:
    """Options from the command line over the params file's ``email`` key (as in the manifest).

    ``--to``/``--cc`` replace the params' recipients entirely (a test send to yourself does
    not copy the study team).

    Raises:
        ParamsError: no recipient, or a malformed address or subject (exit 2).
    """
    params = manifest.get("params") if isinstance(manifest.get("params"), Mapping) else {}
    configured = params.get("email") if isinstance(params.get("email"), Mapping) else {}
    if configured:
        problem = check_email_value(dict(configured))
        if problem:
            raise ParamsError(f"trialkit: the run's params ({manifest.get('params_file')}), key 'email': {problem}")
    if to or cc:
        recipients_to, recipients_cc = _split(to), _split(cc)
        where = "--to/--cc"
    else:
        recipients_to, recipients_cc = _as_list(configured.get("to")), _as_list(configured.get("cc"))
        where = f"the params file's email key ({manifest.get('params_file')})"
    if not recipients_to:
        raise ParamsError(f"trialkit: no recipient: give --to ADDRESS, or add to {manifest.get('params_file') or 'the params file'}:\n"
                          "  email:\n    to: [jane.doe@hospital.example]")
    for address in recipients_to + recipients_cc:
        problem = check_address(address)
        if problem:
            raise ParamsError(f"trialkit: {where}: {problem}")
    subject = subject if subject is not None else configured.get("subject")
    if subject is not None:
        problem = check_subject(subject)
        if problem:
            raise ParamsError(f"trialkit: subject: {problem}")
    max_mb = max_mb if max_mb is not None else configured.get("max_mb", DEFAULT_MAX_MB)
    if max_mb <= 0:
        raise ParamsError(f"trialkit: --max-mb must be above 0, got {max_mb}.")
    return MailOptions(to=recipients_to, cc=recipients_cc, subject=subject,
                       zip=bool(configured.get("zip", False)) if zip is None else zip,
                       pack=bool(configured.get("pack", False)) if pack is None else pack,
                       max_mb=float(max_mb), allow_failed=allow_failed, force=force)


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def _split(values: Sequence[str] | None) -> list[str]:
    """``--to a@x --to "b@y, c@z"`` -> three addresses (commas inside a display name kept)."""
    found = []
    for value in values or []:
        found += [email.utils.formataddr(pair) if pair[0] else pair[1]
                  for pair in email.utils.getaddresses([value]) if pair[1]]
    return found


def check_sendable(run_dir: Path, manifest: Mapping[str, Any], options: MailOptions) -> None:
    """Refuse a run with a failed report (unless ``allow_failed``) or files that changed.

    Raises:
        RunNotSendable: which report failed and why, or which file differs (exit 65).
    """
    failed = failed_reports(manifest)
    run = manifest.get("run_name") or run_dir.name
    if failed and not options.allow_failed:
        from trialkit.report.index import describe_error

        lines = "\n".join(f"  {r['report']}: {describe_error(r.get('error'))}" for r in failed)
        raise RunNotSendable(f"trialkit: run {run} has {len(failed)} failed report(s); nothing was sent:\n{lines}\n"
                             "  Fix and run again, or send the reports that ran with --allow-failed "
                             "(the message then names the failed ones).")
    if not ok_reports(manifest):
        raise RunNotSendable(f"trialkit: run {run} has no report that ran to the end; nothing to send.")
    expected = [(r["html"], r.get("html_bytes")) for r in ok_reports(manifest)]
    if options.pack:
        pack = manifest.get("pack") or {}
        if not pack.get("html"):
            raise RunNotSendable(f"trialkit: run {run} has no pack.html ({pack.get('error') or 'made by trialkit run since the pack was added'}); "
                                 "send the reports without --pack, or run again.")
        expected = [(pack["html"], pack.get("html_bytes"))]
    for name, size in expected:
        path = run_dir / name
        if not path.is_file():
            raise RunNotSendable(f"trialkit: {path} is missing although the manifest lists it; run the reports again.")
        if size is not None and path.stat().st_size != size:
            raise RunNotSendable(f"trialkit: {path} is {path.stat().st_size:,} bytes but the run wrote "
                                 f"{size:,}: it changed after the run; run the reports again.")


def plan_attachments(run_dir: Path, manifest: Mapping[str, Any], options: MailOptions) -> list[Attachment]:
    """The files to attach, in run order: each report's HTML, or ``pack.html`` (``pack``)."""
    names = [(manifest.get("pack") or {})["html"]] if options.pack else [r["html"] for r in ok_reports(manifest)]
    return [Attachment(name=name, data=(run_dir / name).read_bytes(), mime=HTML_MIME, files=[name]) for name in names]


def zip_attachments(attachments: Sequence[Attachment], name: str, when: str | None) -> Attachment:
    """The attachments in one zip (deflated; time stamps from the run, so it is reproducible)."""
    stamp = dt.datetime.fromisoformat(when).timetuple()[:6] if when else (1980, 1, 1, 0, 0, 0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for item in attachments:
            info = zipfile.ZipInfo(item.name, date_time=stamp)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, item.data)
    return Attachment(name=name, data=buffer.getvalue(), mime=ZIP_MIME,
                      files=[f for item in attachments for f in item.files])


# ---------------------------------------------------------------------------------------
# the message
# ---------------------------------------------------------------------------------------

@dataclass
class Envelope:
    """Everything about the messages of one send but their attachments."""

    run_dir: Path
    manifest: Mapping[str, Any]
    options: MailOptions
    sender: str


def build_messages(envelope: Envelope, attachments: Sequence[Attachment]) -> list[EmailMessage]:
    """The messages of one send: as few as ``max_mb`` allows, attachments in run order.

    Raises:
        TooLarge: one attachment alone makes a message over ``max_mb`` (exit 80).
    """
    options = envelope.options
    limit = int(options.max_mb * MB)
    run = str(envelope.manifest.get("run_name") or envelope.run_dir.name)

    def bundle(items: Sequence[Attachment], part: int) -> list[Attachment]:
        if not options.zip:
            return list(items)
        return [zip_attachments(items, f"{run}.zip" if part == 0 else f"{run}-part{part}.zip",
                                envelope.manifest.get("run_start"))]

    def size(items: Sequence[Attachment]) -> int:  # "part 10 of 10" in the longest subject
        return len(render_message(envelope, bundle(items, 10), part=10, parts=10).as_bytes())

    groups: list[list[Attachment]] = []
    for item in attachments:
        if groups and size(groups[-1] + [item]) <= limit:
            groups[-1].append(item)
            continue
        alone = size([item])
        if alone > limit:
            raise TooLarge(f"trialkit: {item.name} alone makes a {alone / MB:.1f} MB message, over --max-mb "
                           f"{options.max_mb:g}; nothing was sent. "
                           + ("Raise --max-mb if the recipients' mail servers take it."
                              if options.zip else "Try --zip (about a third of the size), or raise --max-mb "
                              "if the recipients' mail servers take it."))
        groups.append([item])
    parts = len(groups)
    return [render_message(envelope, bundle(group, i + 1 if parts > 1 else 0), part=i + 1, parts=parts)
            for i, group in enumerate(groups)]


def render_message(envelope: Envelope, attachments: Sequence[Attachment], *, part: int = 1,
                   parts: int = 1) -> EmailMessage:
    """One message: headers, the plain and HTML body (multipart/alternative), the attachments."""
    manifest, options = envelope.manifest, envelope.options
    study = read_study_info(manifest)
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = envelope.sender
    message["To"] = ", ".join(options.to)
    if options.cc:
        message["Cc"] = ", ".join(options.cc)
    message["Subject"] = subject_line(manifest, options, part=part, parts=parts)
    message["Date"] = email.utils.format_datetime(dt.datetime.now(dt.timezone.utc))
    domain = envelope.sender.rpartition("@")[2].strip(">").strip() or "trialkit.invalid"
    message["Message-ID"] = email.utils.make_msgid(idstring=f"trialkit.{manifest.get('run_name', 'run')}",
                                                   domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to a robot
    message["X-Trialkit-Run"] = str(manifest.get("run_name") or envelope.run_dir.name)
    plain, rich = body_texts(manifest, study, attachments, part=part, parts=parts)
    message.set_content(plain, subtype="plain", charset="utf-8")
    message.add_alternative(rich, subtype="html", charset="utf-8")
    for item in attachments:
        # the pages are UTF-8 (they say so in <meta charset> too, for a client that ignores this)
        params = {"charset": "utf-8"} if item.mime[0] == "text" else None
        message.add_attachment(item.data, maintype=item.mime[0], subtype=item.mime[1], filename=item.name,
                               params=params)
    return message


def subject_line(manifest: Mapping[str, Any], options: MailOptions, *, part: int, parts: int) -> str:
    """The params' subject (fields filled in) or the default; failures and parts said at the end."""
    study = read_study_info(manifest)
    cutoff = (manifest.get("params") or {}).get("data_cutoff") or "none"
    text = (options.subject or DEFAULT_SUBJECT).format(study=study["id"], cutoff=cutoff,
                                                       run_name=manifest.get("run_name", ""))
    failed = len(failed_reports(manifest))
    if failed:
        text += f" ({failed} report{'s' if failed > 1 else ''} FAILED)"
    if parts > 1:
        text += f" [part {part} of {parts}]"
    return text


def body_texts(manifest: Mapping[str, Any], study: Mapping[str, Any], attachments: Sequence[Attachment], *,
               part: int, parts: int) -> tuple[str, str]:
    """The plain and the HTML body: study, cutoff, run time, every report with status and size.

    The HTML body uses inline styles only (mail clients drop ``<style>``) and no image or
    external URL.
    """
    from trialkit.report.index import describe_error, format_run_time, format_size

    params = manifest.get("params") or {}
    cutoff = params.get("data_cutoff") or "not set (all records)"
    run_time = format_run_time(manifest.get("run_start"))
    here = {f for item in attachments for f in item.files}
    zipped = {f: item.name for item in attachments if item.mime == ZIP_MIME for f in item.files}
    rows = []
    for report in report_entries(manifest):
        name = str(report.get("html") or f"{report['report']}.html")
        if report.get("status") != "ok":
            status, where = f"FAILED: {describe_error(report.get('error'))}", "not attached"
        else:
            status = "ok"
            where = (f"in {zipped[name]}" if name in zipped else "attached") if name in here else \
                ("in pack.html" if "pack.html" in here else "in another part of this e-mail")
        rows.append((report_label(report), name, status, format_size(report.get("html_bytes")), where))
    pack = manifest.get("pack") or {}
    if "pack.html" in here:
        rows.append(("All reports in one page", "pack.html", "ok", format_size(pack.get("html_bytes")),
                     f"in {zipped['pack.html']}" if "pack.html" in zipped else "attached"))
    title = f" — {study['title']}" if study.get("title") else ""
    part_note = f"This is part {part} of {parts} of this run's e-mail." if parts > 1 else ""
    how = ("Unzip the attached file and open the reports in a web browser." if zipped else
           "Open the attached files in a web browser.")
    how += (" They work offline; charts are interactive when JavaScript is allowed and static images "
            "otherwise.")
    facts = [("Study", f"{study['id']}{title}"), ("Run", str(manifest.get("run_name", ""))),
             ("Data cutoff", str(cutoff)), ("Run time", run_time)]
    plain = "\n".join(
        [study["confidentiality"], "", *(f"{k}: {v}" for k, v in facts), "", "Reports:"]
        + [f"  - {t} ({n}): {s}, {z}, {w}" for t, n, s, z, w in rows]
        + ["", *( [part_note, ""] if part_note else []), how, "", study["confidentiality"],
           "Sent by trialkit; replies are not read by a person unless the sender says so.", ""])
    e = html.escape
    cell = 'style="padding:4px 14px 4px 0;border-bottom:1px solid #d9e2ec;text-align:left;vertical-align:top"'
    table_rows = "".join(
        f"<tr><td {cell}>{e(t)}</td><td {cell}>{e(n)}</td>"
        f'<td {cell}><span style="color:{"#1b5e20" if s == "ok" else "#9b1c1c"};font-weight:600">{e(s)}</span></td>'
        f"<td {cell}>{e(z)}</td><td {cell}>{e(w)}</td></tr>" for t, n, s, z, w in rows)
    confidential = (f'<p style="background:#fff4e5;color:#7a3e00;padding:6px 10px;font-weight:600;'
                    f'display:inline-block">{e(study["confidentiality"])}</p>')
    rich = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>'
        f"{e(study['id'])} reports</title></head>"
        '<body style="font-family:Helvetica,Arial,sans-serif;color:#1f2933;font-size:14px;line-height:1.5">'
        f"{confidential}"
        '<table style="border-collapse:collapse;margin:8px 0">'
        + "".join(f'<tr><th style="text-align:left;padding:2px 14px 2px 0;color:#52606d">{e(k)}</th>'
                  f"<td>{e(v)}</td></tr>" for k, v in facts)
        + "</table>"
        '<table style="border-collapse:collapse;margin:8px 0 14px"><thead><tr>'
        + "".join(f'<th {cell}>{h}</th>' for h in ("Report", "File", "Status", "Size", ""))
        + f"</tr></thead><tbody>{table_rows}</tbody></table>"
        + (f"<p><strong>{e(part_note)}</strong></p>" if part_note else "")
        + f"<p>{e(how)}</p>{confidential}"
        '<p style="color:#52606d;font-size:12px">Sent by trialkit.</p></body></html>')
    return plain, rich


# ---------------------------------------------------------------------------------------
# sending
# ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def smtp_session(settings: SmtpSettings) -> Iterator[smtplib.SMTP]:
    """A connected, encrypted (per the settings) and logged-in SMTP session; quits at the end."""
    context = ssl.create_default_context(cafile=settings.cafile)
    if settings.security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                              context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    try:
        smtp.ehlo()
        if settings.security == "starttls":
            if not smtp.has_extn("starttls"):
                raise TlsFailed(f"trialkit: {settings.host}:{settings.port} does not offer STARTTLS; nothing "
                                "was sent. Use the server's STARTTLS port (usually 587), or "
                                "TRIALKIT_SMTP_SECURITY=ssl for its SSL port (usually 465).")
            smtp.starttls(context=context)
            smtp.ehlo()
        if settings.user:
            if not smtp.has_extn("auth"):
                raise AuthFailed(f"trialkit: {settings.host}:{settings.port} offers no login (SMTP AUTH) "
                                 f"{'after STARTTLS' if settings.security == 'starttls' else ''}; unset "
                                 "TRIALKIT_SMTP_USER if it relays without one.")
            smtp.login(settings.user, settings.password.reveal() if settings.password else "")
        yield smtp
    finally:
        with contextlib.suppress(Exception):
            smtp.quit()
        with contextlib.suppress(Exception):
            smtp.close()


def classify(exc: BaseException, settings: SmtpSettings) -> MailError:
    """The :class:`MailError` (and so the exit code) of an exception raised while sending."""
    if isinstance(exc, MailError):
        return exc
    server = f"{settings.host}:{settings.port}"
    reply = _reply(exc)
    code = getattr(exc, "smtp_code", None)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        refused = "; ".join(f"{a} ({c} {_text(m)})" for a, (c, m) in exc.recipients.items())
        if codes and all(400 <= c < 500 for c in codes):
            return TemporaryFailure(f"trialkit: {server} refused the recipients for now: {refused}")
        return RecipientRefused(f"trialkit: {server} refused every recipient; nothing was sent: {refused}. "
                                "Check the addresses (params email.to/cc or --to/--cc).")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        if code and 400 <= code < 500:
            return TemporaryFailure(f"trialkit: {server} could not check the login for now: {reply}")
        return AuthFailed(f"trialkit: {server} refused the login of user {settings.user!r}: {reply}. Check "
                          "TRIALKIT_SMTP_USER and the password (file); test with: trialkit email --check")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        if 400 <= exc.smtp_code < 500:
            return TemporaryFailure(f"trialkit: {server} refused the sender for now: {reply}")
        return SenderRefused(f"trialkit: {server} refused the sender {exc.sender!r}: {reply}. Set "
                             "TRIALKIT_SMTP_FROM to an address this login may send from.")
    if isinstance(exc, smtplib.SMTPResponseException):
        if 400 <= exc.smtp_code < 500:
            return TemporaryFailure(f"trialkit: {server} answered {reply} (temporary)")
        hint = " The message is too large for the server: try --zip or a smaller --max-mb." \
            if exc.smtp_code == 552 else ""
        return MailError(f"trialkit: {server} refused the message: {reply}.{hint}")
    if isinstance(exc, ssl.SSLError):  # before OSError: an SSLError is one
        return TlsFailed(f"trialkit: TLS with {server} failed ({_text(getattr(exc, 'reason', None) or exc)}); "
                         "nothing was sent. A certificate the system does not trust needs "
                         "TRIALKIT_SMTP_CAFILE; an SSL port (465) needs TRIALKIT_SMTP_SECURITY=ssl, a "
                         "STARTTLS port (587) starttls.")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return MailError(f"trialkit: {server}: {exc}")
    if isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, TimeoutError, socket.timeout,
                        ConnectionError, socket.gaierror, OSError)):
        return TemporaryFailure(f"trialkit: cannot reach {server}: {_text(exc) or type(exc).__name__}")
    return MailError(f"trialkit: sending through {server} failed: {type(exc).__name__}: {_text(exc)}")


def _reply(exc: BaseException) -> str:
    code, text = getattr(exc, "smtp_code", None), getattr(exc, "smtp_error", None)
    return f"{code} {_text(text)}".strip() if code else _text(exc)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value or "").split())


def deliver(message: EmailMessage, settings: SmtpSettings, *, log: Callable[[str], None],
            sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Send one message, retrying temporary failures ``settings.retries`` times with backoff.

    Returns:
        The recipients the server refused while accepting the others (usually empty).

    Raises:
        MailError: the subclass whose exit code says what went wrong.
    """
    recipients = [a for _, a in email.utils.getaddresses(message.get_all("To", []) + message.get_all("Cc", []))]
    sender = email.utils.parseaddr(str(message["From"]))[1]
    for attempt in range(settings.retries + 1):
        try:
            with smtp_session(settings) as smtp:
                return smtp.send_message(message, from_addr=sender, to_addrs=recipients)
        except Exception as exc:  # noqa: BLE001 - every failure is classified (and so has an exit code)
            error = classify(exc, settings)
            if not error.transient or attempt == settings.retries:
                if error.transient and settings.retries:
                    error = TemporaryFailure(f"{error} (gave up after {settings.retries + 1} attempts; "
                                             "nothing more was sent: run the same command again later)")
                raise error from None
            delay = settings.retry_delay * 2 ** attempt
            log(f"{str(error).removeprefix('trialkit: ')}; attempt {attempt + 1} of {settings.retries + 1}, "
                f"retrying in {delay:g} s")
            sleep(delay)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------
# the record
# ---------------------------------------------------------------------------------------

def read_record(run_dir: Path) -> dict[str, Any]:
    """``RUN_DIR/email.json``: every send of this run (empty when never sent)."""
    path = run_dir / RECORD
    if not path.exists():
        return {"sends": []}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(record.get("sends"), list)
    except (OSError, ValueError, AssertionError, AttributeError):
        raise AlreadySent(f"trialkit: {path} is unreadable, so this run may have been sent already; "
                          "look at it, then send with --force.") from None
    return record


def write_record(run_dir: Path, record: Mapping[str, Any]) -> None:
    from trialkit.report.files import write_text

    try:
        write_text(json.dumps(record, indent=2) + "\n", run_dir / RECORD)
    except OSError as exc:
        raise CannotRecord(f"trialkit: cannot write {run_dir / RECORD} ({exc.strerror}); the send could not "
                           "be recorded, so a second send would not be stopped.") from None


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """One send of a run at a time (cron and a person at once)."""
    import fcntl

    try:
        handle = open(run_dir / LOCK, "a")  # noqa: SIM115 - held for the whole send
    except OSError as exc:
        raise CannotRecord(f"trialkit: cannot write in {run_dir} ({exc.strerror}); a send must be recorded "
                           "there. Run as the user that owns the run folder.") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise TemporaryFailure(f"trialkit: another trialkit email is sending {run_dir} right now.") from None
        yield


def check_not_sent(record: Mapping[str, Any], run_dir: Path, options: MailOptions) -> None:
    sends = record.get("sends") or []
    if sends and not options.force:
        last = sends[-1]
        parts = f"{len(last.get('message_ids', []))} of {last.get('parts', '?')} message(s)"
        raise AlreadySent(f"trialkit: run {run_dir.name} was already e-mailed at {last.get('sent_at')} to "
                          f"{', '.join(last.get('to', []) + last.get('cc', []))} ({parts}; {run_dir / RECORD}). "
                          "Nothing was sent; --force sends it again.")


def attachment_facts(attachments: Sequence[Attachment]) -> list[dict[str, Any]]:
    return [{"name": a.name, "bytes": len(a.data), "sha256": hashlib.sha256(a.data).hexdigest(), "files": a.files}
            for a in attachments]


# ---------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------

def send_run(run_dir: str | Path, options_from: Mapping[str, Any] | None = None, *,
             dry_run: str | Path | None = None, env: Mapping[str, str] | None = None,
             log: Callable[[str], None] | None = None, sleep: Callable[[float], None] = time.sleep) -> str:
    """Check, plan, build and send (or write) one run's messages; returns what was done.

    Args:
        run_dir: a finished run folder.
        options_from: keyword arguments of :func:`resolve_options` (to, cc, zip, ...).
        dry_run: write the message(s) to this ``.eml`` file instead of sending.
        env: the environment for the SMTP settings (default ``os.environ``).
        log: where progress lines go (default: stderr).

    Raises:
        TrialkitError: a subclass per exit code (see the module docstring).
    """
    log = log or _log
    folder = Path(run_dir)
    manifest = read_manifest(folder)
    options = resolve_options(manifest, **dict(options_from or {}))
    check_sendable(folder, manifest, options)
    settings: SmtpSettings | None = None
    try:
        settings = load_smtp_settings(env)
    except SmtpSettingsError:
        if not dry_run:
            raise
    sender = settings.sender if settings else None
    if not sender:
        if not dry_run:
            raise SmtpSettingsError("trialkit: no sender address: set TRIALKIT_SMTP_FROM (e.g. "
                                    "'ST561-1 reports <reports@hospital.example>') or a user that is an address.")
        sender = "trialkit <trialkit@localhost>"
        log("no SMTP settings (or no sender): the .eml says From: trialkit@localhost")
    envelope = Envelope(run_dir=folder, manifest=manifest, options=options, sender=sender)
    messages = build_messages(envelope, plan_attachments(folder, manifest, options))
    if dry_run:
        return write_eml(messages, Path(dry_run))
    assert settings is not None
    with locked(folder):
        record = read_record(folder)
        check_not_sent(record, folder, options)
        entry = {"sent_at": None, "to": options.to, "cc": options.cc, "message_ids": [], "parts": len(messages),
                 "subjects": [str(m["Subject"]) for m in messages], "smtp": f"{settings.host}:{settings.port}",
                 "forced": bool(record["sends"]) and options.force, "allow_failed": options.allow_failed,
                 "failed_reports": [r["report"] for r in failed_reports(manifest)],
                 "attachments": [], "refused": {}, "run_start": manifest.get("run_start")}
        record["sends"].append(entry)
        for number, message in enumerate(messages, start=1):
            refused = deliver(message, settings, log=log, sleep=sleep)
            entry["message_ids"].append(str(message["Message-ID"]))
            entry["sent_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            entry["attachments"] += [{**fact, "part": number} for fact in attachment_facts(_attachments_of(message))]
            entry["refused"].update({a: f"{c} {_text(m)}" for a, (c, m) in refused.items()})
            write_record(folder, record)  # after every part: a crash never loses a sent message
        if entry["refused"]:
            refused_text = "; ".join(f"{a} ({why})" for a, why in entry["refused"].items())
            raise RecipientRefused(f"trialkit: sent, but {settings.host} refused {refused_text}; the others got "
                                   f"it (recorded in {folder / RECORD}).")
    size = sum(len(m.as_bytes()) for m in messages)
    return (f"e-mailed {manifest.get('run_name', folder.name)} to {', '.join(options.to + options.cc)}: "
            f"{len(messages)} message(s), {size / MB:.1f} MB, Message-ID {', '.join(entry['message_ids'])}; "
            f"recorded in {folder / RECORD}")


def _attachments_of(message: EmailMessage) -> list[Attachment]:
    return [Attachment(name=part.get_filename() or "", data=part.get_payload(decode=True) or b"",
                       mime=(part.get_content_maintype(), part.get_content_subtype()), files=[])
            for part in message.iter_attachments()]


def write_eml(messages: Sequence[EmailMessage], target: Path) -> str:
    """Write the message(s): ``OUT.eml``, or ``OUT-part1.eml``... when split."""
    from trialkit.report.files import write_bytes

    paths = [target] if len(messages) == 1 else \
        [target.with_name(f"{target.stem}-part{i}{target.suffix or '.eml'}") for i in range(1, len(messages) + 1)]
    try:
        for message, path in zip(messages, paths):
            write_bytes(message.as_bytes(), path)
    except OSError as exc:
        raise CannotRecord(f"trialkit: cannot write {target} ({exc.strerror}).") from None
    return f"wrote {', '.join(map(str, paths))} (not sent; open it in a mail client to check it)"


def check_settings(env: Mapping[str, str] | None = None) -> str:
    """``--check``: connect, encrypt and log in with the settings; send nothing."""
    settings = load_smtp_settings(env)
    try:
        with smtp_session(settings) as smtp:
            smtp.noop()
    except Exception as exc:  # noqa: BLE001 - classified: one message and exit code each
        raise classify(exc, settings) from None
    note = "" if settings.sender else " Set TRIALKIT_SMTP_FROM too: there is no sender address."
    return (f"SMTP settings work: {settings.describe()}, from {settings.sender or '(no sender)'}; "
            f"settings from {settings.source}; nothing was sent.{note}")


def main_email(run_dir: str | Path | None, *, check: bool = False, dry_run: str | Path | None = None,
               **options: Any) -> int:
    """``trialkit email``: print what was done; errors are raised (the CLI prints them)."""
    if check:
        print(f"trialkit: {check_settings()}")
        if run_dir is None:
            return 0
    if run_dir is None:
        raise ParamsError("trialkit: give the run folder to send, e.g. trialkit email outputs/demo_2026-10-31 "
                          "(or --check to test the mail settings).")
    print(f"trialkit: {send_run(run_dir, options, dry_run=dry_run)}")
    return 0


def email_runs(folders: Sequence[Any]) -> int:
    """``trialkit run --email``: send each run folder whose reports all ran; the first error code.

    A run with a failed report is not sent (the run itself exits 1 and says why).
    """
    code = 0
    for run in folders:
        if run.failed:
            _log(f"not e-mailed: {run.name} has {len(run.failed)} failed report(s)")
            continue
        try:
            print(f"trialkit: {send_run(run.path)}")
        except TrialkitError as exc:
            print(str(exc), file=sys.stderr)
            code = code or exc.exit_code
    return code


def check_ready_to_email(params_files: Sequence[str | Path]) -> None:
    """Before a ``run --email`` starts: every params file names recipients, SMTP settings load.

    A typo found after a 20-minute run would cost the run.
    """
    from trialkit.report.params import read_params_file

    for file in params_files:
        raw, lines = read_params_file(Path(file))
        if not raw.get("email"):
            raise ParamsError(f"trialkit: params file {file} has no email key, so --email has nobody to send to; "
                              "add:\n  email:\n    to: [jane.doe@hospital.example]")
        problem = check_email_value(raw["email"])
        if problem:
            raise ParamsError(f"trialkit: params file {file}, line {lines.get('email', '?')}, key 'email': {problem}")
    settings = load_smtp_settings()
    if not settings.sender:
        raise SmtpSettingsError("trialkit: no sender address: set TRIALKIT_SMTP_FROM.")


def _log(line: str) -> None:
    print(f"trialkit: email: {line}", file=sys.stderr, flush=True)

