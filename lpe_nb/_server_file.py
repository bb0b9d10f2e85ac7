"""The note a Jupyter server with the extension leaves beside its database: ``<db>.server.json``.

It holds the server's URL, token and pid (readable by its owner only, like Jupyter's own runtime files),
so a CLI or script on the same database talks to that server, with its live events, instead of
competing for the database's dispatcher. A note whose process is gone is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = ["ServerNote", "read_note", "remove_note", "write_note"]


@dataclass(frozen=True, slots=True)
class ServerNote:
    url: str
    token: str | None
    pid: int


def note_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".server.json")


def write_note(db_path: Path, url: str, token: str | None) -> None:
    path = note_path(db_path)
    text = json.dumps({"url": url, "token": token, "pid": os.getpid()})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def read_note(db_path: Path) -> ServerNote | None:
    """The live server of ``db_path``, or None (no note, unreadable, or its process has exited)."""
    try:
        data = json.loads(note_path(db_path).read_text())
        note = ServerNote(str(data["url"]), data.get("token") or None, int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if note.pid == os.getpid() or not psutil.pid_exists(note.pid):
        return None  # our own (this process's engine is used directly) or a crashed server's
    return note


def remove_note(db_path: Path) -> None:
    """Remove the note if this process wrote it."""
    path = note_path(db_path)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        if int(json.loads(path.read_text())["pid"]) == os.getpid():
            path.unlink()
