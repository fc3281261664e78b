"""Load and validate treatment protocol definitions from YAML files.

The shipped definitions live in ``definitions/``; a clinic may add its own
directories. A clinic file may replace a shipped protocol of the same code only
with a higher version, so a stored result that names (code, version) always
points at one definition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from .schema import Protocol

__all__ = [
    "DEFINITIONS_DIR",
    "ProtocolError",
    "load_protocol_file",
    "load_protocol_text",
    "load_protocols",
    "protocol_text_hash",
]

DEFINITIONS_DIR = Path(__file__).resolve().parent / "definitions"


class ProtocolError(ValueError):
    """A protocol file could not be read or failed validation; ``path`` names the file."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def load_protocol_file(path: Path) -> Protocol:
    """Return the validated protocol in one YAML file, or raise ProtocolError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProtocolError(path, f"cannot read: {exc}") from exc
    return load_protocol_text(text, origin=path)


def protocol_text_hash(text: str) -> str:
    """Return the SHA-256 (hex) of a protocol file's text, as stored with a course."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_protocol_text(text: str, *, origin: Path | str = "<snapshot>") -> Protocol:
    """Return the validated protocol in a file's text (a stored snapshot), or raise ProtocolError.

    The protocol keeps the text and its hash (``file_text``, ``file_hash``), so a course can
    store exactly what it was started with and be run from it after the file changes.
    """
    where = Path(origin)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProtocolError(where, f"cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise ProtocolError(where, "the file must hold one mapping (a protocol)")
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(where, str(exc)) from exc
    protocol._file_text = text
    protocol._file_hash = protocol_text_hash(text)
    return protocol


def _load_dir(directory: Path) -> list[Protocol]:
    if not directory.is_dir():
        raise ProtocolError(directory, "not a directory")
    return [load_protocol_file(p) for p in sorted(directory.glob("*.yaml"))]


@lru_cache(maxsize=16)
def _load_cached(extra_dirs: tuple[Path, ...]) -> tuple[Protocol, ...]:
    protocols: dict[str, Protocol] = {}
    for directory in (DEFINITIONS_DIR, *extra_dirs):
        seen_here: set[str] = set()
        for protocol in _load_dir(directory):
            if protocol.code in seen_here:
                raise ProtocolError(directory, f"two files define protocol {protocol.code!r}")
            seen_here.add(protocol.code)
            previous = protocols.get(protocol.code)
            if previous is not None and protocol.version <= previous.version:
                raise ProtocolError(
                    directory,
                    f"protocol {protocol.code!r} version {protocol.version} would replace "
                    f"version {previous.version}: an override needs a higher version",
                )
            protocols[protocol.code] = protocol
    return tuple(protocols.values())


def load_protocols(extra_dirs: Iterable[Path | str] = ()) -> dict[str, Protocol]:
    """Return the shipped protocols plus those in ``extra_dirs``, keyed by code.

    Results are cached per set of directories (protocol models are frozen); the
    returned dict is a fresh copy the caller may change.
    """
    dirs = tuple(Path(d).resolve() for d in extra_dirs)
    return {p.code: p for p in _load_cached(dirs)}
