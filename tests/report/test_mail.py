"""``trialkit email`` against a real SMTP server on 127.0.0.1 (see conftest.py).

Every test reads what the server received (parsed back with Python's ``email`` parser) or
the exit code and message a cron job would see; and the password must never show up.
"""

from __future__ import annotations

import email
import email.policy
import io
import json
import zipfile
from pathlib import Path

import pytest

from trialkit.cli import main

from .conftest import PASSWORD, SENDER, USER, make_run_folder


def _email(capsys, *args) -> tuple[int, str]:
    code = main(["email", *map(str, args)])
    out = capsys.readouterr()
    text = out.out + out.err
    assert PASSWORD not in text
    return code, text


def _parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def _attachments(message) -> dict[str, bytes]:
    return {part.get_filename(): part.get_payload(decode=True) for part in message.iter_attachments()}


def _no_password_in_files(*folders: Path) -> None:
    for folder in folders:
        for file in folder.rglob("*"):
            if file.is_file():
                assert PASSWORD.encode() not in file.read_bytes(), file


def test_sends_the_reports_over_starttls_and_records_the_send(capsys, smtp_server, smtp_env, run_folder):
    code, text = _email(capsys, run_folder)
    assert code == 0, text
    assert len(smtp_server.messages) == 1 and smtp_server.logins == [USER]
    received = smtp_server.messages[0]
    assert sorted(received.rcpt_tos) == ["jane.doe@hospital.example", "li.wei@hospital.example"]
    assert received.mail_from == "st561-reports@hospital.example"
    message = _parse(received.data)
    assert message["To"] == "Jane Doe <jane.doe@hospital.example>" and message["Cc"] == "li.wei@hospital.example"
    assert message["From"] == SENDER
    assert message["Subject"] == "NCT07334483: reports, data cutoff 2026-10-31"
    # multipart/alternative: a plain and an HTML body, then the attachments, byte for byte
    body = next(p for p in message.walk() if p.get_content_type() == "multipart/alternative")
    assert [p.get_content_type() for p in body.iter_parts()] == ["text/plain", "text/html"]
    assert _attachments(message) == {"alpha.html": (run_folder / "alpha.html").read_bytes(),
                                     "beta.html": (run_folder / "beta.html").read_bytes()}
    plain = message.get_body(("plain",)).get_content()
    rich = message.get_body(("html",)).get_content()
    for text_ in (plain, rich):
        for expected in ("NCT07334483", "2026-10-31", "2026-11-25 08:00 UTC", "Alpha report", "beta.html",
                         "Confidential", "3 KB", "5 KB"):
            assert expected in text_, (expected, text_)
    assert "<img" not in rich and "http" not in rich        # no external image, no URL at all
    record = json.loads((run_folder / "email.json").read_text())
    (send,) = record["sends"]
    assert send["message_ids"] == [message["Message-ID"]]
    assert send["to"] == ["Jane Doe <jane.doe@hospital.example>"] and send["cc"] == ["li.wei@hospital.example"]
    assert send["sent_at"].startswith("20") and [a["name"] for a in send["attachments"]] == ["alpha.html", "beta.html"]
    assert "e-mailed demo_2026-10-31" in text and message["Message-ID"] in text
    _no_password_in_files(run_folder)


def test_second_send_needs_force(capsys, smtp_server, smtp_env, run_folder):
    assert _email(capsys, run_folder)[0] == 0
    code, text = _email(capsys, run_folder)
    assert code == 79 and "already e-mailed" in text and "--force" in text
    assert len(smtp_server.messages) == 1
    code, text = _email(capsys, run_folder, "--force")
    assert code == 0, text
    assert len(smtp_server.messages) == 2
    sends = json.loads((run_folder / "email.json").read_text())["sends"]
    assert [s["forced"] for s in sends] == [False, True]
    assert len({s["message_ids"][0] for s in sends}) == 2


def test_a_failed_run_is_refused_unless_allowed_and_then_named(capsys, smtp_server, smtp_env, tmp_path):
    folder = make_run_folder(tmp_path, reports=(("alpha", "ok", 2000), ("screening", "failed", 0)),
                             email={"to": ["jane.doe@hospital.example"]})
    code, text = _email(capsys, folder)
    assert code == 65 and "screening: cell 4: ValueError: planted failure" in text and "--allow-failed" in text
    assert smtp_server.messages == [] and not (folder / "email.json").exists()
    code, text = _email(capsys, folder, "--allow-failed")
    assert code == 0, text
    message = _parse(smtp_server.messages[0].data)
    assert "(1 report FAILED)" in message["Subject"]
    assert list(_attachments(message)) == ["alpha.html"]
    plain = message.get_body(("plain",)).get_content()
    assert "screening.html): FAILED: cell 4: ValueError: planted failure" in plain


def test_wrong_password_gives_a_clear_message_and_exit_77(capsys, smtp_server, smtp_env, monkeypatch, tmp_path,
                                                          run_folder):
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    monkeypatch.setenv("TRIALKIT_SMTP_PASSWORD_FILE", str(wrong))
    code, text = _email(capsys, run_folder)
    assert code == 77
    assert f"refused the login of user '{USER}'" in text and "535" in text and "not-the-password" not in text
    assert smtp_server.messages == [] and not (run_folder / "email.json").exists()


def test_refused_recipient_exit_67_and_partial_refusal_recorded(capsys, smtp_server, smtp_env, run_folder):
    code, text = _email(capsys, run_folder, "--to", "nobody@hospital.example")
    assert code == 67 and "refused every recipient" in text and "nobody@hospital.example (550" in text
    assert smtp_server.messages == []
    code, text = _email(capsys, run_folder, "--to", "jane@hospital.example, nobody@hospital.example")
    assert code == 67 and "refused nobody@hospital.example" in text and "the others got it" in text
    assert [m.rcpt_tos for m in smtp_server.messages] == [["jane@hospital.example"]]
    (send,) = json.loads((run_folder / "email.json").read_text())["sends"]
    assert list(send["refused"]) == ["nobody@hospital.example"]


def test_untrusted_certificate_is_a_tls_error_exit_76(capsys, smtp_server, smtp_env, monkeypatch, run_folder):
    monkeypatch.delenv("TRIALKIT_SMTP_CAFILE")
    code, text = _email(capsys, run_folder)
    assert code == 76 and "TLS with 127.0.0.1" in text and "TRIALKIT_SMTP_CAFILE" in text
    assert smtp_server.messages == [] and smtp_server.logins == []   # the password never left


def test_server_without_starttls_is_refused_before_login(capsys, plain_server, smtp_env, monkeypatch, run_folder):
    monkeypatch.setenv("TRIALKIT_SMTP_PORT", str(plain_server.port))
    code, text = _email(capsys, run_folder)
    assert code == 76 and "does not offer STARTTLS" in text
    assert plain_server.logins == [] and plain_server.messages == []


def test_implicit_tls(capsys, ssl_server, smtp_env, monkeypatch, run_folder):
    monkeypatch.setenv("TRIALKIT_SMTP_PORT", str(ssl_server.port))
    monkeypatch.setenv("TRIALKIT_SMTP_SECURITY", "ssl")
    code, text = _email(capsys, run_folder)
    assert code == 0, text
    assert len(ssl_server.messages) == 1 and ssl_server.logins == [USER]


def test_temporary_failure_is_retried_with_backoff(capsys, smtp_server, smtp_env, run_folder):
    smtp_server.fail_data = 2           # two 451s, then accepted: 3 attempts of the 1 + 2 retries
    code, text = _email(capsys, run_folder)
    assert code == 0, text
    assert text.count("451 4.3.0 Busy") == 2 and "retrying in 0.01 s" in text and "retrying in 0.02 s" in text
    (received,) = smtp_server.messages
    sends = json.loads((run_folder / "email.json").read_text())["sends"]
    assert sends[0]["message_ids"] == [_parse(received.data)["Message-ID"]]   # the same message each time


def test_server_down_ends_with_exit_75_after_the_retries(capsys, smtp_env, monkeypatch, run_folder):
    from .conftest import _free_port

    monkeypatch.setenv("TRIALKIT_SMTP_PORT", str(_free_port()))   # nothing listens there
    code, text = _email(capsys, run_folder)
    assert code == 75 and "cannot reach 127.0.0.1" in text and "gave up after 3 attempts" in text
    assert not (run_folder / "email.json").exists()


def test_zip_holds_the_reports_byte_for_byte(capsys, smtp_server, smtp_env, run_folder):
    assert _email(capsys, run_folder, "--zip")[0] == 0
    message = _parse(smtp_server.messages[0].data)
    (name, data), = _attachments(message).items()
    assert name == "demo_2026-10-31.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {n: archive.read(n) for n in archive.namelist()} == {
            "alpha.html": (run_folder / "alpha.html").read_bytes(), "beta.html": (run_folder / "beta.html").read_bytes()}
    assert "Unzip the attached file" in message.get_body(("plain",)).get_content()


def test_pack_attaches_the_one_page(capsys, smtp_server, smtp_env, run_folder):
    assert _email(capsys, run_folder, "--pack")[0] == 0
    assert _attachments(_parse(smtp_server.messages[0].data)) == {"pack.html": (run_folder / "pack.html").read_bytes()}


def test_max_mb_splits_into_parts_or_refuses_one_file_too_large(capsys, smtp_server, smtp_env, tmp_path):
    folder = make_run_folder(tmp_path, reports=(("alpha", "ok", 300_000), ("beta", "ok", 300_000),
                                                ("gamma", "ok", 200_000)),
                             email={"to": ["jane.doe@hospital.example"]})
    code, text = _email(capsys, folder, "--max-mb", "0.5")
    assert code == 0, text
    messages = [_parse(m.data) for m in smtp_server.messages]
    assert [m["Subject"].rsplit("[", 1)[-1] for m in messages] == ["part 1 of 3]", "part 2 of 3]", "part 3 of 3]"]
    assert all(len(m.data) <= 500_000 for m in smtp_server.messages)
    got = {}
    for message in messages:
        got |= _attachments(message)
    assert got == {n: (folder / f"{n}").read_bytes() for n in ("alpha.html", "beta.html", "gamma.html")}
    assert "in another part of this e-mail" in messages[0].get_body(("plain",)).get_content()

    code, text = _email(capsys, folder, "--max-mb", "0.3", "--force")
    assert code == 80 and "alpha.html alone makes a 0.4 MB message, over --max-mb 0.3" in text and "--zip" in text
    assert len(smtp_server.messages) == 3


def test_dry_run_writes_an_eml_the_email_parser_reads_back(capsys, smtp_server, smtp_env, run_folder, tmp_path):
    out = tmp_path / "previews" / "preview.eml"
    code, text = _email(capsys, run_folder, "--dry-run", out)
    assert code == 0 and str(out) in text
    message = _parse(out.read_bytes())
    assert message["To"] == "Jane Doe <jane.doe@hospital.example>" and message["From"] == SENDER
    assert _attachments(message)["beta.html"] == (run_folder / "beta.html").read_bytes()
    assert smtp_server.messages == [] and smtp_server.logins == []          # nothing sent, no login
    assert not (run_folder / "email.json").exists()                          # and nothing recorded
    _no_password_in_files(run_folder, out.parent)


def test_check_logs_in_and_sends_nothing(capsys, smtp_server, smtp_env, monkeypatch):
    code, text = _email(capsys, "--check")
    assert code == 0 and "SMTP settings work" in text and "STARTTLS" in text and "nothing was sent" in text
    assert smtp_server.logins == [USER] and smtp_server.messages == []
    monkeypatch.setenv("TRIALKIT_SMTP_PASSWORD_FILE", "")
    monkeypatch.setenv("TRIALKIT_SMTP_PASSWORD", "wrong-from-env")
    code, text = _email(capsys, "--check")
    assert code == 77 and "wrong-from-env" not in text


def test_recipients_from_the_command_line_replace_the_params(capsys, smtp_server, smtp_env, run_folder):
    assert _email(capsys, run_folder, "--to", "me@hospital.example", "--subject", "Test {run_name}")[0] == 0
    message = _parse(smtp_server.messages[0].data)
    assert smtp_server.messages[0].rcpt_tos == ["me@hospital.example"] and message["Cc"] is None
    assert message["Subject"] == "Test demo_2026-10-31"


@pytest.mark.parametrize(("args", "expected"), [
    ((), "no recipient: give --to ADDRESS"),
    (("--to", "jane@hospital"), "'jane@hospital' is not an e-mail address"),
    (("--to", "a@b.org", "--subject", "{studdy}"), "unknown field {studdy} (did you mean 'study'?)"),
])
def test_bad_recipients_exit_2(capsys, smtp_server, smtp_env, tmp_path, args, expected):
    folder = make_run_folder(tmp_path)                       # no email key in its params
    code, text = _email(capsys, folder, *args)
    assert code == 2 and expected in text and "Traceback" not in text
    assert smtp_server.messages == []


def test_not_a_run_folder_exit_66(capsys, smtp_env, tmp_path):
    code, text = _email(capsys, tmp_path, "--to", "a@b.org")
    assert code == 66 and "not a finished run folder (no manifest.json)" in text


def test_a_report_changed_after_the_run_is_refused(capsys, smtp_server, smtp_env, run_folder):
    with open(run_folder / "alpha.html", "a") as handle:
        handle.write("<!-- edited -->")
    code, text = _email(capsys, run_folder)
    assert code == 65 and "alpha.html is" in text and "changed after the run" in text
    assert smtp_server.messages == []


FIXTURES = Path(__file__).parent / "notebooks"


@pytest.mark.slow
def test_run_with_email_sends_each_complete_run_and_never_injects_email(capsys, smtp_server, smtp_env, monkeypatch,
                                                                        tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "dm.csv").write_text("USUBJID\nS1\n")
    monkeypatch.setenv("TRIALKIT_NOTEBOOKS_DIR", str(FIXTURES))
    params = tmp_path / "site.yaml"
    params.write_text("data_dir: data\ndata_cutoff: 2026-10-31\nreports: [alpha, beta]\n"
                      "email:\n  to: [jane.doe@hospital.example]\n  zip: true\n")
    code = main(["run", str(params), "--out", str(tmp_path / "out"), "--email"])
    out = capsys.readouterr()
    assert code == 0, out.err
    run_dir = tmp_path / "out" / "site_2026-10-31"
    (received,) = smtp_server.messages
    with zipfile.ZipFile(io.BytesIO(_attachments(_parse(received.data))["site_2026-10-31.zip"])) as archive:
        assert sorted(archive.namelist()) == ["alpha.html", "beta.html"]
        assert archive.read("alpha.html") == (run_dir / "alpha.html").read_bytes()
    assert (run_dir / "email.json").is_file() and "e-mailed site_2026-10-31" in out.out
    injected = json.loads((run_dir / "alpha.ipynb").read_text())["cells"]
    (cell,) = [c for c in injected if "injected-parameters" in c["metadata"].get("tags", [])]
    assert "data_cutoff = " in "".join(cell["source"]) and "\nemail = " not in "".join(cell["source"])
    assert PASSWORD not in out.out + out.err

    params.write_text("data_dir: data\nreports: [broken]\nemail:\n  to: [jane.doe@hospital.example]\n")
    code = main(["run", str(params), "--out", str(tmp_path / "out"), "--email"])
    assert code == 1 and "not e-mailed: site_nocutoff has 1 failed report(s)" in capsys.readouterr().err
    assert len(smtp_server.messages) == 1


def test_run_with_email_checks_recipients_and_settings_before_running(capsys, smtp_env, monkeypatch, tmp_path):
    monkeypatch.setenv("TRIALKIT_NOTEBOOKS_DIR", str(FIXTURES))
    params = tmp_path / "site.yaml"
    params.write_text("reports: [alpha]\n")
    code = main(["run", str(params), "--out", str(tmp_path / "out"), "--email"])
    assert code == 2 and "has no email key, so --email has nobody to send to" in capsys.readouterr().err
    params.write_text("reports: [alpha]\nemail:\n  to: [a@b.org]\n")
    monkeypatch.delenv("TRIALKIT_SMTP_HOST")
    code = main(["run", str(params), "--out", str(tmp_path / "out"), "--email"])
    assert code == 78 and "no SMTP server set" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()                                  # nothing ran
