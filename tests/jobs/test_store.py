"""open_store: which backend a path or URL opens, and the refusals that name ``db_url``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lpe_nb.errors import InvalidInput
from lpe_nb.jobs import SqliteJobStore, open_store


def sqlite_path_of(url_or_path: str | Path | None) -> Path:
    store = open_store(url_or_path)
    assert isinstance(store, SqliteJobStore)
    return store.path


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/abs/jobs.db", Path("/abs/jobs.db")),
        ("relative/jobs.db", Path("relative/jobs.db")),
        ("sqlite:////abs/jobs.db", Path("/abs/jobs.db")),
        ("sqlite:///relative/jobs.db", Path("relative/jobs.db")),
        ("SQLite:///relative/jobs.db", Path("relative/jobs.db")),
        ("sqlite:////abs/with%20space.db", Path("/abs/with space.db")),
        ("file:///abs/jobs.db", Path("/abs/jobs.db")),
        ("file://localhost/abs/jobs.db", Path("/abs/jobs.db")),
        ("file:relative/jobs.db", Path("relative/jobs.db")),
        ("C:/lpe/jobs.db", Path("C:/lpe/jobs.db")),  # a Windows drive is not a scheme
        ("odd:name.db", Path("odd:name.db")),  # a colon in a file name, no "//": still a path
    ],
)
def test_paths_and_sqlite_urls_open_the_sqlite_backend(url: str, path: Path) -> None:
    assert sqlite_path_of(url) == path


def test_an_absolute_path_formatted_into_a_sqlite_url_stays_absolute(tmp_path: Path) -> None:
    assert sqlite_path_of(f"sqlite:///{tmp_path / 'jobs.db'}") == tmp_path / "jobs.db"


def test_a_path_object_and_none_open_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LPE_DB_PATH", str(tmp_path / "env.db"))
    assert sqlite_path_of(tmp_path / "jobs.db") == tmp_path / "jobs.db"
    assert sqlite_path_of(None) == tmp_path / "env.db"


def test_options_reach_the_backend(tmp_path: Path) -> None:
    store = open_store(tmp_path / "jobs.db", synchronous="FULL", busy_timeout_ms=5, max_batch=7)
    assert isinstance(store, SqliteJobStore)
    assert (store.synchronous, store.busy_timeout_ms, store.max_batch) == ("FULL", 5, 7)


@pytest.mark.parametrize(
    "url", ["postgresql://u:secret@db/lpe", "postgres://db/lpe", "postgresql+psycopg://db/x"]
)
def test_a_postgresql_url_opens_the_postgresql_store_without_showing_its_password(url: str) -> None:
    from lpe_nb.jobs.postgres import PgJobStore

    store = open_store(url)  # no I/O until it is opened
    assert isinstance(store, PgJobStore)
    assert "secret" not in store.location and "db" in store.location


def test_postgresql_without_psycopg_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lpe_nb.jobs.postgres", None)  # what a missing psycopg looks like
    with pytest.raises(InvalidInput, match=r"pip install 'lpe-nb\[postgres\]'") as info:
        open_store("postgresql://u:secret@db/lpe")
    assert list(info.value.fields) == ["db_url"]
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://root:hunter2@db/lpe", "cannot open 'mysql://root:\\*\\*\\*@db/lpe'"),
        ("https://example.org/jobs.db", "cannot open"),
        ("file://server/share/jobs.db", "cannot open"),
        ("", "is empty"),
        ("   ", "is empty"),
        ("sqlite://", "names no file"),
        ("sqlite:///", "names no file"),
        ("sqlite:///:memory:", "names no file"),
        ("sqlite:///jobs.db?mode=ro", "no query"),
        ("mysql://[db/lpe", "not a valid URL"),
    ],
)
def test_anything_else_is_refused_naming_db_url(url: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem) as info:
        open_store(url)
    assert list(info.value.fields) == ["db_url"]
    assert "hunter2" not in str(info.value)
