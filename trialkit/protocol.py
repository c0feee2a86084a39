"""The protocol file: the trial's rules and vocabularies as data (DESIGN sections 1 and 3).

A protocol file (``trialkit/protocols/<id>.yaml``) names the study (registry id, sponsor
code, title, the confidentiality line of every page), its sites, its arms (codes, labels;
their order is the order of every legend and of the theme's arm colours), treatments and
dosing windows, the eligibility catalog and the response criteria with the names of the
assessors and criteria (and their accepted spellings). Code reads every such number and
name from here; another trial is another file.

Which protocol applies (DESIGN section 3):

- :func:`load_protocol` takes a registry id or sponsor code of a shipped file
  (``"NCT07334483"``, ``"ST561-1"``, any case) or the path of a YAML file;
- :func:`find_protocol` finds the shipped file whose id or sponsor code is a data set's
  STUDYID;
- :func:`generic_protocol` builds one for a study without a file: the study id, arms and
  sites come from the data, the response conventions from ``protocols/_generic.yaml``
  (RECIST 1.1 as admiral implements it), and there are no dosing windows or eligibility
  criteria (``protocol.generic`` is True, and every check needing those says it was skipped).

Example:
    >>> protocol = load_protocol("NCT07334483")
    >>> protocol.arm_codes
    ['A', 'B', 'C', 'D']
    >>> protocol.treatment("CAMRELIZUMAB")["interval_days"]
    21
    >>> load_protocol("st561-1").study_id, protocol.assessor_key("independent assessor")
    ('NCT07334483', 'BICR')
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from trialkit.errors import ProtocolError, clip, describe_os_error, quote

_REQUIRED = ("study", "sites", "arms", "treatments", "response", "eligibility")
_GENERIC = "_generic.yaml"


def normalize_name(value: Any) -> str:
    """A name as vocabularies compare it: upper case, letters and digits only.

    Example:
        >>> normalize_name("RECIST v1.1"), normalize_name("Independent  Assessor")
        ('RECISTV11', 'INDEPENDENTASSESSOR')
    """
    return re.sub(r"[^A-Z0-9]", "", str(value).upper())


@dataclass(frozen=True)
class Protocol:
    """A parsed protocol file. ``raw`` is the YAML as read; the properties are shortcuts.

    Attributes:
        raw: the protocol as a mapping.
        source: where it came from (the file, or "generic protocol built from the data").
        generic: True for a protocol built from the data (no file).
    """

    raw: dict[str, Any]
    source: str
    generic: bool = field(default=False)

    # ------------------------------------------------------------------ the study
    @property
    def study(self) -> dict[str, Any]:
        return self.raw["study"]

    @property
    def study_id(self) -> str:
        return str(self.raw["study"]["id"])

    @property
    def sponsor_code(self) -> str | None:
        code = self.raw["study"].get("sponsor_code")
        return str(code) if code else None

    @property
    def ids(self) -> list[str]:
        """Every name the study goes by: registry id and sponsor code (as written)."""
        return [self.study_id] + ([self.sponsor_code] if self.sponsor_code else [])

    @property
    def display_id(self) -> str:
        """'NCT07334483 (ST561-1)', or the id alone: how headers name the study."""
        return f"{self.study_id} ({self.sponsor_code})" if self.sponsor_code else self.study_id

    @property
    def title(self) -> str:
        return str(self.raw["study"].get("title") or f"Study {self.study_id}")

    @property
    def confidentiality(self) -> str:
        """The confidentiality line of every page and e-mail of this study."""
        text = self.raw["study"].get("confidentiality") or "Confidential: contains trial data of {study}; do not forward"
        return str(text).replace("{study}", self.display_id)

    def matches(self, studyid: Any) -> bool:
        """True when ``studyid`` (a STUDYID value) is this protocol's id or sponsor code."""
        return normalize_name(studyid) in {normalize_name(i) for i in self.ids}

    # ------------------------------------------------------------------ arms and sites
    @property
    def arms(self) -> list[dict[str, Any]]:
        return self.raw["arms"]

    @property
    def arm_codes(self) -> list[str]:
        return [str(a["armcd"]) for a in self.arms]

    @property
    def arm_labels(self) -> dict[str, str]:
        """Arm code -> the short label of tables and legends, in protocol (colour) order.

        Example:
            >>> load_protocol("NCT07334483").arm_labels["D"]
            'D: cTACE'
        """
        return {str(a["armcd"]): str(a.get("short") or a.get("arm") or a["armcd"]) for a in self.arms}

    def arm(self, armcd: str) -> dict[str, Any]:
        for a in self.arms:
            if str(a["armcd"]) == armcd:
                return a
        raise ProtocolError(
            f"trialkit: arm '{armcd}' is not in the protocol ({self.source}).\n"
            f"  Arms defined: {', '.join(self.arm_codes) or '(none)'}")

    @property
    def sites(self) -> list[dict[str, Any]]:
        return self.raw["sites"]

    @property
    def site_ids(self) -> list[str]:
        return [str(s["siteid"]) for s in self.sites]

    @property
    def site_labels(self) -> dict[str, str]:
        """SITEID -> "SITEID name" for axis and table labels (the id alone without a name).

        Example:
            >>> load_protocol("NCT07334483").site_labels["03"]
            '03 Zhongshan Hospital Fudan University'
        """
        return {str(s["siteid"]): f"{s['siteid']} {s['name']}" if s.get("name") else str(s["siteid"])
                for s in self.sites}

    # ------------------------------------------------------------------ rules
    @property
    def treatments(self) -> dict[str, Any]:
        return self.raw.get("treatments") or {}

    def treatment(self, key: str) -> dict[str, Any]:
        try:
            return self.treatments[key]
        except KeyError:
            raise ProtocolError(
                f"trialkit: treatment '{key}' is not in the protocol ({self.source}).\n"
                f"  Treatments defined: {', '.join(self.treatments) or '(none)'}") from None

    @property
    def response(self) -> dict[str, Any]:
        return self.raw["response"]

    @property
    def eligibility(self) -> list[dict[str, Any]]:
        return self.raw.get("eligibility") or []

    #: The group of a criterion whose category no group lists.
    OTHER_GROUP = "Other"

    @property
    def eligibility_groups(self) -> dict[str, str]:
        """Criterion category -> report group (``eligibility_groups`` of the file), in group order.

        Example:
            >>> load_protocol("NCT07334483").eligibility_groups["Laboratory values"]
            'Laboratory'
        """
        groups = self.raw.get("eligibility_groups") or {}
        return {str(category): str(group) for group, categories in groups.items() for category in categories or ()}

    @property
    def eligibility_group_order(self) -> list[str]:
        """The report groups in display order, ``Other`` last when the file does not place it.

        Example:
            >>> load_protocol("NCT07334483").eligibility_group_order[:2]
            ['Age/consent', 'Disease stage']
        """
        order = [str(g) for g in (self.raw.get("eligibility_groups") or {})]
        return order if self.OTHER_GROUP in order else order + [self.OTHER_GROUP]

    @property
    def screening_window_days(self) -> int | None:
        """Days allowed from consent to randomization (``screening.window_days``), or None.

        Example:
            >>> load_protocol("NCT07334483").screening_window_days
            28
        """
        value = (self.raw.get("screening") or {}).get("window_days")
        return int(value) if value is not None else None

    @property
    def planned_randomized(self) -> int | None:
        """The recruitment target (``study.planned_randomized``), or None (a generic protocol).

        Example:
            >>> load_protocol("NCT07334483").planned_randomized
            120
        """
        value = self.raw["study"].get("planned_randomized")
        return int(value) if value else None

    # ------------------------------------------------------------------ vocabularies
    @property
    def assessors(self) -> dict[str, str]:
        """Assessor name -> the --EVAL term of its records ({"BICR": "INDEPENDENT ASSESSOR", ...})."""
        return {str(k): str(v) for k, v in self.response["assessors"].items()}

    @property
    def criteria(self) -> dict[str, dict[str, str]]:
        """Criteria key -> {"label": "RECIST 1.1", "cat": "RECIST 1.1"} (the --CAT term)."""
        return {str(k): {"label": str(v.get("label") or k), "cat": str(v.get("cat") or k)}
                for k, v in self.response["criteria"].items()}

    @cached_property
    def _spellings(self) -> dict[str, dict[str, str]]:
        aliases = self.response.get("aliases") or {}
        table: dict[str, dict[str, str]] = {"assessor": {}, "criteria": {}}
        for key, term in self.assessors.items():
            for name in [key, term, *aliases.get(key, [])]:
                table["assessor"].setdefault(normalize_name(name), key)
        for key, names in self.criteria.items():
            for name in [key, names["label"], names["cat"], *aliases.get(key, [])]:
                table["criteria"].setdefault(normalize_name(name), key)
        return table

    def assessor_key(self, value: Any) -> str | None:
        """The assessor a params value or an --EVAL term names ("BICR", ...), or None.

        Example:
            >>> load_protocol("NCT07334483").assessor_key("bicr")
            'BICR'
        """
        return self._spellings["assessor"].get(normalize_name(value)) if value is not None else None

    def criteria_key(self, value: Any) -> str | None:
        """The criteria a params value or a --CAT term names ("MRECIST", "RECIST11"), or None.

        Example:
            >>> load_protocol("NCT07334483").criteria_key("recist 1.1")
            'RECIST11'
        """
        return self._spellings["criteria"].get(normalize_name(value)) if value is not None else None

    def vocabulary(self, kind: str) -> dict[str, str]:
        """Every accepted spelling of ``kind`` ("assessor" or "criteria"), normalized -> key."""
        return dict(self._spellings[kind])

    def spellings(self, kind: str) -> list[str]:
        """The accepted names of ``kind`` ("assessor" or "criteria"), for messages."""
        if kind == "assessor":
            return list(self.assessors)
        return [v["label"] for v in self.criteria.values()]


# ---------------------------------------------------------------------- loading
def load_protocol(protocol: str | Path | Protocol) -> Protocol:
    """Load a protocol by registry id or sponsor code (a file shipped in ``trialkit/protocols``) or path.

    Args:
        protocol: ``"NCT07334483"`` or ``"ST561-1"`` (any case), the path of a YAML file,
            or a ``Protocol`` (returned as is).

    Raises:
        ProtocolError: no such study, the file does not exist, is not YAML, or lacks a
            required section.
    """
    if isinstance(protocol, Protocol):
        return protocol
    if protocol is None or not str(protocol).strip():
        raise ProtocolError(
            "trialkit: no protocol given.\n"
            f"  Give a study id ({', '.join(shipped_ids()) or 'none shipped'}) or a protocol YAML file.")
    key = str(protocol).strip()
    if Path(key).suffix.lower() in (".yaml", ".yml"):
        try:
            found = Path(key).exists()
        except OSError as exc:
            raise ProtocolError(describe_os_error(exc, doing="read the protocol file", path=key)) from None
        return _load_file(str(Path(key).resolve()) if found else key)
    for candidate in _shipped():
        if candidate.matches(key):
            return candidate
    raise ProtocolError(
        f"trialkit: no protocol file for study {quote(key)}.\n"
        f"  Protocols shipped: {', '.join(shipped_ids()) or '(none)'}\n"
        f"  Pass a study id or sponsor code from that list, or the path of a protocol YAML file.")


def find_protocol(studyids: Iterable[Any]) -> Protocol | None:
    """The shipped protocol whose registry id or sponsor code is one of ``studyids``, or None.

    Example:
        >>> find_protocol(["ST561-1"]).study_id
        'NCT07334483'
        >>> find_protocol(["CDISCPILOT01"]) is None
        True
    """
    wanted = [s for s in studyids if s is not None]
    for candidate in _shipped():
        if any(candidate.matches(s) for s in wanted):
            return candidate
    return None


def shipped_ids() -> list[str]:
    """The display ids of the protocols shipped with trialkit ("NCT07334483 (ST561-1)")."""
    return [p.display_id for p in _shipped()]


def generic_protocol(study_id: str, *, arms: Mapping[str, str] | Sequence[str] = (),
                     sites: Sequence[str] = ()) -> Protocol:
    """A protocol for a study without a file: id, arms and sites from the data (DESIGN section 3).

    Args:
        study_id: the data's STUDYID (or a name for the folder when it has none).
        arms: arm code -> label (or codes), in the order to show them.
        sites: the data's SITEIDs.

    Example:
        >>> generic = generic_protocol("CDISCPILOT01", arms={"Pbo": "Placebo"}, sites=["701"])
        >>> generic.generic, generic.arm_labels, generic.site_labels, generic.criteria_key("RECIST 1.1")
        (True, {'Pbo': 'Placebo'}, {'701': '701'}, 'RECIST11')
    """
    raw = copy.deepcopy(_generic_template())
    labels = dict(arms) if isinstance(arms, Mapping) else {str(a): str(a) for a in arms}
    raw["study"]["id"] = str(study_id)
    raw["arms"] = [{"armcd": str(code), "arm": str(label), "short": str(label)} for code, label in labels.items()]
    raw["sites"] = [{"siteid": str(s)} for s in sites]
    return Protocol(raw=raw, source="generic protocol built from the data", generic=True)


@lru_cache(maxsize=1)
def _generic_template() -> dict[str, Any]:
    text = (resources.files("trialkit.protocols") / _GENERIC).read_text(encoding="utf-8")
    return yaml.safe_load(text)


@lru_cache(maxsize=1)
def _shipped() -> tuple[Protocol, ...]:
    folder = resources.files("trialkit.protocols")
    names = sorted(p.name for p in folder.iterdir()
                   if p.name.endswith((".yaml", ".yml")) and not p.name.startswith("_"))
    return tuple(_parse((folder / name).read_text(encoding="utf-8"), f"trialkit/protocols/{name}")
                 for name in names)


@lru_cache(maxsize=16)
def _load_file(path: str) -> Protocol:
    file = Path(path)
    try:
        exists = file.is_file()
    except OSError as exc:  # a name too long, a folder that may not be entered
        raise ProtocolError(describe_os_error(exc, doing="read the protocol file", path=path)) from None
    if not exists:
        raise ProtocolError(f"trialkit: protocol file {clip(file)} does not exist.")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"trialkit: protocol file {file} cannot be read: {exc}") from None
    return _parse(text, str(file))


def _parse(text: str, source: str) -> Protocol:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProtocolError(f"trialkit: protocol file {source} is not valid YAML: {exc}") from None
    missing = [k for k in _REQUIRED if not isinstance(raw, dict) or k not in raw]
    if missing:
        raise ProtocolError(f"trialkit: protocol file {source} lacks the section(s): {', '.join(missing)}.")
    if not isinstance(raw["study"], dict) or not raw["study"].get("id"):
        raise ProtocolError(f"trialkit: protocol file {source}: the study section needs an id "
                            f"(the registry id, e.g. NCT07334483).")
    for section in ("assessors", "criteria"):
        if not isinstance(raw["response"], dict) or not raw["response"].get(section):
            raise ProtocolError(f"trialkit: protocol file {source}: response.{section} is missing; "
                                f"see trialkit/protocols/_generic.yaml for its shape.")
    return Protocol(raw=raw, source=source)
