"""The control catalog: project data (controls.yaml) read into frozen dataclasses.

    catalog = load_catalog()
    catalog.version, catalog.sha256      # recorded on every assessment
    catalog.control("NIST-800-52r2-3.1-tls10").check   # -> "tls10_disabled"
    catalog.resolve_parameters({"deployment_class": "citizen_or_business_facing"})

The SHA-256 is of the file's bytes, so two assessments with the same version and hash used
the same catalog. Loading validates the file (unique ids, known frameworks, SP 800-53
references that exist, typed parameter defaults) and raises CatalogError naming the problem.
Which check names resolve to functions is the engine's business (audits/assessment/).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

__all__ = [
    "CATALOG_PATH",
    "Catalog",
    "CatalogError",
    "Control",
    "Parameter",
    "Sp80053Control",
    "load_catalog",
]

CATALOG_PATH = Path(__file__).with_name("controls.yaml")
SOURCES = frozenset({"design", "observed", "history", "certificates"})
PARAMETER_TYPES = frozenset({"choice", "bool", "int", "float", "date", "datetime"})


class CatalogError(ValueError):
    """The catalog file, or a parameter given to it, is not acceptable."""


@dataclass(frozen=True, slots=True)
class Sp80053Control:
    label: str  # SC-8(1)
    oscal_id: str  # sc-8.1
    title: str
    baselines: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.label, "oscal_id": self.oscal_id, "title": self.title}


@dataclass(frozen=True, slots=True)
class Control:
    id: str
    framework: str
    section: str
    title: str
    level: str
    requirement: str
    sp800_53: tuple[Sp80053Control, ...]
    check: str
    sources: tuple[str, ...]
    needs: str = ""  # what evidence would settle the parts the portal cannot judge
    note: str = ""  # unconfirmed facts the result depends on


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    type: str
    default: Any
    description: str
    choices: tuple[str, ...] = ()

    def coerce(self, value: Any) -> Any:
        """The value as the engine uses it; CatalogError when it does not fit the type."""
        if value is None:
            if self.type == "datetime":
                return None
            raise CatalogError(f"parameter {self.name} needs a value")
        try:
            if self.type == "choice":
                if value not in self.choices:
                    raise ValueError(f"one of {', '.join(self.choices)}")
                return value
            if self.type == "bool":
                if not isinstance(value, bool):
                    raise ValueError("true or false")
                return value
            if self.type == "int":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError("a whole number")
                return value
            if self.type == "float":
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError("a number")
                return float(value)
            if self.type == "date":
                if isinstance(value, dt.datetime):
                    return value.date()
                if isinstance(value, dt.date):
                    return value
                return dt.date.fromisoformat(str(value))
            return _instant(value)
        except ValueError as error:
            raise CatalogError(f"parameter {self.name}: {value!r} is not {error}") from None

    def to_json(self, value: Any) -> Any:
        if isinstance(value, dt.date | dt.datetime):
            return value.isoformat()
        return value


def _instant(value: Any) -> dt.datetime:
    """A date-time (UTC when naive); a bare date means the end of that day."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time.max)
    else:
        text = str(value).strip()
        if len(text) == 10:
            moment = dt.datetime.combine(dt.date.fromisoformat(text), dt.time.max)
        else:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


@dataclass(frozen=True)
class Catalog:
    version: str
    sha256: str
    title: str
    path: str
    frameworks: Mapping[str, str]
    parameters: Mapping[str, Parameter]
    sp800_53: Mapping[str, Sp80053Control]
    controls: tuple[Control, ...]

    def control(self, control_id: str) -> Control:
        for control in self.controls:
            if control.id == control_id:
                return control
        raise KeyError(control_id)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(c.id for c in self.controls)

    @property
    def checks(self) -> frozenset[str]:
        return frozenset(c.check for c in self.controls)

    def resolve_parameters(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with `given`, each coerced to its type; unknown names refused."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise CatalogError(
                f"unknown parameter(s) {', '.join(unknown)}; the catalog knows "
                + ", ".join(sorted(self.parameters))
            )
        return {
            name: parameter.coerce(given.get(name, parameter.default))
            for name, parameter in self.parameters.items()
        }

    def parameters_to_json(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {name: self.parameters[name].to_json(value) for name, value in values.items()}


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data or data[key] in (None, ""):
        raise CatalogError(f"{where}: `{key}` is missing")
    return data[key]


def _parse(raw: bytes, path: Path) -> Catalog:
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise CatalogError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: expected a mapping at the top")
    version = str(_require(data, "version", str(path)))
    frameworks = {str(k): str(v) for k, v in _require(data, "frameworks", str(path)).items()}

    references: dict[str, Sp80053Control] = {}
    for label, entry in _require(data, "sp800_53", str(path)).items():
        references[label] = Sp80053Control(
            label=label,
            oscal_id=str(_require(entry, "oscal_id", f"sp800_53 {label}")),
            title=str(_require(entry, "title", f"sp800_53 {label}")),
            baselines=tuple(entry.get("baselines") or ()),
        )

    parameters: dict[str, Parameter] = {}
    for name, entry in _require(data, "parameters", str(path)).items():
        kind = str(_require(entry, "type", f"parameter {name}"))
        if kind not in PARAMETER_TYPES:
            raise CatalogError(f"parameter {name}: unknown type {kind!r}")
        parameter = Parameter(
            name=name,
            type=kind,
            default=entry.get("default"),
            description=" ".join(str(entry.get("description", "")).split()),
            choices=tuple(entry.get("choices") or ()),
        )
        parameter.coerce(parameter.default)  # a default that does not fit is a catalog bug
        parameters[name] = parameter

    controls: list[Control] = []
    seen: set[str] = set()
    for index, entry in enumerate(_require(data, "controls", str(path))):
        where = f"control #{index + 1}"
        control_id = str(_require(entry, "id", where))
        where = f"control {control_id}"
        if control_id in seen:
            raise CatalogError(f"{where}: the id is used twice")
        seen.add(control_id)
        framework = str(_require(entry, "framework", where))
        if framework not in frameworks:
            raise CatalogError(f"{where}: unknown framework {framework!r}")
        labels = list(entry.get("sp800_53") or ())
        missing = [label for label in labels if label not in references]
        if missing:
            raise CatalogError(f"{where}: SP 800-53 reference(s) not in the table: {missing}")
        sources = tuple(entry.get("sources") or ())
        if set(sources) - SOURCES:
            raise CatalogError(f"{where}: unknown source(s) {sorted(set(sources) - SOURCES)}")
        controls.append(
            Control(
                id=control_id,
                framework=framework,
                section=str(_require(entry, "section", where)),
                title=str(_require(entry, "title", where)),
                level=str(_require(entry, "level", where)),
                requirement=" ".join(str(_require(entry, "requirement", where)).split()),
                sp800_53=tuple(references[label] for label in labels),
                check=str(_require(entry, "check", where)),
                sources=sources,
                needs=" ".join(str(entry.get("needs", "")).split()),
                note=" ".join(str(entry.get("note", "")).split()),
            )
        )
    return Catalog(
        version=version,
        sha256=hashlib.sha256(raw).hexdigest(),
        title=str(data.get("title", "")),
        path=str(path),
        frameworks=MappingProxyType(frameworks),
        parameters=MappingProxyType(parameters),
        sp800_53=MappingProxyType(references),
        controls=tuple(controls),
    )


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int, size: int) -> Catalog:
    file = Path(path)
    return _parse(file.read_bytes(), file)


def load_catalog(path: Path | str | None = None) -> Catalog:
    """The catalog in `path` (default: audits/catalog/controls.yaml), cached until it changes."""
    file = Path(path) if path is not None else CATALOG_PATH
    stat = file.stat()
    return _load(str(file), stat.st_mtime_ns, stat.st_size)
