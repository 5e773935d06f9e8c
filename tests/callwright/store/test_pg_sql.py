"""The SQLite-flavoured SQL of the repositories, translated for PostgreSQL (pure)."""

from __future__ import annotations

import pytest

from callwright.store.pg_sql import returns_rows, strip_comments, translate, translate_statement


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = $1 AND b = $2"),
        ("SELECT '?', \"?\" FROM t WHERE a = ?", "SELECT '?', \"?\" FROM t WHERE a = $1"),
        ("SELECT 'it''s ?' WHERE a = ?", "SELECT 'it''s ?' WHERE a = $1"),
        ("SELECT 1 -- what?\nWHERE a = ?", "SELECT 1  \nWHERE a = $1"),
        ("SELECT x FROM t WHERE a IS ? AND b IS NOT ? AND c IS NULL",
         "SELECT x FROM t WHERE a IS NOT DISTINCT FROM $1 AND b IS DISTINCT FROM $2"
         " AND c IS NULL"),
        ("INSERT OR IGNORE INTO t (a) VALUES (?)",
         "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"),
        ("INSERT OR IGNORE INTO t (a) VALUES (?) RETURNING id",
         "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id"),
        ("UPDATE t SET a = MAX(t.a, excluded.a), b = MIN(b, 3)",
         "UPDATE t SET a = GREATEST(t.a, excluded.a), b = LEAST(b, 3)"),
        ("SELECT MAX(a) FROM t", "SELECT MAX(a) FROM t"),
        ("SELECT x::text FROM t WHERE a = '12:30'", "SELECT x::text FROM t WHERE a = '12:30'"),
    ],
)
def test_translate(sqlite: str, postgres: str) -> None:
    assert translate(sqlite) == postgres


def test_named_parameters_get_one_number_each() -> None:
    done = translate_statement("SELECT * FROM c WHERE org IS :org AND a < :at AND b = :org")
    assert done.sql == "SELECT * FROM c WHERE org IS NOT DISTINCT FROM $1 AND a < $2 AND b = $1"
    assert done.names == ("org", "at")
    with pytest.raises(ValueError, match="mixes"):
        translate_statement("SELECT ? WHERE a = :a")


def test_dollar_quoted_bodies_and_comments_are_left_alone() -> None:
    body = "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN RAISE 'x?'; END $$ LANGUAGE plpgsql"
    assert translate(body) == body
    assert strip_comments("a -- b 'c\n/* d */e") == "a \ne"


@pytest.mark.parametrize(
    ("sql", "rows"),
    [("SELECT 1", True), ("  with x AS (SELECT 1) SELECT * FROM x", True),
     ("UPDATE t SET a = 1", False), ("DELETE FROM t RETURNING id", True),
     ("INSERT INTO t (a) VALUES ('RETURNING')", False)],
)
def test_returns_rows(sql: str, rows: bool) -> None:
    assert returns_rows(sql) is rows
