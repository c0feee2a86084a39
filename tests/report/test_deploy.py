"""The scheduled-run examples of deploy/, tested as far as this machine allows.

- the systemd service and timer pass ``systemd-analyze verify`` (where it is installed),
  with the checkout's path in place of /opt/trialkit;
- the crontab's job line runs under ``env -i`` with exactly the crontab's variables (what
  cron gives a job), the paths moved into a temporary folder: it runs the demo report,
  e-mails it to the test SMTP server and appends its log and exit code to the log file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import PASSWORD, SENDER, USER

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def test_systemd_units_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed here")
    for unit in ("trialkit-reports.service", "trialkit-reports.timer"):
        text = (DEPLOY / unit).read_text().replace("/opt/trialkit", str(ROOT))
        (tmp_path / unit).write_text(text)
    result = subprocess.run([analyze, "verify", "--man=no", *(str(p) for p in sorted(tmp_path.iterdir()))],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), result.stderr
    service = (DEPLOY / "trialkit-reports.service").read_text()
    for pinned in ("Environment=HOME=", "LANG=C.UTF-8", "JUPYTER_PATH=", "UMask=0027", "StandardOutput=journal",
                   "--email"):
        assert pinned in service, pinned
    assert "PASSWORD=" not in service.replace("PASSWORD_FILE=", "")       # never the password itself


def _crontab() -> tuple[dict[str, str], str]:
    env, job = {}, None
    for line in (DEPLOY / "trialkit.crontab").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assignment = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if assignment:
            env[assignment.group(1)] = assignment.group(2).strip().strip('"')
        else:
            assert job is None, "one job line expected"
            job = line.split(None, 5)[5]
    assert job and "%" not in job                 # cron turns % into a line break
    return env, job


@pytest.mark.slow
def test_cron_line_runs_and_emails_under_env_i(tmp_path, smtp_server, tls_files, password_file):
    from trialkit.cache import cache_dir

    env, job = _crontab()
    assert {"HOME", "PATH", "LANG", "LC_ALL", "JUPYTER_PATH", "TRIALKIT_SMTP_CONFIG"} <= set(env)
    config = tmp_path / "etc" / "smtp.toml"
    config.parent.mkdir()
    config.write_text(f'[smtp]\nhost = "{smtp_server.host}"\nport = {smtp_server.port}\nsecurity = "starttls"\n'
                      f'user = "{USER}"\npassword_file = "{password_file}"\nfrom = "{SENDER}"\n'
                      f'cafile = "{tls_files["ca"]}"\nretry_delay = 0.01\n')
    params = tmp_path / "cron_check.yaml"       # the run lands in the checkout's outputs/ (removed below)
    params.write_text((ROOT / "params" / "demo.yaml").read_text()
                      + "email:\n  to: [jane.doe@hospital.example]\n")
    moves = {"/opt/trialkit": str(ROOT), "/var/lib/trialkit": str(tmp_path / "home"),
             "/var/log/trialkit": str(tmp_path / "log"), "/var/cache/trialkit": str(cache_dir()),
             "/etc/trialkit/smtp.toml": str(config)}

    def moved(text: str) -> str:
        for old, new in moves.items():
            text = text.replace(old, new)
        return text

    (tmp_path / "home").mkdir()
    (tmp_path / "log").mkdir()
    env = {k: moved(v) for k, v in env.items()} | {"LOGNAME": "trialkit"}
    job = moved(job).replace("params/demo.yaml", str(params))
    smtp_server.messages.clear()
    result = subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in env.items()), env["SHELL"], "-c", job],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    log = (tmp_path / "log" / "reports.log").read_text()
    found = re.search(r"trialkit: (\S+)/index\.html", log)
    run_dir = Path(found.group(1)) if found else None
    try:
        _check_cron_run(result, log, run_dir, smtp_server)
    finally:
        if run_dir is not None and run_dir.parent == ROOT / "outputs":
            shutil.rmtree(run_dir, ignore_errors=True)


def _check_cron_run(result, log: str, run_dir: Path | None, smtp_server) -> None:
    assert result.returncode == 0 and "== exit 0" in log, log + result.stderr
    assert run_dir == ROOT / "outputs" / "cron_check_2026-10-31", log
    assert "e-mailed cron_check_2026-10-31" in log and "trialkit run" in log
    assert len(smtp_server.messages) == 1 and smtp_server.messages[0].rcpt_tos == ["jane.doe@hospital.example"]
    assert b'filename="study_overview.html"' in smtp_server.messages[0].data
    assert PASSWORD not in log + result.stdout + result.stderr
    assert (run_dir / "email.json").is_file()
    assert os.stat(run_dir / "study_overview.html").st_mode & 0o007 == 0      # umask 027 held
