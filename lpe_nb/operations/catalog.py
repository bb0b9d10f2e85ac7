"""The catalog of personas, namespaces and styles: built-in entries plus the user's own.

A description goes into every prompt that uses the entry, so a name is never sent bare. User entries live
in the job store (table ``user_catalog``), shared by every process on the database: a configuration job
run by a worker saves a persona that a server lists and another worker's projection uses. The
:class:`Catalog` holds a snapshot (built-ins + user entries) that input validation consults synchronously;
:meth:`Catalog.refresh` reads the entries again, and the engine does so before it validates an input that
names user entries (at submit and when the job starts), so a change made by any process is seen by the next
submit; an input naming only built-ins needs no read (nothing can shadow or remove them). A refresh is one
point read of the store's catalog revision; the entries are read again only after a change
(``bench/catalog_refresh.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, Protocol, get_args

from lpe_nb.errors import InvalidInput
from lpe_nb.jobs.model import to_iso
from lpe_nb.jobs.store import CatalogRow

__all__ = [
    "BUILTIN_ENTRIES",
    "DEFAULTS",
    "KINDS",
    "LANGUAGES",
    "NAME_PATTERN",
    "Catalog",
    "CatalogEntry",
    "CatalogRows",
    "Kind",
    "normalize_language",
]

Kind = Literal["persona", "namespace", "style"]
KINDS: tuple[Kind, ...] = get_args(Kind)
DEFAULTS: Mapping[Kind, str] = {"persona": "neutral", "namespace": "lamish-galaxy", "style": "standard"}
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_MAX_NAME = 40

LANGUAGES: tuple[str, ...] = (
    "english", "spanish", "french", "german", "italian", "portuguese", "russian", "chinese", "japanese",
    "korean", "arabic", "hebrew", "hindi", "dutch", "swedish", "norwegian", "danish", "polish", "czech",
)  # fmt: skip


def normalize_language(value: str) -> str:
    """``" French "`` -> ``"french"``; raises ValueError listing the supported languages."""
    normalized = value.strip().lower()
    if normalized not in LANGUAGES:
        raise ValueError(f"unsupported language {value!r}; choose one of: {', '.join(LANGUAGES)}")
    return normalized


def _normalize_name(name: str) -> str:
    """An entry's name as the catalog keys it: ``" Poet "`` -> ``"poet"``."""
    return name.strip().lower()


class CatalogRows(Protocol):
    """Where user entries are kept: the job store's catalog methods (:class:`lpe_nb.jobs.store.JobStore`)."""

    async def catalog_revision(self) -> int: ...

    async def catalog_entries(self) -> list[CatalogRow]: ...

    async def save_catalog_entry(self, entry: CatalogRow) -> bool: ...

    async def delete_catalog_entry(
        self, kind: str, name: str, *, username: str | None = None
    ) -> CatalogRow | None: ...


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """A persona, namespace or style: its name, the one-line description used in prompts, extra fields."""

    kind: Kind
    name: str
    description: str
    fields: dict[str, Any] = field(default_factory=dict)
    builtin: bool = True
    username: str | None = None  # who made a user entry (None: a built-in, or unknown)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "description": self.description,
            "fields": dict(self.fields),
            "builtin": self.builtin,
            "username": self.username,
        }

    def prompt_text(self) -> str:
        """``name: description`` plus any fields, as it goes into a prompt."""
        extra = "; ".join(f"{key}: {value}" for key, value in self.fields.items())
        return f"{self.name}: {self.description}" + (f" ({extra})" if extra else "")


def _builtins(kind: Kind, pairs: Iterable[tuple[str, str]]) -> list[CatalogEntry]:
    return [CatalogEntry(kind, name, description) for name, description in pairs]


BUILTIN_ENTRIES: tuple[CatalogEntry, ...] = (
    *_builtins("persona", [
        ("neutral", "an even-handed observer who reports without taking sides"),
        ("advocate", "stresses the strengths of what happened while admitting its problems"),
        ("critic", "probes assumptions and weak points, constructively"),
        ("philosopher", "seeks the underlying meaning and the questions beneath events"),
        ("storyteller", "an engaging narrative voice that carries the reader along"),
        ("scientist", "attends to evidence, cause and mechanism"),
        ("artist", "works through image and feeling"),
    ]),
    *_builtins("namespace", [
        ("lamish-galaxy", "the house science-fiction setting, where ideas travel as energy through the Pulse"),
        ("medieval-realm", "a realm of knights, quests and dragons guarding wisdom"),
        ("corporate-dystopia", "megacorporations and algorithms as an allegory of power"),
        ("natural-world", "an ecology in which each creature has its role"),
        ("quantum-realm", "a world of probability, where observation makes possibility real"),
        ("steampunk-era", "brass, steam and clockwork invention in an age of industry"),
        ("cyberpunk-future", "neon cities, hackers and implants under corporate rule"),
    ]),
    *_builtins("style", [
        ("standard", "plain and accessible"),
        ("academic", "formal, precise and structured"),
        ("poetic", "rich in metaphor and imagery"),
        ("technical", "exact and detailed"),
        ("casual", "relaxed and chatty"),
        ("formal", "dignified and correct"),
        ("archaic", "old-fashioned diction, as of an earlier age"),
        ("futuristic", "sleek diction of a time yet to come"),
    ]),
)  # fmt: skip


class Catalog:
    """Built-in entries merged with user entries; user entries cannot shadow built-ins.

    Names are one namespace for everyone, so any job can name any entry and a worker resolves it without
    knowing who asks; each user entry records who made it, and :meth:`describe` and :meth:`remove` given a
    ``username`` show and delete only that user's (``jobs_per_user``, docs/users.md). An entry is never
    replaced by another user's of the same name: the store refuses it in the same statement that writes.

    Reads are synchronous against the snapshot, as fresh as the last :meth:`refresh` (or this catalog's
    own :meth:`add` and :meth:`remove`); the async methods read or write the store first. Not thread-safe:
    use it from one event loop.
    """

    def __init__(self, store: CatalogRows | None = None, user_entries: Iterable[CatalogEntry] = ()) -> None:
        self.store = store
        self._entries: dict[Kind, dict[str, CatalogEntry]] = {}
        self._reset(user_entries)
        # A read of the store applies only if nothing newer did meanwhile: each read and each write of
        # this catalog takes a number, and the snapshot records the highest it holds.
        self._taken = 0
        self._held = 0
        self._revision: int | None = None  # the store's catalog revision the snapshot is from (None: unknown)

    @classmethod
    async def load(cls, store: CatalogRows) -> Catalog:
        """A catalog with every user entry saved in ``store``."""
        catalog = cls(store)
        await catalog.refresh()
        return catalog

    async def refresh(self) -> None:
        """Bring the snapshot up to the store (every process's changes): one point read of the store's
        catalog revision, and the entries only if it moved. Nothing without a store."""
        if self.store is None:
            return
        number = self._take_number()
        revision = await self.store.catalog_revision()  # before the rows: they are at least this new
        if revision == self._revision:  # the snapshot is from that revision: nothing changed since
            self._held = max(self._held, number)
            return
        rows = await self.store.catalog_entries()
        if number > self._held:
            self._held, self._revision = number, revision
            self._reset(_from_stored(row) for row in rows)

    async def refresh_unless_builtin(self, names: Iterable[tuple[Kind, Any]]) -> None:
        """:meth:`refresh`, unless every ``(kind, name)`` names a built-in entry (in any case, with spaces
        around, as the input models take names): a built-in is in every snapshot and no user entry can
        shadow or remove it, so the store has nothing to add, and an input naming only built-ins (the
        common submit) costs no read."""
        if not all(_is_builtin_name(kind, name) for kind, name in names):
            await self.refresh()

    def _wrote(self) -> None:
        """After this catalog's own write: a read that started before it is stale, and the revision the
        snapshot holds is no longer the store's (the next refresh reads the entries)."""
        self._held, self._revision = self._take_number(), None

    def _take_number(self) -> int:
        self._taken += 1
        return self._taken

    def _reset(self, user_entries: Iterable[CatalogEntry]) -> None:
        self._entries = {kind: {} for kind in KINDS}
        for entry in BUILTIN_ENTRIES:
            self._entries[entry.kind][entry.name] = entry
        for entry in user_entries:
            self._remember(entry)

    def _remember(self, entry: CatalogEntry) -> None:
        current = self._entries[entry.kind].get(entry.name)
        if current is None or not current.builtin:
            self._entries[entry.kind][entry.name] = entry

    def names(self, kind: Kind) -> list[str]:
        """Built-in names in their documented order, then user names alphabetically."""
        entries = self._entries[_check_kind(kind)].values()
        return [e.name for e in entries if e.builtin] + sorted(e.name for e in entries if not e.builtin)

    def get(self, kind: Kind, name: str) -> CatalogEntry:
        """The entry; raises :class:`InvalidInput` on the field ``kind`` listing the choices."""
        try:
            return self._entries[_check_kind(kind)][self.check_name(kind, name)]
        except ValueError as exc:
            raise InvalidInput.field(kind, str(exc)) from None

    def check_name(self, kind: Kind, name: str) -> str:
        """The normalized name if ``kind`` has it; ValueError ``unknown persona 'poet'; choose one of: ...``."""
        normalized = _normalize_name(name)
        if normalized not in self._entries[_check_kind(kind)]:
            raise ValueError(f"unknown {kind} {name!r}; choose one of: {', '.join(self.names(kind))}")
        return normalized

    def is_builtin(self, kind: Kind, name: str) -> bool:
        entry = self._entries[_check_kind(kind)].get(name)
        return entry is not None and entry.builtin

    def problems(
        self, kind: Kind, name: str, description: str, *, username: str | None = None
    ) -> dict[str, str]:
        """What makes ``name`` and ``description`` unfit for a new entry of ``username``'s, by field: a bad
        name, a built-in's name or another user's, an empty description; empty if none."""
        problems: dict[str, str] = {}
        current = self._entries[_check_kind(kind)].get(name)
        if not NAME_PATTERN.match(name) or len(name) > _MAX_NAME:
            problems["name"] = (
                f"{name!r} must be lowercase letters and digits in words joined by '-', at most {_MAX_NAME} chars"
            )
        elif current is not None and current.builtin:
            problems["name"] = f"{name!r} is a built-in {kind}; choose another name"
        elif current is not None and current.username != username:
            problems["name"] = f"{name!r} is another user's {kind}; choose another name"
        if not description.strip():
            problems["description"] = "must not be empty"
        return problems

    async def add(
        self,
        kind: Kind,
        name: str,
        description: str,
        fields: Mapping[str, Any],
        *,
        username: str | None = None,
    ) -> CatalogEntry:
        """Validate and save a user entry made by ``username`` (replacing their own entry of that name);
        returns it.

        Raises :class:`InvalidInput` for a bad name, a clash with a built-in or another user's entry, or
        an empty description (:meth:`problems`).
        """
        await self.refresh()  # the names as every process left them (a point read when unchanged)
        problems = self.problems(kind, name, description, username=username)
        if problems:
            raise InvalidInput(problems)
        entry = CatalogEntry(kind, name, description.strip(), dict(fields), builtin=False, username=username)
        if self.store is not None:
            row = CatalogRow(
                kind, name, entry.description, entry.fields, to_iso(datetime.now(timezone.utc)), username
            )
            if not await self.store.save_catalog_entry(row):
                await self.refresh()  # another process saved that name for another user meanwhile
                raise InvalidInput(
                    self.problems(kind, name, description, username=username)
                    or {"name": f"{name!r} is another user's {kind}; choose another name"}
                )
            entry = _from_stored(row)
            self._wrote()
        self._remember(entry)
        return entry

    async def remove(self, kind: Kind, name: str, *, username: str | None = None) -> CatalogEntry:
        """Delete a user entry (from the store too, when there is one); returns it. With ``username``, only
        that user's: another user's entry is refused as a name the catalog does not have.

        Raises :class:`InvalidInput` on ``name`` for a built-in or a name the catalog does not have.
        Jobs that used the entry keep their results; new jobs can no longer name it.
        """
        normalized = _normalize_name(name)
        if self.is_builtin(kind, normalized):
            raise InvalidInput.field(
                "name", f"{normalized!r} is a built-in {kind}; only added entries can be deleted"
            )
        entry = self._entries[kind].get(normalized)
        if self.store is not None:
            row = await self.store.delete_catalog_entry(kind, normalized, username=username)
            entry = None if row is None else _from_stored(row)
            if entry is None:
                await self.refresh()  # for the message: the user's entries as they are now
            else:
                self._wrote()
        if entry is None or not _shown_to(entry, username):
            users = sorted(
                e.name for e in self._entries[kind].values() if not e.builtin and _shown_to(e, username)
            )
            raise InvalidInput.field(
                "name", f"no {kind} {name!r} to delete; yours are: {', '.join(users) or 'none yet'}"
            )
        self._entries[kind].pop(normalized, None)
        return entry

    async def listing(self, *, username: str | None = None) -> dict[str, Any]:
        """:meth:`describe` after a :meth:`refresh`: what an API shows."""
        await self.refresh()
        return self.describe(username=username)

    def describe(self, *, username: str | None = None) -> dict[str, Any]:
        """JSON for an API: per kind, the entries in order (with ``username``, the built-ins and that user's
        entries only), plus the defaults and the languages."""

        def entries(kind: Kind) -> list[dict[str, Any]]:
            shown = (self._entries[kind][n] for n in self.names(kind))
            return [entry.to_dict() for entry in shown if _shown_to(entry, username)]

        return {
            "personas": entries("persona"),
            "namespaces": entries("namespace"),
            "styles": entries("style"),
            "defaults": dict(DEFAULTS),
            "languages": list(LANGUAGES),
        }


_BUILTIN_NAMES: dict[str, frozenset[str]] = {
    kind: frozenset(entry.name for entry in BUILTIN_ENTRIES if entry.kind == kind) for kind in KINDS
}


def _is_builtin_name(kind: str, name: Any) -> bool:
    return isinstance(name, str) and _normalize_name(name) in _BUILTIN_NAMES.get(kind, frozenset())


def _check_kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise InvalidInput.field("kind", f"unknown kind {kind!r}; choose one of: {', '.join(KINDS)}")
    return kind


def _shown_to(entry: CatalogEntry, username: str | None) -> bool:
    """Whether ``username``'s listing shows ``entry`` (None: everyone's are shown)."""
    return entry.builtin or username is None or entry.username == username


def _from_stored(row: CatalogRow) -> CatalogEntry:
    return CatalogEntry(
        _check_kind(row.kind),
        row.name,
        row.description,
        dict(row.fields),
        builtin=False,
        username=row.username,
    )
