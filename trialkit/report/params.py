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
sites                list of site ids, e.g. ["01"]       all sites
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

``data_dir``, ``data_cutoff`` and ``study`` are resolved by
:func:`trialkit.study.resolve_parameters`, the same function a notebook uses when run by
hand, so a run and an interactive session read the same data. ``assessor``, ``criteria``
and ``arms`` are checked against the protocol of the study (given, matched, or generic).
A key set to ``null`` (or ``""``) takes the notebook's own default (it is not injected).
Other parameters a notebook declares are typed by their default there (str, int, float,
bool, list, dict; a ``None`` default takes anything).

Keys the runner itself reads (never passed to a notebook):

- ``reports``: list of report names (notebook stems) to run; ``trialkit run --reports``
  overrides it. Default: every notebook in ``notebooks/``.
- ``run_name``: the run folder's name (letters, digits, ``._-``). Default:
  ``<params file stem>_<data_cutoff>`` (``_nocutoff`` when there is none).

``output_dir`` is reserved: the runner sets it to the run folder.

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

from trialkit.errors import ParamsError, ProtocolError

RESERVED_KEYS = ("output_dir",)
RUNNER_KEYS = ("reports", "run_name")
_ANY = object()  # a parameter whose default is None (or not a literal): any value goes
_RUN_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

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
}


class _ParamsLoader(yaml.SafeLoader):
    """SafeLoader that keeps an impossible date (2026-02-30) as text for a clear message."""


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
    mapping is an error.
    """
    if not path.is_file():
        raise ParamsError(f"trialkit: params file {path} does not exist.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ParamsError(f"trialkit: params file {path} is not UTF-8 text (byte {exc.start}); "
                          "save it as UTF-8.") from None
    try:
        node = yaml.compose(text)
        data = yaml.load(text, Loader=_ParamsLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ParamsError(f"trialkit: params file {path}{where}: not valid YAML ({problem}).") from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ParamsError(f"trialkit: params file {path}, line {node.start_mark.line + 1}: expected a "
                          f"mapping of key: value lines, found a {type(data).__name__}.")
    lines: dict[str, int] = {}
    for key_node, _ in node.value:
        key, line = str(key_node.value), key_node.start_mark.line + 1
        if key in lines:  # YAML would silently keep the last one
            raise ParamsError(f"trialkit: params file {path}, line {line}, key '{key}': given twice "
                              f"(also line {lines[key]}); keep one.")
        lines[key] = line
    return {str(k): v for k, v in data.items()}, lines


def check_params(raw: Mapping[str, Any], lines: Mapping[str, int], *, path: Path,
                 types: Mapping[str, Any], notebooks: Mapping[str, Path]) -> list[str]:
    """Every problem of one params file, one message each (empty when the file is valid)."""
    problems = []
    protocol = ParamsProtocol(raw, base=path.parent)
    for key, value in raw.items():
        where = f"trialkit: params file {path}, line {lines.get(key, '?')}, key '{key}'"
        problem = check_key(key, value, types=types, notebooks=notebooks, base=path.parent,
                            protocol=protocol)
        if problem:
            problems.append(f"{where}: {problem}")
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
            except (TrialkitError, OSError):
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
    if key == "reports":
        return check_reports_value(value, notebooks)
    if key == "run_name":
        return None if isinstance(value, str) and _RUN_NAME.match(value) else \
            "must be a folder name of letters, digits, '.', '_' or '-' (e.g. demo_q3)."
    if key not in types:
        return unknown_key_message(key, list(types) + list(RUNNER_KEYS))
    expected = types[key]
    if expected is not _ANY and not isinstance(value, expected):
        return f"expected {_describe(expected)}, got {type(value).__name__} {value!r}."
    if isinstance(expected, tuple) and bool not in expected and isinstance(value, bool):
        return f"expected {_describe(expected)}, got a boolean ({value!r})."
    return check_value(key, value, base=base, protocol=protocol)


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
        return f"{value!r} is not one of {' | '.join(CHOICES[key])}{did_you_mean(value, CHOICES[key], 0.5)}."
    if key == "data_cutoff" and value not in (None, ""):
        return check_iso_date(value)
    if key == "data_dir" and value not in (None, ""):
        folder = Path(value).expanduser()
        folder = (folder if folder.is_absolute() else base / folder).resolve()
        if not folder.is_dir():
            return (f"folder {folder} does not exist (a relative data_dir is read from the params "
                    f"file's folder, {base.resolve()}); omit data_dir to use the built-in demo study.")
    if key in ("sites", "arms") and value is not None:
        if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            return f"expected a list of codes such as [{'A, B' if key == 'arms' else '01, 02'}], got {value!r}."
    if key == "study":
        return check_study_value(value, base=base)
    if key == "adam_paramcd" and value:
        from trialkit.derive.response import ADAM_PARAMCDS

        unknown = [str(k) for k in value if k not in ADAM_PARAMCDS]
        if unknown:
            return (f"has the key(s) {', '.join(unknown)}; the keys are {', '.join(ADAM_PARAMCDS)} "
                    f"(e.g. adam_paramcd: {{sum: SLDINV, overall: OVRINV}}).")
    if key in ("assessor", "criteria", "arms") and protocol is not None and value not in (None, ""):
        found = protocol()
        return check_protocol_value(key, value, found) if found is not None else None
    return None


def check_iso_date(value: Any) -> str | None:
    """None when value is a real ISO date (YAML may already have parsed it to a date)."""
    if isinstance(value, dt.datetime):
        return f"expected a date (YYYY-MM-DD), got a date-time {value.isoformat()}."
    if isinstance(value, dt.date):
        return None
    if not _ISO_DATE.match(value):
        return f"{value!r} is not an ISO date; write YYYY-MM-DD, e.g. 2026-10-31."
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return f"{value!r} is not a real date."
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
        return str(exc).removeprefix("trialkit: ")
    return None


def check_protocol_value(key: str, value: Any, protocol: Any) -> str | None:
    """``assessor`` and ``criteria`` must be names the protocol knows; ``arms`` its arm codes.

    Example:
        >>> from trialkit.protocol import load_protocol
        >>> check_protocol_value("criteria", "mrecst", load_protocol("NCT07334483"))
        "'mrecst' is not criteria of NCT07334483 (ST561-1): mRECIST | RECIST 1.1 (did you mean 'mRECIST'?)."
    """
    if key == "arms":
        unknown = [str(a) for a in value if str(a) not in protocol.arm_codes]
        if unknown:
            hint = did_you_mean(unknown[0], protocol.arm_codes, 0.5)
            return (f"arm code(s) {', '.join(unknown)} not in the protocol "
                    f"({protocol.display_id}: {', '.join(protocol.arm_codes) or 'no arms'}){hint}.")
        return None
    kind = "assessor" if key == "assessor" else "criteria"
    found = protocol.assessor_key(value) if kind == "assessor" else protocol.criteria_key(value)
    if found is None:
        names = protocol.spellings(kind)
        what = "an assessor" if kind == "assessor" else "criteria"
        return (f"{value!r} is not {what} of {protocol.display_id}: {' | '.join(names)}"
                f"{did_you_mean(value, names, 0.5)}.")
    return None


def check_reports_value(value: Any, notebooks: Mapping[str, Path]) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return f"expected a list of report names such as [{', '.join(sorted(notebooks)[:2])}], got {value!r}."
    try:
        check_report_names(value, notebooks, where="reports")
    except ParamsError as exc:
        return str(exc).split(": ", 1)[1]
    return None


def check_report_names(reports: Sequence[str] | None, notebooks: Mapping[str, Path], *, where: str) -> None:
    """Raise ParamsError when a chosen report has no notebook."""
    for name in reports or ():
        if name not in notebooks:
            raise ParamsError(f"trialkit: {where}: no report named '{name}'{did_you_mean(name, notebooks)}.\n"
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
    from trialkit.study import protocol_of_folder, resolve_parameters

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
