"""Alembic migrations on SQLite and PostgreSQL: an empty database upgraded is exactly the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from signaling import migrate
from signaling.store import Store

FIRST_REVISION_TABLES = ("users", "station_tokens", "sessions", "consults", "consult_events", "stills", "audit_log")


async def test_upgrade_gives_the_models_schema_and_downgrade_empties(database_url: str) -> None:
    store = Store(database_url)
    try:
        await store.open()
        async with store.engine.begin() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), migrate.target_metadata()))
            assert differences == [], f"models and migrations disagree (add a migration): {differences}"
            await conn.run_sync(migrate.downgrade, "base")
            assert set(await conn.run_sync(lambda sync: inspect(sync).get_table_names())) == {"alembic_version"}
            await conn.run_sync(migrate.upgrade)
            tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        assert set(migrate.target_metadata().tables) | {"alembic_version"} == tables
        await store.open()  # opening an up-to-date database again changes nothing
    finally:
        await store.close()


async def test_a_database_made_before_migrations_is_adopted(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    store = Store(url)
    async with store.engine.begin() as conn:
        # How the server made it before: create_all of the models of that time (revision 0001).
        first = [migrate.target_metadata().tables[name] for name in FIRST_REVISION_TABLES]
        await conn.run_sync(lambda sync: migrate.target_metadata().create_all(sync, tables=first))
        await conn.execute(migrate.target_metadata().tables["users"].insert().values(
            name="doctor", role="specialist", password_hash="x", created=0.0))
    await store.open()
    assert (await store.get_user("doctor")) is not None  # nothing lost
    async with store.engine.connect() as conn:
        version = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar()
    # Stamped at the first revision, then upgraded to the newest.
    assert version == ScriptDirectory.from_config(migrate.config(None)).get_current_head()  # type: ignore[arg-type]
    async with store.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    assert set(migrate.target_metadata().tables) <= tables
    await store.close()
