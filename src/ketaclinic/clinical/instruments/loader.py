"""Load questionnaire definitions from the shipped YAML files and a clinic's own directories."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .schema import Instrument

__all__ = ["InstrumentDefinitionError", "load_instrument_file", "load_instruments"]


class InstrumentDefinitionError(ValueError):
    """A definition file is unreadable or invalid; `path` and `field` say where."""

    def __init__(self, path: str, field: str | None, message: str) -> None:
        self.path = path
        self.field = field
        self.message = message
        where = f"{path}: {field}" if field else path
        super().__init__(f"{where}: {message}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a repeated mapping key instead of keeping the last one.

    A duplicated key in a clinical definition (two `value:` lines, two `max:` lines) is
    almost always a typo, and silently keeping the last would change a threshold.
    """


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"repeated key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _parse(text: str, name: str) -> Instrument:
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InstrumentDefinitionError(name, None, f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise InstrumentDefinitionError(name, None, "expected a mapping at the top level")
    try:
        return Instrument.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_path(tuple(first["loc"]))
        message = first["msg"].removeprefix("Value error, ")
        # Cross-field checks run on the whole model and name their field in the message.
        head, sep, rest = message.partition(": ")
        if sep and " " not in head:
            field = head if field == "(top level)" else f"{field}.{head}"
            message = rest
        more = exc.error_count() - 1
        if more:
            message += f" (and {more} more error{'s' if more > 1 else ''})"
        raise InstrumentDefinitionError(name, field, message) from exc


def load_instrument_file(path: Path) -> Instrument:
    """Return the instrument defined in one YAML file; raise InstrumentDefinitionError if invalid."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InstrumentDefinitionError(str(path), None, f"cannot read: {exc}") from exc
    return _parse(text, str(path))


@functools.cache
def _shipped() -> tuple[Instrument, ...]:
    """Return the definitions shipped with ketaclinic (read once per process)."""
    folder = resources.files("ketaclinic.clinical.instruments") / "definitions"
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            found.append(_parse(entry.read_text(encoding="utf-8"), f"definitions/{entry.name}"))
    return tuple(found)


def _yaml_files(folder: Path) -> Iterable[Path]:
    if not folder.is_dir():
        raise InstrumentDefinitionError(str(folder), None, "not a directory")
    return sorted(p for p in folder.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())


def load_instruments(extra_dirs: Sequence[Path] = ()) -> dict[str, Instrument]:
    """Return the instruments by code: the shipped set, plus or replaced by a clinic's own files.

    A clinic file replaces a shipped definition only with the same code and a higher
    version (so stored results keep naming the version that produced them); the same
    or a lower version is refused rather than silently ignored. Two clinic files with
    the same code are refused too.
    """
    instruments: dict[str, Instrument] = {}
    for inst in _shipped():
        if inst.code in instruments:
            raise InstrumentDefinitionError(
                "definitions", "code", f"{inst.code!r} is shipped twice"
            )
        instruments[inst.code] = inst
    from_clinic: dict[str, Path] = {}
    for folder in extra_dirs:
        for path in _yaml_files(Path(folder)):
            inst = load_instrument_file(path)
            if inst.code in from_clinic:
                raise InstrumentDefinitionError(
                    str(path), "code", f"{inst.code!r} is also defined in {from_clinic[inst.code]}"
                )
            current = instruments.get(inst.code)
            if current is not None and inst.version <= current.version:
                raise InstrumentDefinitionError(
                    str(path),
                    "version",
                    f"{inst.code} version {inst.version} does not replace the shipped "
                    f"version {current.version}; use a higher version",
                )
            from_clinic[inst.code] = path
            instruments[inst.code] = inst
    return instruments
