"""Each user catalog entry records who made it; a user sees and deletes only their own (issue 13)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lpe_nb.embedded import Engine
from lpe_nb.errors import InvalidInput
from lpe_nb.operations import Catalog, CatalogStore


async def test_an_entry_records_its_maker_and_reads_back_after_a_reload(tmp_path: Path) -> None:
    store = CatalogStore(tmp_path / "jobs.db")
    catalog = await Catalog.load(store)
    saved = await catalog.add("persona", "pirate", "speaks of the sea", {}, username="alice")
    assert saved.username == "alice" and saved.to_dict()["username"] == "alice"
    reloaded = await Catalog.load(store)
    assert reloaded.get("persona", "pirate").username == "alice"


async def test_a_user_sees_and_deletes_only_their_own_entries(tmp_path: Path) -> None:
    catalog = await Catalog.load(CatalogStore(tmp_path / "jobs.db"))
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
    assert (await catalog.remove("persona", "pirate", username="alice")).name == "pirate"
    assert (await catalog.remove("persona", "miner")).name == "miner"  # an admin removes anyone's


async def test_an_entry_is_never_replaced_by_another_users_of_that_name(tmp_path: Path) -> None:
    catalog = await Catalog.load(CatalogStore(tmp_path / "jobs.db"))
    await catalog.add("style", "terse", "few words", {}, username="alice")
    assert catalog.problems("style", "terse", "many words", username="bob") == {
        "name": "'terse' is another user's style; choose another name"
    }
    with pytest.raises(InvalidInput):
        await catalog.add("style", "terse", "many words", {}, username="bob")
    assert catalog.get("style", "terse").description == "few words"
    replaced = await catalog.add("style", "terse", "fewer words", {}, username="alice")  # one's own: yes
    assert replaced.description == "fewer words"


async def test_a_catalog_made_before_users_gets_the_column_and_keeps_its_entries(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE user_catalog (kind TEXT NOT NULL, name TEXT NOT NULL, description TEXT NOT NULL, "
            "fields TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (kind, name))"
        )
        old.execute("INSERT INTO user_catalog VALUES ('persona', 'elder', 'remembers', '{}', '2026-01-01')")
    old.close()
    catalog = await Catalog.load(CatalogStore(path))
    assert catalog.get("persona", "elder").username is None
    await catalog.add("persona", "youth", "forgets", {}, username="alice")
    assert (await Catalog.load(CatalogStore(path))).get("persona", "youth").username == "alice"


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
