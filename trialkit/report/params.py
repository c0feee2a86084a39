"""Params files: load, check against the notebooks' parameters cells, resolve.

A params file is one YAML mapping per scheduled report run (DESIGN.md section 3). Every key
is optional; an empty file runs every report on the built-in demo study.

The keys a params file may hold are the parameters the report notebooks declare in their
``parameters`` cells (each notebook declares only the keys it reads); a key that no report
reads is an error, with a "did you mean". The DESIGN section 3 keys have these rules:

==================== =================================== =====================================
key                  value                               default
==================== =================================== =====================================
study                a registry id or sponsor code of a  the protocol whose id matches the
                     shipped protocol, or a protocol     data's STUDYID, else a generic one
                     YAML file (relative: to the params  built from the data
                     file's folder)
data_dir             a study data folder; a relative     the built-in demo study
                     path is resolved against the folder (``trialkit.demo.demo_data_dir()``)
                     of the params file, not the cwd     also when null or ""
data_cutoff          ISO date ``YYYY-MM-DD``             the demo's cutoff with demo data,
                                                         else none (all records)
sites                list of the protocol's site ids,    all sites
                     e.g. ["01"]; a number matches its
                     zero-padded site (1 -> "01")
arms                 list of the protocol's arm codes    all arms
assessor             an assessor of the protocol (BICR,  the notebook's default
                     INVESTIGATOR; accepted spellings
                     in the protocol file)
criteria             criteria of the protocol (mRECIST,  the notebook's default
                     RECIST 1.1, ...)
confirmed            true | false                        the notebook's default
best_change_window   until_pd | all_post_baseline        the notebook's default
adam_paramcd         a mapping of sum, overall, bor,     the usual ADaM PARAMCDs (SDIAM,
                     cbor to a sponsor's PARAMCD(s)      OVR, BOR, CBOR, ...)
audience             investigator (code hidden) |        the notebook's default
                     analyst (code shown)
title                text                                each notebook's own title
==================== =================================== =====================================

A params file is untrusted input: at most :data:`MAX_PARAMS_BYTES`, no YAML aliases, each
value bounded (:func:`check_bounds`), and a message quotes at most 200 characters of a value
(:func:`trialkit.errors.quote`). A file that cannot be read is a :class:`ParamsError`.

``data_dir``, ``data_cutoff`` and ``study`` are resolved by
:func:`trialkit.study.resolve_parameters`, the same function a notebook uses when run by
hand, so a run and an interactive session read the same data. ``assessor``, ``criteria``
and ``arms`` are checked against the protocol of the study (given, matched, or generic).
``sites`` are checked against the protocol's sites (:func:`trialkit.study.match_site_codes`).
A key set to ``null`` (or ``""``) takes the notebook's own default (it is not injected);
``reports`` and ``run_name`` set to null take the runner's.
Other parameters a notebook declares are typed by their default there (str, int, float,
bool, list, dict; a ``None`` default takes anything).

Keys the runner itself reads (never passed to a notebook):

- ``reports``: list of report names (notebook stems) to run; ``trialkit run --reports``
  overrides it. Default: every notebook in ``notebooks/``.
- ``run_name``: the run folder's name (letters, digits, ``._-``). Default:
  ``<params file stem>_<data_cutoff>`` (``_nocutoff`` when there is none).

``output_dir`` is reserved: the runner sets it to the run folder.

``email`` says who gets the run's reports (``trialkit email RUN_DIR``, ``trialkit run
--email``); it is recorded in the manifest and never passed to a notebook::

    email:
      to: [jane.doe@hospital.example, "Li Wei <li.wei@hospital.example>"]
      cc: []                                         # optional
      subject: "{study}: reports, data cutoff {cutoff}"   # optional; also {run_name}
      zip: false        # optional: the reports in one .zip (gateways that strip .html)
      pack: false       # optional: attach pack.html (every report in one page) instead
      max_mb: 10        # optional: largest message; more is split, one too-large file refused

SMTP settings (server, user, password) never go in a params file: see
:mod:`trialkit.report.smtp_settings`.

Example:
    >>> from trialkit.report.params import load_params_files
    >>> runs = load_params_files(["params/demo.yaml"], notebooks=find_notebooks())  # doctest: +SKIP
    >>> runs[0].run_name, runs[0].values["audience"]                                 # doctest: +SKIP
    ('demo_2026-10-31', 'investigator')
"""

from __future__ import annotations

import ast
import datetime as dt
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import yaml

from trialkit.derive.swimmer import SORT_ORDERS as SWIMMER_SORT_ORDERS
from trialkit.derive.swimmer import TIME_UNITS as SWIMMER_TIME_UNITS
from trialkit.errors import ParamsError, ProtocolError, clip, describe_os_error, quote

RESERVED_KEYS = ("output_dir",)
RUNNER_KEYS = ("reports", "run_name")
# Read by `trialkit email` and `trialkit run --email`; kept in the manifest, never injected.
DELIVERY_KEYS = ("email",)
EMAIL_KEYS = {"to": "a list of e-mail addresses", "cc": "a list of e-mail addresses", "subject": "text",
              "zip": "true or false", "pack": "true or false", "max_mb": "a number of megabytes"}
SUBJECT_FIELDS = ("study", "cutoff", "run_name")
SMTP_WORDS = ("password", "passwd", "pass", "secret", "user", "username", "login", "host", "server", "port",
              "smtp", "security", "tls", "starttls", "ssl", "from", "sender")
_DOMAIN_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"^[^@\s<>(),;:\"\[\]\\]+@{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})+$")
_ANY = object()  # a parameter whose default is None (or not a literal): any value goes
_RUN_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# A params file is untrusted input (hand-edited, sometimes generated): bounded in size, in
# each value and in what a message quotes of it (trialkit.errors.quote), so one bad file
# cannot cost minutes of CPU, gigabytes of memory or a gigabyte error mail.
MAX_PARAMS_BYTES = 64 * 1024  # a real params file is well under 2 KB
MAX_TEXT_CHARS = 1000         # a path, a name; a title gets TITLE_MAX_CHARS
TITLE_MAX_CHARS = 200         # the title is copied into every page, the index and the manifest
MAX_ITEMS = 1000              # items of a list or mapping value (sites, arms, ...)
MAX_PROBLEMS = 20             # problems listed per params file; the rest are counted
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# DESIGN.md section 3: the types of the standard keys, wherever a notebook declares them.
STANDARD_TYPES: dict[str, tuple[type, ...]] = {
    "study": (str,), "data_dir": (str, type(None)), "data_cutoff": (str, dt.date, type(None)),
    "sites": (list, type(None)), "arms": (list, type(None)), "assessor": (str,),
    "criteria": (str,), "confirmed": (bool,), "best_change_window": (str,),
    "audience": (str,), "title": (str, type(None)),
}
# Choices that are trialkit's own (the trial's names, arms, assessors and criteria, come from
# the study's protocol file: see check_protocol_value).
CHOICES: dict[str, tuple[str, ...]] = {
    "audience": ("investigator", "analyst"),
    "best_change_window": ("until_pd", "all_post_baseline"),
    "sort_order": SWIMMER_SORT_ORDERS, "time_unit": tuple(SWIMMER_TIME_UNITS),  # the swimmer's lanes and time axis
}


class _AliasRefused(yaml.YAMLError):
    """A YAML alias in a params file (see :class:`_ParamsLoader`)."""

    def __init__(self, anchor: str, mark: Any):
        super().__init__(anchor)
        self.anchor, self.problem_mark = anchor, mark


class _ParamsLoader(yaml.SafeLoader):
    """SafeLoader that keeps an impossible date (2026-02-30) as text for a clear message,
    and refuses aliases.

    An alias (``*name``) repeats an anchored value; nested aliases make a few hundred bytes
    stand for gigabytes (the "billion laughs"), and a params file never needs one.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _AliasRefused(event.anchor, event.start_mark)
        return super().compose_node(parent, index)


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:  # PyYAML raises a bare ValueError without file or line
        return loader.construct_scalar(node)


_ParamsLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


@dataclass
class RunParams:
    """One params file, checked and resolved: what one run folder is made from.

    Attributes:
        path: the params file.
        values: the resolved parameters (absolute ``data_dir``, ISO ``data_cutoff``, ...),
            without the runner's own keys.
        run_name: the run folder's name.
        reports: report names this file selects (None: every notebook).
        data_dir: the study data folder the notebooks read.
        demo: True when ``data_dir`` is the built-in demo study.
        protocol: the study's :class:`trialkit.protocol.Protocol` (headers, confidentiality line).
    """

    path: Path
    values: dict[str, Any]
    run_name: str
    reports: list[str] | None
    data_dir: Path
    demo: bool
    raw: dict[str, Any] = field(default_factory=dict)
    protocol: Any = None


# ---------------------------------------------------------------------------------------
# notebooks' parameters cells
# ---------------------------------------------------------------------------------------

def read_notebook_parameters(notebook: Path) -> dict[str, Any]:
    """The names and literal defaults of a notebook's ``parameters`` cell.

    Args:
        notebook: an ``.ipynb`` file with a cell tagged ``parameters``.

    Returns:
        ``{name: default}`` in cell order; a default that is not a Python literal is
        returned as a marker that accepts any value.

    Example:
        >>> read_notebook_parameters(Path("notebooks/study_overview.ipynb"))  # doctest: +SKIP
        {'study': 'NCT07334483', 'data_dir': None, ..., 'output_dir': ''}
    """
    nb = nbformat.read(str(notebook), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ParamsError(f"trialkit: notebook {notebook} has no cell tagged 'parameters'; "
                          "papermill needs one to inject the params file's values.")
    # parse the cell rather than run it: a notebook's signature must be plain literals
    tree = ast.parse(cells[0].source)
    found: dict[str, Any] = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else \
            node.target if isinstance(node, ast.AnnAssign) and node.value is not None else None
        if isinstance(target, ast.Name):
            try:
                found[target.id] = ast.literal_eval(node.value)
            except ValueError:
                found[target.id] = _ANY
    return found


def collect_parameters(notebooks: Mapping[str, Path]) -> dict[str, dict[str, Any]]:
    """``{report: {name: default}}`` for every notebook (see :func:`read_notebook_parameters`)."""
    return {name: read_notebook_parameters(path) for name, path in notebooks.items()}


def allowed_types(parameters: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[type, ...] | object]:
    """The keys some notebook declares, with their accepted Python types (DESIGN section 3's
    for the standard keys, else the type of the notebook's default).

    Example:
        >>> allowed_types({"overview": {"data_cutoff": "", "top_n": 10}})
        {'data_cutoff': (<class 'str'>, <class 'datetime.date'>, <class 'NoneType'>), 'top_n': (<class 'int'>,)}
    """
    types: dict[str, tuple[type, ...] | object] = {}
    for declared in parameters.values():
        for name, default in declared.items():
            if name in types or name in RESERVED_KEYS:
                continue
            types[name] = STANDARD_TYPES.get(name) or _type_of_default(default)
    return types


def _type_of_default(default: Any) -> tuple[type, ...] | object:
    if default is None or default is _ANY:
        return _ANY
    if isinstance(default, bool):
        return (bool,)
    if isinstance(default, float):
        return (int, float)  # 2 is a fine value for a float parameter
    if isinstance(default, (tuple, list)):
        return (list,)
    return (type(default),)


# ---------------------------------------------------------------------------------------
# loading and checking
# ---------------------------------------------------------------------------------------

def load_params_files(params_files: Sequence[str | Path], *, notebooks: Mapping[str, Path],
                      reports: Sequence[str] | None = None) -> list[RunParams]:
    """Load, check and resolve every params file; nothing runs unless all are valid.

    Args:
        params_files: the YAML files, one run folder each.
        notebooks: ``{report name: notebook path}`` of every available report.
        reports: report names chosen on the command line (override a file's ``reports``).

    Returns:
        One :class:`RunParams` per file, in the given order.

    Raises:
        ParamsError: every problem of every file at once, each line naming the file and key.

    Example:
        >>> load_params_files(["params/dmeo.yaml"], notebooks={})  # doctest: +SKIP
        ParamsError: trialkit: params file params/dmeo.yaml does not exist.
    """
    if not params_files:
        raise ParamsError("trialkit: no params file given; e.g. trialkit run params/demo.yaml")
    check_report_names(reports, notebooks, where="--reports")
    types = allowed_types(collect_parameters(notebooks))
    problems: list[str] = []
    loaded: list[tuple[Path, dict[str, Any]]] = []
    for file in params_files:
        path = Path(file)
        try:
            raw, lines = read_params_file(path)
        except ParamsError as exc:
            problems.append(str(exc))
            continue
        problems += check_params(raw, lines, path=path, types=types, notebooks=notebooks)
        loaded.append((path, raw))
    if problems:
        raise ParamsError("\n".join(problems))
    runs = [resolve_params(raw, path=path, reports=reports) for path, raw in loaded]
    check_unique_run_names(runs)
    return runs


def read_params_file(path: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """Read one params file: its mapping and the line of each key (for messages).

    An empty file is an empty mapping (every default); anything else that is not a
    mapping is an error. The file is untrusted: at most :data:`MAX_PARAMS_BYTES`, no YAML
    aliases; a file that cannot be read is a :class:`ParamsError` naming it and the fix.
    Site and arm codes written as plain numbers are kept as written (``01``, not 1).
    """
    text = _read_params_text(path)
    loader = _ParamsLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _AliasRefused as exc:
        raise ParamsError(
            f"trialkit: params file {path}, line {exc.problem_mark.line + 1}: the YAML alias "
            f"*{clip(exc.anchor, 40)} is not accepted in a params file (aliases can make a few bytes "
            f"stand for gigabytes); write the value out in full.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ParamsError(f"trialkit: params file {path}{where}: not valid YAML ({clip(problem)}).") from None
    except RecursionError:
        raise ParamsError(f"trialkit: params file {path}: values are nested too deeply to be params; "
                          f"a params file holds key: value lines with short lists.") from None
    finally:
        loader.dispose()
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ParamsError(f"trialkit: params file {path}, line {node.start_mark.line + 1}: expected a "
                          f"mapping of key: value lines, found a {type(data).__name__}.")
    lines: dict[str, int] = {}
    values = {str(k): v for k, v in data.items()}
    for key_node, value_node in node.value:
        key, line = str(key_node.value), key_node.start_mark.line + 1
        if key in lines:  # YAML would silently keep the last one
            raise ParamsError(f"trialkit: params file {path}, line {line}, key '{clip(key, 60)}': given twice "
                              f"(also line {lines[key]}); keep one.")
        lines[key] = line
        if key in ("sites", "arms") and isinstance(value_node, yaml.SequenceNode) and isinstance(values[key], list):
            values[key] = _codes_as_written(value_node, values[key])
    return values, lines


def _read_params_text(path: Path) -> str:
    """The text of a params file, or a ParamsError naming it and the fix (never an OSError)."""
    try:
        if not path.exists():
            raise ParamsError(f"trialkit: params file {clip(path)} does not exist.")
        if path.is_dir():
            raise ParamsError(f"trialkit: params file {clip(path)} is a folder; give a YAML file "
                              f"(e.g. {clip(path, 120)}/demo.yaml).")
        if not path.is_file():
            raise ParamsError(f"trialkit: params file {clip(path)} is not a regular file (a pipe or a "
                              f"device); give a YAML file.")
        with open(path, "rb") as handle:
            raw = handle.read(MAX_PARAMS_BYTES + 1)
    except OSError as exc:
        raise ParamsError(describe_os_error(exc, doing="read the params file", path=path)) from None
    if len(raw) > MAX_PARAMS_BYTES:
        raise ParamsError(f"trialkit: params file {clip(path)} is larger than {MAX_PARAMS_BYTES // 1024} KB; "
                          f"a params file holds a few key: value lines (params/demo.yaml is under 2 KB). "
                          f"Check that it is the right file.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParamsError(f"trialkit: params file {clip(path)} is not UTF-8 text (byte {exc.start}); "
                          "save it as UTF-8.") from None


def _codes_as_written(node: yaml.SequenceNode, values: list[Any]) -> list[Any]:
    """A list of codes with each plain number kept as written: ``[01, 010]`` -> ``["01", "010"]``.

    YAML reads ``01`` as the number 1 and ``010`` as the octal number 8; a site or arm code
    means its digits. :func:`trialkit.study.match_site_codes` then matches them.
    """
    return [item.value if isinstance(item, yaml.ScalarNode) and item.tag == "tag:yaml.org,2002:int" else value
            for item, value in zip(node.value, values)]


def check_params(raw: Mapping[str, Any], lines: Mapping[str, int], *, path: Path,
                 types: Mapping[str, Any], notebooks: Mapping[str, Path]) -> list[str]:
    """Every problem of one params file, one message each (empty when the file is valid)."""
    problems = []
    protocol = ParamsProtocol(raw, base=path.parent)
    for key, value in raw.items():
        where = f"trialkit: params file {path}, line {lines.get(key, '?')}, key '{clip(key, 60)}'"
        problem = check_key(key, value, types=types, notebooks=notebooks, base=path.parent,
                            protocol=protocol)
        if problem:
            problems.append(f"{where}: {problem}")
    if len(problems) > MAX_PROBLEMS:
        problems = problems[:MAX_PROBLEMS] + [f"trialkit: params file {path}: {len(problems) - MAX_PROBLEMS} "
                                              f"more problem(s) not listed; fix the ones above first."]
    return problems


class ParamsProtocol:
    """The protocol of a params file's study, resolved once and only when a check needs it.

    Calling it returns the :class:`~trialkit.protocol.Protocol`, or None when the file's own
    ``study`` or ``data_dir`` is wrong (that key reports its own problem).
    """

    def __init__(self, raw: Mapping[str, Any], *, base: Path):
        self.raw, self.base = raw, base
        self._done, self._protocol = False, None

    def __call__(self) -> Any:
        if not self._done:
            self._done = True
            from trialkit.errors import TrialkitError
            from trialkit.study import protocol_of_folder, resolve_parameters

            study = self.raw.get("study")
            data_dir = self.raw.get("data_dir")
            try:
                params = resolve_parameters(study=study if isinstance(study, str) else "",
                                            data_dir=data_dir if isinstance(data_dir, str) else "", base=self.base)
                self._protocol = protocol_of_folder(params)
            except (TrialkitError, OSError, ValueError):
                self._protocol = None
        return self._protocol


def check_key(key: str, value: Any, *, types: Mapping[str, Any], notebooks: Mapping[str, Path],
              base: Path, protocol: Any = None) -> str | None:
    """What is wrong with one key and value, or None.

    Example:
        >>> check_key("data_cutof", "2026-10-31", types=STANDARD_TYPES, notebooks={},
        ...           base=Path(".")).splitlines()[0]
        "is not a parameter of any report (did you mean 'data_cutoff'?)."
        >>> from trialkit.protocol import load_protocol
        >>> check_key("assessor", "bicr", types=STANDARD_TYPES, notebooks={}, base=Path("."),
        ...           protocol=lambda: load_protocol("NCT07334483")) is None
        True
    """
    if key in RESERVED_KEYS:
        return "is reserved: the runner sets it to the run folder; remove it."
    if key in RUNNER_KEYS and (value is None or value == ""):
        return None  # the runner's default: every report, the default run name
    if key == "reports":
        return check_reports_value(value, notebooks)
    if key == "run_name":
        return None if isinstance(value, str) and _RUN_NAME.match(value) and len(value) <= 100 else \
            "must be a folder name of at most 100 letters, digits, '.', '_' or '-' (e.g. demo_q3)."
    if key in DELIVERY_KEYS:
        if value is None:
            return None  # null: no e-mail from this file
        return check_bounds(key, value) or check_email_value(value)
    if key not in types:
        return unknown_key_message(key, list(types) + list(RUNNER_KEYS) + list(DELIVERY_KEYS))
    if value is None or (isinstance(value, str) and value == ""):
        return None  # null (or "") takes the notebook's own default: it is not injected
    too_big = check_bounds(key, value)
    if too_big:
        return too_big
    expected = types[key]
    if expected is not _ANY and not isinstance(value, expected):
        return f"expected {_describe(expected)}, got {type(value).__name__} {quote(value)}."
    if isinstance(expected, tuple) and bool not in expected and isinstance(value, bool):
        return f"expected {_describe(expected)}, got a boolean ({value!r})."
    return check_value(key, value, base=base, protocol=protocol)


def check_email_value(value: Any) -> str | None:
    """What is wrong with a params file's ``email`` mapping, or None.

    Example:
        >>> check_email_value({"to": ["jane@hospital.example"], "cc": "li@hospital.example"}) is None
        True
        >>> check_email_value({"to": ["jane@hospital"]})
        "email.to: 'jane@hospital' is not an e-mail address (e.g. jane.doe@hospital.example)."
        >>> check_email_value({"to": ["a@b.org"], "password": "x"}).split(";")[0]
        'email.password: SMTP settings (server, user, password) never go in a params file'
    """
    if not isinstance(value, dict):
        return ("expected a mapping of e-mail settings, e.g.\n  email:\n    to: [jane.doe@hospital.example]\n"
                "    cc: []")
    for key, item in value.items():
        key = str(key)
        if key.lower() in SMTP_WORDS or key.lower().startswith("smtp"):
            return (f"email.{key}: SMTP settings (server, user, password) never go in a params file; "
                    "remove it and set TRIALKIT_SMTP_HOST, TRIALKIT_SMTP_USER and TRIALKIT_SMTP_PASSWORD_FILE "
                    "(or ~/.config/trialkit/smtp.toml) instead (README: Sending reports).")
        if key not in EMAIL_KEYS:
            return (f"email.{key} is not an e-mail setting{did_you_mean(key, EMAIL_KEYS)}; "
                    f"known: {', '.join(EMAIL_KEYS)}.")
        problem = check_email_item(key, item)
        if problem:
            return f"email.{key}: {problem}"
    if not value.get("to"):
        return "email.to is missing: name at least one recipient, e.g. to: [jane.doe@hospital.example]."
    return None


def check_email_item(key: str, item: Any) -> str | None:
    """One ``email`` setting's value (see :data:`EMAIL_KEYS`)."""
    if key in ("to", "cc"):
        addresses = [item] if isinstance(item, str) else item
        if addresses is None:
            return None
        if not isinstance(addresses, list):
            return f"expected {EMAIL_KEYS[key]}, got {type(item).__name__} {quote(item)}."
        for address in addresses:
            problem = check_address(address)
            if problem:
                return problem
        return None
    if key in ("zip", "pack"):
        return None if isinstance(item, bool) else f"expected true or false, got {quote(item)}."
    if key == "max_mb":
        if isinstance(item, bool) or not isinstance(item, (int, float)) or item <= 0:
            return f"expected a number of megabytes above 0 (e.g. 10), got {quote(item)}."
        return None
    if key == "subject":
        return check_subject(item)
    return None


def check_address(address: Any) -> str | None:
    """None for one e-mail address (``jane@x.org`` or ``Jane Doe <jane@x.org>``), else the problem.

    Example:
        >>> check_address("Jane Doe <jane.doe@hospital.example>") is None
        True
        >>> check_address("a@b.org, c@d.org")
        "'a@b.org, c@d.org' holds several addresses: write one per list item, e.g. [a@b.org, c@d.org]."
    """
    import email.utils

    if not isinstance(address, str) or not address.strip():
        return f"expected an e-mail address, got {quote(address)}."
    if "\r" in address or "\n" in address:
        return f"{quote(address)} holds a line break."
    parsed = email.utils.getaddresses([address])
    if len(parsed) != 1:
        return (f"{quote(address)} holds several addresses: write one per list item, "
                f"e.g. [{', '.join(a for _, a in parsed)}].")
    if not _ADDRESS.match(parsed[0][1]):
        return f"{quote(address)} is not an e-mail address (e.g. jane.doe@hospital.example)."
    return None


def check_subject(subject: Any) -> str | None:
    """A subject line: text on one line whose ``{fields}`` are study, cutoff or run_name."""
    import string

    if not isinstance(subject, str) or not subject.strip():
        return f"expected text, got {quote(subject)}."
    if "\r" in subject or "\n" in subject:
        return "must be one line."
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(subject) if f is not None]
    except ValueError as exc:
        return f"{quote(subject)}: {exc} (write {{{{ and }}}} for literal braces)."
    unknown = [f for f in fields if f not in SUBJECT_FIELDS]
    if unknown:
        return (f"unknown field {{{unknown[0]}}}{did_you_mean(unknown[0], SUBJECT_FIELDS)}; "
                f"fields: {', '.join('{' + f + '}' for f in SUBJECT_FIELDS)}.")
def check_bounds(key: str, value: Any, *, depth: int = 0) -> str | None:
    """What makes a value too big or unsafe to use, or None: text longer than
    :data:`MAX_TEXT_CHARS` (a title: :data:`TITLE_MAX_CHARS`), a control character, more than
    :data:`MAX_ITEMS` items, nesting deeper than three levels.

    Example:
        >>> check_bounds("title", "x" * 500)
        'is 500 characters long; at most 200 are accepted.'
    """
    if isinstance(value, str):
        limit = TITLE_MAX_CHARS if key == "title" else MAX_TEXT_CHARS
        if len(value) > limit:
            return f"is {len(value):,} characters long; at most {limit} are accepted."
        bad = _CONTROL.search(value)
        if bad:
            return (f"holds a control character ({bad.group()!r} at position {bad.start() + 1}) in "
                    f"{quote(value)}; remove it.")
        return None
    if isinstance(value, (list, dict)):
        if depth >= 3:
            return "is nested more than three levels deep."
        if len(value) > MAX_ITEMS:
            return f"has {len(value):,} items; at most {MAX_ITEMS} are accepted."
        items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
        for item_key, item in items:
            problem = (check_bounds(key, item_key, depth=depth + 1) if item_key is not None else None) or \
                check_bounds(key, item, depth=depth + 1)
            if problem:
                return problem
    return None


def unknown_key_message(key: str, known: Iterable[str]) -> str:
    """'is not a parameter of any report (did you mean ...)' with the closest known key."""
    known = sorted(set(known))
    return f"is not a parameter of any report{did_you_mean(key, known)}.\n  Known keys: {', '.join(known)}"


def did_you_mean(value: Any, options: Iterable[str], cutoff: float = 0.6) -> str:
    """" (did you mean 'BICR'?)" for the closest option, ignoring case; "" when none is close.

    Example:
        >>> did_you_mean("data_cutof", ["data_cutoff", "data_dir"])
        " (did you mean 'data_cutoff'?)"
    """
    by_lower = {o.lower(): o for o in options}
    close = difflib.get_close_matches(str(value).lower(), list(by_lower), n=1, cutoff=cutoff)
    return f" (did you mean '{by_lower[close[0]]}'?)" if close else ""


def check_value(key: str, value: Any, *, base: Path, protocol: Any = None) -> str | None:
    """The value rules of DESIGN section 3 for one key of the right type.

    ``protocol`` (a callable returning the study's Protocol or None) checks the keys whose
    values the protocol names: ``assessor``, ``criteria``, ``arms``.
    """
    if key in CHOICES and value not in CHOICES[key]:
        return f"{quote(value)} is not one of {' | '.join(CHOICES[key])}{did_you_mean(value, CHOICES[key], 0.5)}."
    if key == "data_cutoff" and value not in (None, ""):
        return check_iso_date(value)
    if key == "data_dir" and value not in (None, ""):
        return check_data_dir_value(value, base=base)
    if key in ("sites", "arms") and value is not None:
        if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            return f"expected a list of codes such as [{'A, B' if key == 'arms' else '01, 02'}], got {quote(value)}."
    if key == "study":
        return check_study_value(value, base=base)
    if key == "adam_paramcd" and value:
        from trialkit.derive.response import ADAM_PARAMCDS

        unknown = [str(k) for k in value if k not in ADAM_PARAMCDS]
        if unknown:
            return (f"has the key(s) {', '.join(unknown)}; the keys are {', '.join(ADAM_PARAMCDS)} "
                    f"(e.g. adam_paramcd: {{sum: SLDINV, overall: OVRINV}}).")
    if key in ("assessor", "criteria", "arms", "sites") and protocol is not None and value not in (None, "", []):
        found = protocol()
        return check_protocol_value(key, value, found) if found is not None else None
    return None


def check_data_dir_value(value: Any, *, base: Path) -> str | None:
    """``data_dir`` must be a folder that exists (relative: from the params file's folder)."""
    try:
        folder = Path(value).expanduser()
        folder = (folder if folder.is_absolute() else base / folder).resolve()
        if folder.is_dir():
            return None
        what = "is a file, not a folder" if folder.exists() else "does not exist"
    except OSError as exc:  # a name too long, a symlink loop, a folder we may not enter
        return describe_os_error(exc, doing="use the folder", path=value).removeprefix("trialkit: ")
    return (f"folder {clip(folder)} {what} (a relative data_dir is read from the params "
            f"file's folder, {clip(base.resolve())}); omit data_dir to use the built-in demo study.")


def check_iso_date(value: Any) -> str | None:
    """None when value is a real ISO date (YAML may already have parsed it to a date)."""
    if isinstance(value, dt.datetime):
        return f"expected a date (YYYY-MM-DD), got a date-time {value.isoformat()}."
    if isinstance(value, dt.date):
        return None
    if not _ISO_DATE.match(value):
        return f"{quote(value)} is not an ISO date; write YYYY-MM-DD, e.g. 2026-10-31."
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return f"{quote(value)} is not a real date."
    return None


def check_study_value(value: Any, *, base: Path) -> str | None:
    """``study`` must name a shipped protocol (id or sponsor code) or a protocol YAML file."""
    from trialkit.protocol import load_protocol

    if value in (None, ""):
        return None
    text = str(value)
    if Path(text).suffix.lower() in (".yaml", ".yml") and not Path(text).is_absolute():
        text = str((base / text).resolve())
    try:
        load_protocol(text)
    except ProtocolError as exc:
        return clip(str(exc).removeprefix("trialkit: "), 600)
    except OSError as exc:
        return describe_os_error(exc, doing="read the protocol file", path=value).removeprefix("trialkit: ")
    return None


def check_protocol_value(key: str, value: Any, protocol: Any) -> str | None:
    """``assessor`` and ``criteria`` must be names the protocol knows; ``arms`` its arm codes;
    ``sites`` its site ids (:func:`trialkit.study.match_site_codes`: numbers zero-padded).

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> check_protocol_value("criteria", "mrecst", load_protocol("NCT07334483"))
        "'mrecst' is not criteria of NCT07334483 (ST561-1): mRECIST | RECIST 1.1 (did you mean 'mRECIST'?)."
    """
    if key == "sites":
        from trialkit.study import match_site_codes

        try:
            match_site_codes(value, protocol.site_ids, study=protocol.display_id)
        except ParamsError as exc:
            return str(exc).removeprefix("trialkit: ")
        return None
    if key == "arms":
        unknown = [str(a) for a in value if str(a) not in protocol.arm_codes]
        if unknown:
            hint = did_you_mean(unknown[0], protocol.arm_codes, 0.5)
            return (f"arm code(s) {clip(', '.join(unknown))} not in the protocol "
                    f"({protocol.display_id}: {', '.join(protocol.arm_codes) or 'no arms'}){hint}.")
        return None
    kind = "assessor" if key == "assessor" else "criteria"
    found = protocol.assessor_key(value) if kind == "assessor" else protocol.criteria_key(value)
    if found is None:
        names = protocol.spellings(kind)
        what = "an assessor" if kind == "assessor" else "criteria"
        return (f"{quote(value)} is not {what} of {protocol.display_id}: {' | '.join(names)}"
                f"{did_you_mean(value, names, 0.5)}.")
    return None


def check_reports_value(value: Any, notebooks: Mapping[str, Path]) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return f"expected a list of report names such as [{', '.join(sorted(notebooks)[:2])}], got {quote(value)}."
    try:
        check_report_names(value, notebooks, where="reports")
    except ParamsError as exc:
        return str(exc).split(": ", 1)[1]
    return None


def check_report_names(reports: Sequence[str] | None, notebooks: Mapping[str, Path], *, where: str) -> None:
    """Raise ParamsError when a chosen report has no notebook."""
    for name in reports or ():
        if name not in notebooks:
            raise ParamsError(f"trialkit: {where}: no report named '{clip(name, 80)}'"
                              f"{did_you_mean(clip(name, 80), notebooks)}.\n"
                              f"  Reports: {', '.join(sorted(notebooks)) or '(no notebooks found)'}")


def _describe(expected: tuple[type, ...]) -> str:
    names = {str: "text", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a mapping", dt.date: "a date", type(None): "null"}
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in expected))


# ---------------------------------------------------------------------------------------
# resolving
# ---------------------------------------------------------------------------------------

def resolve_params(raw: Mapping[str, Any], *, path: Path, reports: Sequence[str] | None) -> RunParams:
    """Turn a checked params mapping into what the runner needs (absolute paths, ISO dates).

    ``data_dir``, ``data_cutoff`` and ``study`` go through
    :func:`trialkit.study.resolve_parameters` (relative paths from the params file's
    folder), as in a notebook run by hand; ``assessor`` and ``criteria`` become the
    protocol's own names (``bicr`` -> ``BICR``).

    Example:
        >>> resolve_params({}, path=Path("params/demo.yaml"), reports=None).run_name  # doctest: +SKIP
        'demo_2026-10-31'
    """
    from trialkit.study import match_site_codes, protocol_of_folder, resolve_parameters

    # null (or "") means "the notebook's own default": such keys are not injected at all
    values = {k: v for k, v in raw.items() if k not in RUNNER_KEYS and v is not None and v != ""}
    cutoff = values.get("data_cutoff")
    resolved = resolve_parameters(study=values.get("study", ""), data_dir=values.get("data_dir", ""),
                                  data_cutoff=cutoff.isoformat() if isinstance(cutoff, dt.date) else cutoff or "",
                                  sites=values.get("sites"), arms=values.get("arms"), base=path.parent)
    protocol = protocol_of_folder(resolved)
    values["data_dir"] = str(resolved.data_dir)
    if resolved.study:
        values["study"] = resolved.study
    if resolved.data_cutoff is not None:
        values["data_cutoff"] = resolved.data_cutoff.isoformat()
    for key in ("sites", "arms"):
        if key in values:
            values[key] = [str(v) for v in values[key]]
    if values.get("sites"):  # as the protocol writes them: [1, 3] -> ["01", "03"]
        values["sites"] = list(match_site_codes(values["sites"], protocol.site_ids, study=protocol.display_id))
    if "assessor" in values:
        values["assessor"] = protocol.assessor_key(values["assessor"]) or values["assessor"]
    if "criteria" in values:
        key = protocol.criteria_key(values["criteria"])
        values["criteria"] = protocol.criteria[key]["label"] if key else values["criteria"]
    run_name = raw.get("run_name") or f"{path.stem}_{values.get('data_cutoff') or 'nocutoff'}"
    chosen = list(reports) if reports else raw.get("reports")
    return RunParams(path=path, values=values, run_name=run_name, reports=chosen,
                     data_dir=resolved.data_dir, demo=resolved.demo, raw=dict(raw), protocol=protocol)


def check_unique_run_names(runs: Sequence[RunParams]) -> None:
    """Two params files must not write the same run folder."""
    seen: dict[str, Path] = {}
    for run in runs:
        if run.run_name in seen:
            raise ParamsError(f"trialkit: params files {seen[run.run_name]} and {run.path} both write "
                              f"the run folder '{run.run_name}'; set run_name in one of them.")
        seen[run.run_name] = run.path
