"""The user catalog lives in the job store: each entry records who made it, a user sees and deletes only
their own, and every process on the database sees every other's changes (issue 13)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lpe_nb.embedded import Engine, open_engine
from lpe_nb.errors import InvalidInput
from lpe_nb.jobs import JobStatus, open_store
from lpe_nb.jobs.sqlite import schema
from lpe_nb.jobs.store import JobStore
from lpe_nb.llm import MockLLM
from lpe_nb.operations import Catalog
from tests.operations.conftest import FAST, NARRATIVE


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[JobStore]:
    async with open_store(tmp_path / "jobs.db") as store:
        yield store


async def test_an_entry_records_its_maker_and_reads_back_after_a_reload(store: JobStore) -> None:
    catalog = await Catalog.load(store)
    saved = await catalog.add("persona", "pirate", "speaks of the sea", {"tone": "salty"}, username="alice")
    assert saved.username == "alice" and saved.to_dict()["username"] == "alice"
    reloaded = await Catalog.load(store)
    assert reloaded.get("persona", "pirate") == saved


async def test_a_user_sees_and_deletes_only_their_own_entries(store: JobStore) -> None:
    catalog = await Catalog.load(store)
    await catalog.add("persona", "pirate", "speaks of the sea", {}, username="alice")
    await catalog.add("persona", "miner", "speaks of the deep", {}, username="bob")

    def user_personas(username: str | None) -> list[str]:
        return [e["name"] for e in catalog.describe(username=username)["personas"] if not e["builtin"]]

    assert user_personas("alice") == ["pirate"]
    assert user_personas("bob") == ["miner"]
    assert user_personas(None) == ["miner", "pirate"]  # everyone's: a single-user server, an admin
    builtins = [e["name"] for e in catalog.describe(username="carol")["personas"]]
    assert builtins == [e["name"] for e in catalog.describe()["personas"] if e["builtin"]]
    # bob's attempt on alice's entry is refused exactly as for a name that does not exist
    with pytest.raises(InvalidInput) as theirs:
        await catalog.remove("persona", "pirate", username="bob")
    with pytest.raises(InvalidInput) as missing:
        await catalog.remove("persona", "parrot", username="bob")
    assert theirs.value.fields["name"] == missing.value.fields["name"].replace("parrot", "pirate")
    assert (
        "miner" in theirs.value.fields["name"] and "pirate" not in theirs.value.fields["name"].split(": ")[-1]
    )
    assert [e.name for e in await store.catalog_entries()] == ["pirate", "miner"]  # bob deleted nothing
    with pytest.raises(InvalidInput, match="built-in"):
        await catalog.remove("persona", "neutral")
    assert (await catalog.remove("persona", "pirate", username="alice")).name == "pirate"
    assert (await catalog.remove("persona", "miner")).name == "miner"  # an admin removes anyone's
    assert await store.catalog_entries() == []


async def test_an_entry_is_never_replaced_by_another_users_of_that_name(store: JobStore) -> None:
    catalog = await Catalog.load(store)
    await catalog.add("style", "terse", "few words", {}, username="alice")
    assert catalog.problems("style", "terse", "many words", username="bob") == {
        "name": "'terse' is another user's style; choose another name"
    }
    with pytest.raises(InvalidInput):
        await catalog.add("style", "terse", "many words", {}, username="bob")
    assert catalog.get("style", "terse").description == "few words"
    replaced = await catalog.add("style", "terse", "fewer words", {}, username="alice")  # one's own: yes
    assert replaced.description == "fewer words"


async def test_a_stale_snapshot_cannot_take_a_name_another_process_just_saved(store: JobStore) -> None:
    here, elsewhere = await Catalog.load(store), await Catalog.load(store)
    await elsewhere.add("style", "terse", "few words", {}, username="alice")
    assert "terse" not in here.names("style")  # not read yet: add reads the store before it checks
    # (two saves racing past that check are settled by the store: test_store_contract.py)
    with pytest.raises(InvalidInput) as refused:
        await here.add("style", "terse", "many words", {}, username="bob")
    assert refused.value.fields == {"name": "'terse' is another user's style; choose another name"}
    assert here.get("style", "terse").username == "alice"  # and the snapshot has caught up
    [kept] = await store.catalog_entries()
    assert (kept.description, kept.username) == ("few words", "alice")


@pytest.mark.parametrize("made_by", ["before issue 13", "issue 13's catalog file code"])
async def test_a_jobs_file_keeps_the_catalog_entries_it_already_has(
    tmp_path: Path, made_by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Until the catalog joined the store, it created ``user_catalog`` in the jobs' file itself (without
    ``username`` before issue 13): the store's migration adopts that table and its rows."""
    path = tmp_path / "jobs.db"
    before = next(
        i for i, step in enumerate(schema.MIGRATIONS) if callable(step) and "catalog" in step.__name__
    )
    with monkeypatch.context() as older_code:  # a jobs file as the code of that time left it
        older_code.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:before])
        older_code.setattr(schema, "SCHEMA_VERSION", before)
        async with open_store(path):
            pass
    with sqlite3.connect(path) as old:
        with_user = made_by != "before issue 13"
        old.execute(
            "CREATE TABLE user_catalog (kind TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL, "
            "fields TEXT NOT NULL, created_at TEXT NOT NULL, "
            + ("username TEXT, " if with_user else "")
            + "PRIMARY KEY (kind, name))"
        )
        old.execute(
            "INSERT INTO user_catalog (kind, name, description, fields, created_at) "
            "VALUES ('persona', 'elder', 'remembers', '{\"age\": 90}', '2026-01-01T00:00:00.000000+00:00')"
        )
        if with_user:
            old.execute(
                "INSERT INTO user_catalog VALUES ('style', 'terse', 'few words', '{}', "
                "'2026-01-02T00:00:00.000000+00:00', 'alice')"
            )
    old.close()
    async with open_store(path) as store:
        catalog = await Catalog.load(store)
        elder = catalog.get("persona", "elder")
        assert (elder.description, elder.fields, elder.username) == ("remembers", {"age": 90}, None)
        assert with_user == ("terse" in catalog.names("style"))
        if with_user:
            assert catalog.get("style", "terse").username == "alice"
        await catalog.add("persona", "youth", "forgets", {}, username="alice")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (schema.SCHEMA_VERSION,)
    conn.close()
    async with open_store(path) as store:
        reloaded = await Catalog.load(store)
        assert reloaded.get("persona", "youth").username == "alice"
        assert reloaded.get("persona", "elder").description == "remembers"


async def test_a_configuration_job_saves_its_entry_as_its_submitters(engine: Engine) -> None:
    manager = engine.manager
    job_id = await manager.submit(
        "configuration", {"attribute": "persona", "brief": "a lighthouse keeper"}, username="alice"
    )
    job = await manager.wait(job_id, timeout_s=30)
    assert job.status.value == "completed", job.error_message
    name = job.result_data["entry"]["name"]
    assert job.result_data["entry"]["username"] == "alice"
    assert engine.catalog.get("persona", name).username == "alice"
    [row] = await manager.store.catalog_entries()
    assert (row.name, row.username) == (name, "alice")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    url: str = request.getfixturevalue("postgres_url")  # a real server (tests/conftest.py)
    return url


async def test_every_process_on_the_database_sees_the_others_catalog_changes(db_url: str) -> None:
    """A worker (dispatching) and a server (submit only) on one database, as on a shared queue."""
    llm = MockLLM(0.0)
    async with (
        open_engine(db_url=db_url, llm=llm, settings=FAST, dispatch=True, kind="worker") as worker,
        open_engine(db_url=db_url, llm=llm, settings=FAST, dispatch=False) as server,
    ):
        # A configuration job submitted on the server runs on the worker, which saves the entry...
        job_id = await server.manager.submit(
            "configuration", {"attribute": "persona", "brief": "a lighthouse keeper"}, username="alice"
        )
        job = await worker.manager.wait(job_id, timeout_s=30)
        assert job.status is JobStatus.COMPLETED, job.error_message
        name = job.result_data["entry"]["name"]
        # ...that the server lists (to its maker only) and accepts in a projection at once.
        listed = await server.catalog.listing(username="alice")
        assert [e["name"] for e in listed["personas"] if not e["builtin"]] == [name]
        assert [
            e for e in (await server.catalog.listing(username="bob"))["personas"] if not e["builtin"]
        ] == []
        projection = await server.submit("projection", {"narrative": NARRATIVE, "persona": name})
        assert (await worker.manager.wait(projection, timeout_s=30)).status is JobStatus.COMPLETED

        # An entry the server saves is resolved by the worker when the job starts (not only at submit).
        await server.catalog.add("style", "terse", "few words, no adjectives", {}, username="bob")
        assert "terse" not in worker.catalog.names("style")  # the worker has not read it yet
        styled = await server.submit("projection", {"narrative": NARRATIVE, "style": "terse"})
        done = await worker.manager.wait(styled, timeout_s=30)
        assert done.status is JobStatus.COMPLETED, done.error_message
        assert done.input_data["style"] == "terse"

        # A deletion on the server is seen by the worker's next submit.
        await server.catalog.remove("persona", name, username="alice")
        with pytest.raises(InvalidInput) as refused:
            await worker.submit("projection", {"narrative": NARRATIVE, "persona": name})
        assert f"unknown persona {name!r}" in refused.value.fields["persona"]


async def test_an_input_naming_only_built_ins_reads_no_catalog_and_one_naming_a_user_entry_does(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built-ins are in every snapshot and nothing can shadow or remove them: a submit (and a job start)
    naming only them needs no read of the store's catalog (issue 16); a user entry another process saved a
    moment ago is still seen at submit and at start."""
    store = engine.manager.store
    reads: list[str] = []
    read_revision = store.catalog_revision

    async def counted() -> int:
        reads.append("revision")
        return await read_revision()

    monkeypatch.setattr(store, "catalog_revision", counted)
    built_in = {"narrative": NARRATIVE, "persona": " Critic ", "style": "poetic"}  # namespace: the default
    job = await engine.manager.wait(await engine.submit("projection", built_in), timeout_s=30)
    assert job.status is JobStatus.COMPLETED, job.error_message
    assert reads == []  # neither the submit nor the job's start read the catalog

    elsewhere = await Catalog.load(store)  # another process on the database
    await elsewhere.add("persona", "pirate", "speaks of the sea", {}, username="alice")
    reads.clear()
    job = await engine.manager.wait(
        await engine.submit("projection", {"narrative": NARRATIVE, "persona": "pirate"}), timeout_s=30
    )
    assert job.status is JobStatus.COMPLETED, job.error_message
    assert job.input_data["persona"] == "pirate"
    assert len(reads) == 2  # at submit and at start
