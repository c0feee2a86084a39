"""The ``trialkit`` command line: ``trialkit --help`` lists the commands.

Each command is a thin wrapper over a library function; a :class:`TrialkitError` is printed
as its message (no traceback) and exits with the error's exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from trialkit.errors import TrialkitError


def _cmd_validate(args: argparse.Namespace) -> int:
    return main_validate(args.data_dir, report=args.report, study=args.study, encoding=args.encoding)


def main_validate(data_dir: str, *, report: str | None = None, study: str | None = None,
                  encoding: str | None = None) -> int:
    """``trialkit validate``: the datasets found, which reports can run, every finding; 1 on errors."""
    from trialkit.io import format_findings, summarize_readiness
    from trialkit.study import validate_folder

    read, findings = validate_folder(data_dir, report=report, study=study, encoding=encoding)
    protocol = read.protocol
    which = f"protocol {protocol.display_id}" + (" (generic, built from the data)" if protocol.generic else "")
    print(f"trialkit validate: {read.data_dir} ({which}{', report ' + report if report else ''})")
    print(f"\nDatasets found: {len(read.files)}")
    unreadable = {f.dataset for f in findings if f.kind == "UnreadableFileError"}
    width = max([len(n) for n in read.files] + [7])
    print(f"  {'dataset':<{width}} {'rows':>8} {'cols':>5}  file")
    for name, path in read.files.items():
        if name in read.frames:
            print(f"  {name:<{width}} {read.frames[name].height:>8} {read.frames[name].width:>5}  {path.name}")
        else:
            state = "unreadable" if name in unreadable else "not read"
            print(f"  {name:<{width}} {state:>14}  {path.name}")
    if not report:
        print("\nReports:")
        for name, state in summarize_readiness(read.files, findings):
            print(f"  {name:<15} {state}")
    n_err = sum(f.level == "error" for f in findings)
    n_warn = len(findings) - n_err
    print(f"\nFindings: {n_err} error(s), {n_warn} warning(s)\n")
    print(format_findings(findings))
    print(f"\nResult: {'FAILED' if n_err else 'OK'} ({n_err} error(s), {n_warn} warning(s))")
    return 1 if n_err else 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from trialkit.demo import main_demo

    return main_demo(out=args.out, seed=args.seed, subjects=args.subjects, cutoff=args.cutoff,
                     fmt=args.format)


def _cmd_run(args: argparse.Namespace) -> int:
    from trialkit.report.runner import main_run

    reports = [r.strip() for r in args.reports.split(",") if r.strip()] if args.reports else None
    if args.email:
        from trialkit.report.mail import check_ready_to_email

        check_ready_to_email(args.params)  # before the run: a typo must not cost a whole run
    return main_run(args.params, out=args.out, reports=reports, jobs=args.jobs, email=args.email,
                    fail_on_empty=args.fail_on_empty)


def _cmd_email(args: argparse.Namespace) -> int:
    from trialkit.report.mail import main_email

    return main_email(args.run_dir, check=args.check, dry_run=args.dry_run, to=args.to, cc=args.cc,
                      subject=args.subject, zip=args.zip, pack=args.pack, max_mb=args.max_mb,
                      allow_failed=args.allow_failed, force=args.force)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trialkit",
        description="Explore and report a clinical trial: read and check "
                    "study data, generate the demo study, run the report notebooks into offline HTML.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "validate", help="read a study data folder and print what every report would find wrong",
        description="Read every dataset of DATA_DIR (parquet, csv, xpt, sas7bdat), check it "
                    "against what the reports need, and print errors and warnings. Exits 1 "
                    "when there is an error; warnings (e.g. an odd response value) never do.")
    p.add_argument("data_dir", metavar="DATA_DIR", help="folder with one file per dataset (dm.parquet, IE.xpt, ...)")
    p.add_argument("--report", help="check only what this report needs (e.g. screening, swimmer)")
    p.add_argument("--study", "--protocol", dest="study",
                   help="registry id or sponsor code of a shipped protocol, or a protocol YAML file "
                        "(default: the protocol matching the data's STUDYID, else a generic one)")
    p.add_argument("--encoding", help="text encoding of CSV/SAS files that are not UTF-8 (e.g. gbk, latin-1)")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser(
        "demo", help="write the simulated demo study (SDTM) to a folder",
        description="Generate the built-in demo study: ~200 screened, 120 randomized 1:1:1:1 "
                    "to arms A-D at the protocol's three sites, with treatments, tumour "
                    "assessments and the usual mess of real transfers. Deterministic for a "
                    "seed; writes demo_truth.json (what was planted) next to the data.")
    p.add_argument("--out", required=True, help="folder to write the datasets into (created)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the built-in demo's)")
    p.add_argument("--subjects", type=int, default=None, help="number randomized (default: 120)")
    p.add_argument("--cutoff", default=None, help="data cutoff, ISO date (default: the built-in demo's)")
    p.add_argument("--format", default="parquet", choices=["parquet", "csv", "xpt"], help="file format (default: parquet)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "run", help="run report notebooks from params files into a self-contained run folder",
        description="Check every params file against the notebooks' parameters, then execute "
                    "the notebooks with papermill and export offline HTML into "
                    "outputs/<run>/ (index.html, one HTML per report, tables/, figures/, "
                    "manifest.json). Exits 1 if a report failed, 2 if a params file, the command "
                    "line or the output folder is wrong, 75 if another run holds the run folder, 130/143 "
                    "when SIGINT/SIGTERM stopped it (finished reports kept as a partial run); see the "
                    "README's Scheduled runs.")
    p.add_argument("params", nargs="+", metavar="PARAMS.yaml", help="one or more params files (see params/)")
    p.add_argument("--out", default=None, help="parent folder of the run folders (default: outputs/)")
    p.add_argument("--reports", default=None, help="comma-separated report names to run (default: all)")
    p.add_argument("--jobs", type=int, default=None, help="notebooks run at once (default: CPU count)")
    p.add_argument("--email", action="store_true",
                   help="then e-mail each run folder whose reports all ran, to its params file's email: "
                        "recipients (see trialkit email --help; exit codes of trialkit email)")
    p.add_argument("--fail-on-empty", action="store_true",
                   help="exit 4 when a report's data cutoff and sites/arms filters select no subject "
                        "(the report is still written and says so; without this option that is exit 0)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "email", help="e-mail a run folder's reports to the investigators (once)",
        description="Send the reports of a finished run folder: recipients from its params file's "
                    "email: key (or --to/--cc), SMTP settings from TRIALKIT_SMTP_* or "
                    "~/.config/trialkit/smtp.toml (README: Sending reports). A run with a failed "
                    "report, or already sent (RUN_DIR/email.json), is refused.",
        epilog="exit codes: 0 sent | 2 bad option or params | 65 a report failed or changed | "
               "66 not a run folder | 67 recipient refused | 69 message refused | 73 cannot record "
               "in RUN_DIR | 75 temporary failure, try later | 76 TLS failed | 77 login refused | "
               "78 SMTP settings missing or unsafe | 79 already sent | 80 an attachment is over --max-mb")
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="a run folder, e.g. outputs/demo_2026-10-31")
    p.add_argument("--to", action="append", metavar="ADDRESS",
                   help="recipient (repeat, or separate with commas); replaces the params' to and cc")
    p.add_argument("--cc", action="append", metavar="ADDRESS", help="copy recipient (repeat, or commas)")
    p.add_argument("--subject", default=None, help="subject; may hold {study}, {cutoff}, {run_name}")
    p.add_argument("--zip", action="store_true", default=None,
                   help="attach the reports as one .zip (for mail gateways that strip .html files)")
    p.add_argument("--pack", action="store_true", default=None,
                   help="attach pack.html (every report in one page) instead of each report")
    p.add_argument("--max-mb", type=float, default=None,
                   help="largest message in MB (default 10): more is split into parts; one "
                        "attachment over it is refused")
    p.add_argument("--allow-failed", action="store_true", help="send a run with a failed report (named in the message)")
    p.add_argument("--force", action="store_true", help="send a run that was already sent")
    p.add_argument("--dry-run", metavar="OUT.eml", default=None,
                   help="write the exact message to OUT.eml instead of sending (open it in a mail client)")
    p.add_argument("--check", action="store_true",
                   help="connect and log in to the SMTP server with the settings; send nothing")
    p.set_defaults(func=_cmd_email)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except TrialkitError as exc:
        message = str(exc)
        print(message if message.startswith("trialkit:") else f"trialkit: {message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("trialkit: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # permissions, a missing or file-valued path, a full disk: not a bug
        from trialkit.errors import describe_os_error

        print(describe_os_error(exc), file=sys.stderr)
        return 1 if args.command == "validate" else 2
    except Exception as exc:  # a bug, not a user error: one line, the traceback on request
        if os.environ.get("TRIALKIT_DEBUG"):
            raise
        print(f"trialkit: internal error {type(exc).__name__}: {exc}\n"
              f"  This is a bug in trialkit, not in your data. Set TRIALKIT_DEBUG=1 to see the "
              f"traceback and report it.", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
