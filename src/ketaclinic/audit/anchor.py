"""Where each new seal's head is written down outside the database: the audit anchor.

The local anchor file (`AUDIT_ANCHOR`) is what `verify_audit` reads. Someone who can
rewrite the database can often rewrite that file too, so the same line also goes to
every destination in `AUDIT_ANCHOR_COPIES` (env `KETACLINIC_AUDIT_ANCHOR_COPIES`,
comma-separated):

- `file:///mnt/offsite/ketaclinic-anchor.log` — appended to; put it on another mount
  (NFS, a WORM share) that the application's host cannot rewrite;
- `syslog://collector.example:514` (UDP) or `syslog+tcp://collector.example:601`
  — one line per seal to a remote syslog collector;
- `syslog:///dev/log` — the local syslog daemon (which may forward it).

To verify against a collected copy: `verify_audit --anchor FILE` (lines
`<chain> <seq> <hash>`; syslog lines are found by their `ketaclinic-audit-anchor:` tag).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings

log = logging.getLogger(__name__)

TAG = "ketaclinic-audit-anchor"
LINE = re.compile(r"(?:^|\s)(\d+) (\d+) ([0-9a-f]{64})\s*$")
RESTORE = "restore "  # a line `restore <when> from-backup <created> <sha256>` (worker/backup.py)
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}


def copies() -> list[str]:
    return [c for c in getattr(settings, "AUDIT_ANCHOR_COPIES", []) if c]


def write_line(line: str) -> list[str]:
    """Append `line` to the anchor file and every copy; returns the destinations that failed."""
    failed = []
    for destination in [str(settings.AUDIT_ANCHOR), *copies()]:
        try:
            _write(destination, line)
        except (OSError, ValueError) as exc:
            # The destination only, never the line's context: sealing stands without it.
            log.error("audit anchor: %s could not be written (%s)", _safe(destination), exc)
            failed.append(destination)
    return failed


def _safe(destination: str) -> str:
    """The destination without any credentials it may carry."""
    parsed = urlparse(destination)
    return (
        parsed._replace(netloc=parsed.hostname or "").geturl() if parsed.password else destination
    )


def _write(destination: str, line: str) -> None:
    parsed = urlparse(destination)
    if parsed.scheme in {"", "file"}:
        path = Path(parsed.path if parsed.scheme == "file" else destination)
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: concurrent sealers never interleave within a line.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, f"{line}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
    elif parsed.scheme in {"syslog", "syslog+udp", "syslog+tcp"}:
        _syslog(parsed.scheme, parsed.hostname, parsed.port, parsed.path, line)
    else:
        raise ValueError(f"unsupported anchor destination scheme {parsed.scheme!r}")


def _syslog(scheme: str, host: str | None, port: int | None, path: str, line: str) -> None:
    if host:
        address: str | tuple[str, int] = (host, port or (601 if scheme == "syslog+tcp" else 514))
        kind = socket.SOCK_STREAM if scheme == "syslog+tcp" else socket.SOCK_DGRAM
    else:
        address, kind = path or "/dev/log", socket.SOCK_DGRAM
    handler = logging.handlers.SysLogHandler(
        address=address, facility=logging.handlers.SysLogHandler.LOG_AUTHPRIV, socktype=kind
    )
    handler.append_nul = False
    handler.ident = f"{TAG}: "
    try:
        # A stream needs a frame delimiter; a datagram is its own frame.
        text = f"{line}\n" if kind == socket.SOCK_STREAM else line
        record = logging.LogRecord(TAG, logging.INFO, __file__, 0, text, None, None)
        handler.emit(record)
        sock = getattr(handler, "socket", None)  # set by SysLogHandler; its stubs omit it
        if sock is not None and kind == socket.SOCK_STREAM:
            sock.shutdown(socket.SHUT_WR)
    finally:
        handler.close()


def read_heads(path: Path) -> dict[int, tuple[int, str]] | None:
    """The newest anchored (seq, hash) per chain in a file, or None when it does not exist.

    Reads the anchor file itself and syslog files where each line ends in `chain seq hash`.
    """
    if not path.exists():
        return None
    heads: dict[int, tuple[int, str]] = {}
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if RESTORE in raw:
            # A restore from a backup: the heads that follow it are the backup's; what was
            # anchored before it and is not in the backup was lost, knowingly.
            heads = {}
            continue
        match = LINE.search(raw)
        if match is None:
            continue
        chain, seq, digest = int(match[1]), int(match[2]), match[3]
        if seq >= heads.get(chain, (0, ""))[0]:
            heads[chain] = (seq, digest)
    return heads


def off_host_reason() -> str | None:
    """Why no anchor destination is off this machine's data disk, or None when one is."""
    var_device = _device(Path(settings.VAR_DIR))
    for destination in copies():
        parsed = urlparse(destination)
        if parsed.scheme.startswith("syslog") and (parsed.hostname or "") not in LOCAL_HOSTS:
            return None
        if parsed.scheme in {"", "file"}:
            path = Path(parsed.path if parsed.scheme == "file" else destination)
            device = _device(path.parent)
            if device is not None and device != var_device:
                return None
    return (
        "The audit anchor is written only on this machine: set KETACLINIC_AUDIT_ANCHOR_COPIES "
        "to a file on another mount or a remote syslog collector (see README, Operations)."
    )


def _device(path: Path) -> int | None:
    """The filesystem device of the nearest existing ancestor of `path`."""
    for candidate in (path, *path.parents):
        try:
            return candidate.stat().st_dev
        except OSError:
            continue
    return None
