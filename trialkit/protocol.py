"""The protocol file: the trial's rules as data.

Example:
    >>> from trialkit.protocol import load_protocol
    >>> protocol = load_protocol()
    >>> protocol.arm_codes
    ['A', 'B', 'C', 'D']
    >>> protocol.treatment("CAMRELIZUMAB")["interval_days"]
    21
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from trialkit.errors import ProtocolError

DEFAULT_PROTOCOL = "NCT07334483"
_REQUIRED = ("study", "sites", "arms", "treatments", "response", "eligibility")


@dataclass(frozen=True)
class Protocol:
    """A parsed protocol file. ``raw`` is the YAML as read; the properties are shortcuts."""

    raw: dict[str, Any]
    source: str

    @property
    def study_id(self) -> str:
        return str(self.raw["study"]["id"])

    @property
    def study(self) -> dict[str, Any]:
        return self.raw["study"]

    @property
    def arms(self) -> list[dict[str, Any]]:
        return self.raw["arms"]

    @property
    def arm_codes(self) -> list[str]:
        return [str(a["armcd"]) for a in self.arms]

    def arm(self, armcd: str) -> dict[str, Any]:
        for a in self.arms:
            if str(a["armcd"]) == armcd:
                return a
        raise ProtocolError(
            f"trialkit: arm '{armcd}' is not in the protocol file ({self.source}).\n"
            f"  Arms defined: {', '.join(self.arm_codes)}"
        )

    @property
    def sites(self) -> list[dict[str, Any]]:
        return self.raw["sites"]

    def treatment(self, key: str) -> dict[str, Any]:
        try:
            return self.raw["treatments"][key]
        except KeyError:
            raise ProtocolError(
                f"trialkit: treatment '{key}' is not in the protocol file ({self.source}).\n"
                f"  Treatments defined: {', '.join(self.raw['treatments'])}"
            ) from None

    @property
    def response(self) -> dict[str, Any]:
        return self.raw["response"]

    @property
    def eligibility(self) -> list[dict[str, Any]]:
        return self.raw["eligibility"]


def load_protocol(protocol: str | Path | None = None) -> Protocol:
    """Load a protocol file by study id (a file shipped in ``trialkit/protocols``) or path.

    Args:
        protocol: a study id such as ``"NCT07334483"`` (case-insensitive), a path to a YAML
            file, or None for the default study.

    Raises:
        ProtocolError: the file does not exist, is not YAML, or lacks a required section.
    """
    key = str(protocol or DEFAULT_PROTOCOL)
    return _load(key)


@lru_cache(maxsize=8)
def _load(key: str) -> Protocol:
    path = Path(key)
    if path.suffix.lower() in (".yaml", ".yml"):
        if not path.is_file():
            raise ProtocolError(f"trialkit: protocol file {path} does not exist.")
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        shipped = resources.files("trialkit.protocols") / f"{key.lower()}.yaml"
        if not shipped.is_file():
            available = sorted(p.name[:-5].upper() for p in resources.files("trialkit.protocols").iterdir()
                               if p.name.endswith(".yaml"))
            raise ProtocolError(
                f"trialkit: no protocol file for study '{key}'.\n"
                f"  Protocols shipped: {', '.join(available)}\n"
                f"  Pass a study id from that list or the path of a protocol YAML file."
            )
        text, source = shipped.read_text(encoding="utf-8"), f"trialkit/protocols/{shipped.name}"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProtocolError(f"trialkit: protocol file {source} is not valid YAML: {exc}") from None
    missing = [k for k in _REQUIRED if not isinstance(raw, dict) or k not in raw]
    if missing:
        raise ProtocolError(f"trialkit: protocol file {source} lacks the section(s): {', '.join(missing)}.")
    return Protocol(raw=raw, source=source)
