"""The two store engines behind one interface: opening, migrations, rows, cursors, errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callwright.config import StoreSettings, load_config
from callwright.doctor.report import Status
from callwright.doctor.store import inspect_store
from callwright.errors import ConfigError, StoreError
from callwright.store.db import (
    Database,
    IntegrityError,
    PostgresDatabase,
    SqliteDatabase,
    available_migrations,
    describe_store,
    open_store,
)
from callwright.store.migration_files import shipped_migrations, to_postgres
from tests.callwright.store.conftest import MakeDb, MakeOrg
from tests.pg_server import PgServer


@pytest.fixture
def pg(postgres_server: PgServer | None) -> PgServer:
    if postgres_server is None:
        pytest.skip("PostgreSQL is not installed (make test installs Debian's postgresql)")
    return postgres_server


async def test_the_settings_pick_the_engine(tmp_path: Path, pg: PgServer) -> None:
    url = await pg.create_database()
    sqlite = await open_store(StoreSettings(path=tmp_path / "cw.db"))
    postgres = await open_store(StoreSettings(path=tmp_path / "unused.db", url=url))
    try:
        assert isinstance(sqlite, SqliteDatabase) and sqlite.engine == "sqlite"
        assert isinstance(postgres, PostgresDatabase) and postgres.engine == "postgresql"
        assert postgres.path is None and not (tmp_path / "unused.db").exists()
    finally:
        await sqlite.close()
        await postgres.close()
        await pg.drop_database(url)


def test_a_store_url_must_be_postgresql(tmp_path: Path) -> None:
    config = tmp_path / "cw.toml"
    config.write_text('[store]\nurl = "mysql://root:hunter2@db/cw"\n')
    with pytest.raises(ConfigError) as error:
        load_config(config, env={})
    assert error.value.key == "store.url" and "hunter2" not in str(error.value)
    config.write_text('[store]\nurl = "postgresql://cw:hunter2@db:5432/cw"\n')
    settings = load_config(config, env={})
    assert settings.store.url == "postgresql://cw:hunter2@db:5432/cw"
    assert describe_store(settings.store) == "postgresql://cw:***@db:5432/cw"


async def test_an_unreachable_postgresql_is_a_clear_error(pg: PgServer) -> None:
    url = f"postgresql://nobody:secret@127.0.0.1:{pg.port}/no_such_database"
    with pytest.raises(StoreError, match="cannot open database") as error:
        await Database.open(url)
    assert "secret" not in str(error.value)


async def test_nodes_starting_together_apply_each_migration_once(pg: PgServer) -> None:
    url = await pg.create_database()
    opened = await asyncio.gather(*(Database.open(url) for _ in range(4)))
    try:
        rows = await opened[0].fetch_all("SELECT number FROM schema_migrations ORDER BY number")
        assert [r["number"] for r in rows] == [n for n, _, _ in available_migrations()]
        assert await opened[1].migrate() == []
    finally:
        for db in opened:
            await db.close()
        await pg.drop_database(url)


async def test_doctor_inspects_a_postgresql_store(pg: PgServer, tmp_path: Path) -> None:
    url = await pg.create_database()
    db = await Database.open(url)
    await db.close()
    try:
        found = await inspect_store(StoreSettings(path=tmp_path / "none.db", url=url))
        assert found.check.status is Status.OK
        assert f"{len(available_migrations())} migrations applied" in found.check.detail
    finally:
        await pg.drop_database(url)


async def test_rows_by_position_and_name(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db, "acme")
    row = await db.fetch_one("SELECT id, slug, name FROM orgs WHERE slug = ?", ("acme",))
    assert row is not None
    assert row[0] == row["id"] == org.id and row["slug"] == "acme"
    assert list(row) == [org.id, "acme", "Acme"] and len(row) == 3
    assert dict(row) == {"id": org.id, "slug": "acme", "name": "Acme"}
    assert await db.fetch_value("SELECT count(*) FROM orgs WHERE slug IS ?", (None,)) == 0


async def test_transaction_cursors_and_errors(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO numbers (org_id, number, created_at) VALUES (?, ?, ?)",
            (org.id, "+15550001", "2027-01-01T00:00:00.000Z"),
        )
        first = cursor.lastrowid
        assert first is not None and first > 0 and cursor.rowcount == 1
        await conn.executemany(
            "INSERT INTO numbers (org_id, number, created_at) VALUES (?, ?, ?)",
            [(org.id, f"+1555000{i}", "2027-01-01T00:00:00.000Z") for i in (2, 3)],
        )
        async with conn.execute("SELECT number FROM numbers ORDER BY id") as cur:
            assert [r["number"] for r in await cur.fetchall()] == [
                "+15550001", "+15550002", "+15550003"]
        changed = await conn.execute("UPDATE numbers SET label = 'x' WHERE org_id = ?", (org.id,))
        assert changed.rowcount == 3
        ignored = await conn.execute(
            "INSERT OR IGNORE INTO numbers (org_id, number, created_at) VALUES (?, ?, ?)",
            (org.id, "+15550001", "2027-01-01T00:00:00.000Z"),
        )
        assert ignored.rowcount == 0
    with pytest.raises(IntegrityError):  # the same class on both engines
        async with db.transaction() as conn:
            await conn.execute("UPDATE numbers SET label = 'rolled back'")
            await conn.execute(
                "INSERT INTO numbers (org_id, number, created_at) VALUES (?, ?, ?)",
                (org.id, "+15550001", "2027-01-01T00:00:00.000Z"),
            )
    assert await db.fetch_value("SELECT count(*) FROM numbers WHERE label = 'x'") == 3
    with pytest.raises(StoreError) as wrapped:
        await db.execute("INSERT INTO orgs (name, slug, created_at) VALUES ('A', ?, 'now')",
                         (f"{org.slug}",))
    assert isinstance(wrapped.value.__cause__, IntegrityError)
    new_id = await db.execute("INSERT INTO orgs (name, slug, created_at) VALUES (?, ?, ?)",
                              ("B", "b", "2027-01-01T00:00:00.000Z"))
    assert new_id == await db.fetch_value("SELECT id FROM orgs WHERE slug = 'b'")
    params = {"slug": "b", "name": "B"}
    assert await db.fetch_value(
        "SELECT count(*) FROM orgs WHERE slug = :slug AND name = :name AND slug = :slug", params
    ) == 1


async def test_nocase_columns_compare_without_case(make_db: MakeDb) -> None:
    db = await make_db()
    await db.execute("INSERT INTO users (email, password_hash, created_at) VALUES (?, ?, ?)",
                     ("Ann@Example.com", "x", "2027-01-01T00:00:00.000Z"))
    assert await db.fetch_value("SELECT count(*) FROM users WHERE email = ?",
                                ("ann@example.COM",)) == 1
    with pytest.raises(StoreError):
        await db.execute("INSERT INTO users (email, password_hash, created_at) VALUES (?, ?, ?)",
                         ("ANN@example.com", "x", "2027-01-01T00:00:00.000Z"))


def test_every_migration_has_a_postgresql_form() -> None:
    for migration in shipped_migrations():
        assert migration.postgres_sql().strip(), migration.name


def test_the_migration_translation() -> None:
    sql = to_postgres(
        "-- a comment with INTEGER and don't\n"
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0, r REAL,"
        " b BLOB, s TEXT DEFAULT 'INTEGER') WITHOUT ROWID;\n"
        "UPDATE t SET s = strftime('%Y-%m-%dT%H:%M:%fZ', 'now');\n"
    )
    assert "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" in sql
    assert "n BIGINT NOT NULL" in sql and "r DOUBLE PRECISION" in sql and "b BYTEA" in sql
    assert "DEFAULT 'INTEGER'" in sql and "ROWID" not in sql and "comment" not in sql
    assert "to_char(now() AT TIME ZONE 'UTC'" in sql
    with pytest.raises(StoreError, match="postgresql.sql"):
        to_postgres("CREATE TRIGGER x AFTER INSERT ON t BEGIN SELECT 1; END;")


async def test_a_read_only_postgresql_is_not_writable(pg: PgServer) -> None:
    url = await pg.create_database()
    db = await Database.open(url)
    await db.check_writable()
    name = url.rsplit("/", 1)[1]
    await db.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    await db.close()
    standby_like = await Database.open(url, migrate=False)
    try:
        with pytest.raises(StoreError, match="read-only"):
            await standby_like.check_writable()
    finally:
        await standby_like.close()
        await pg.drop_database(url)


async def test_a_database_owner_without_superuser_can_migrate(pg: PgServer) -> None:
    admin = await Database.open(pg.url(), migrate=False)
    name = "owned_by_app"
    try:
        await admin.execute("CREATE ROLE cw_app LOGIN")
        await admin.execute(f"CREATE DATABASE {name} OWNER cw_app")
        url = f"postgresql://cw_app@127.0.0.1:{pg.port}/{name}"
        db = await Database.open(url)
        assert await db.fetch_value("SELECT count(*) FROM schema_migrations") == len(
            available_migrations())
        await db.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute("DROP ROLE IF EXISTS cw_app")
        await admin.close()
