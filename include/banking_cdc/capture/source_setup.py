"""The capture setup's source side: every table of ``capture.yaml`` can be captured, and is published.

``capture.yaml`` is the one list of what is captured. :func:`ensure_source` checks each configured table in the
source catalog (it exists, is a plain table, has a primary key or declared key columns, has ``REPLICA IDENTITY
FULL``, the connector's user may read it), makes the publication publish exactly those tables plus the
connector's heartbeat and signal tables (or, when a DBA owns the publication, only verifies it), and reads the
publication back. Every problem found is reported at once, each naming its table, the reason and the fix; nothing
is changed in the source when a check fails. A table that is configured but not published is exactly the silent
loss this module exists to prevent: the connector would run, green, and never see a change of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.capture.source_schema import banking_tables_sql, connector_tables_sql, publication_sql
from banking_cdc.exceptions import BankingCdcError

log = logging.getLogger(__name__)


class CaptureSetupError(BankingCdcError):
    """A configured table cannot be captured; the message names each table, the reason and the fix."""


@dataclass(frozen=True)
class CaptureProblem:
    """
    Why a configured table (or the connector's user) cannot be captured, and how to fix it.

    :param subject: The schema-qualified table, or the user.
    :param reason: What is wrong.
    :param fix: What to do about it.
    """

    subject: str
    reason: str
    fix: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.reason} (fix: {self.fix})"


@dataclass
class SourceSetup:
    """
    What :func:`ensure_source` found and did.

    :param published: Schema-qualified tables the publication publishes afterwards.
    :param added: Tables the setup added to the publication (a managed publication).
    :param removed: Tables the setup took out of it (no longer configured).
    :param keys: Key columns per captured table (primary key, or the declared ``key_columns``).
    """

    published: list[str]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    keys: dict[str, list[str]] = field(default_factory=dict)


_CATALOG_SQL = """
SELECT c.relname, c.relkind, c.relreplident, has_table_privilege(%s, c.oid, 'SELECT'),
       ARRAY(SELECT a.attname FROM pg_index i
             JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position) ON true
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.position),
       ARRAY(SELECT a.attname FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = ANY(%s)
"""
_KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view", "f": "foreign table"}


def table_problems(cur: Any, capture: CaptureConfig, *, connector_user: str) -> tuple[list[CaptureProblem], dict]:
    """
    Check every configured table in the source catalog; return the problems and the key columns per table.

    :param cur: A cursor on the source database.
    :param capture: The capture configuration.
    :param connector_user: The role the connector signs in with (needs SELECT on every table, and REPLICATION).
    """
    source = capture.source
    cur.execute(_CATALOG_SQL, (connector_user, source.schema, list(source.tables)))
    catalog = {row[0]: row[1:] for row in cur.fetchall()}
    problems: list[CaptureProblem] = []
    keys: dict[str, list[str]] = {}
    for table in source.tables:
        name = source.qualified(table)
        if table not in catalog:
            problems.append(CaptureProblem(name, "table absent", "create it, or remove it from source.tables"))
            continue
        kind, identity, readable, primary_key, columns = catalog[table]
        if kind != "r":
            problems.append(
                CaptureProblem(name, f"is a {_KINDS.get(kind, kind)}, not a plain table", "capture a plain table")
            )
            continue
        declared = list(source.key_columns.get(table, ()))
        unknown = [column for column in declared if column not in columns]
        if unknown:
            problems.append(
                CaptureProblem(
                    name,
                    f"declared key column(s) {', '.join(unknown)} do not exist",
                    f"correct source.key_columns.{table}",
                )
            )
        elif declared or primary_key:
            keys[name] = declared or list(primary_key)
        else:
            problems.append(
                CaptureProblem(
                    name,
                    "no primary key and no declared key columns",
                    f"ALTER TABLE {name} ADD PRIMARY KEY (...), or list its key in source.key_columns.{table}",
                )
            )
        if identity != "f":
            problems.append(
                CaptureProblem(
                    name,
                    "REPLICA IDENTITY is not FULL (updates and deletes would lack complete before-images)",
                    f"ALTER TABLE {name} REPLICA IDENTITY FULL",
                )
            )
        if not readable:
            problems.append(
                CaptureProblem(
                    name,
                    f"the connector's user {connector_user} may not read it",
                    f"GRANT SELECT ON {name} TO {connector_user}",
                )
            )
    cur.execute("SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = %s", (connector_user,))
    row = cur.fetchone()
    if row is None or not row[0]:
        problems.append(
            CaptureProblem(
                connector_user,
                "the connector's user has no REPLICATION attribute",
                f"ALTER ROLE {connector_user} REPLICATION",
            )
        )
    return problems, keys


def published_tables(cur: Any, publication: str) -> list[str]:
    """The schema-qualified tables ``publication`` publishes (empty when it does not exist)."""
    cur.execute(
        "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = %s ORDER BY 1",
        (publication,),
    )
    return [row[0] for row in cur.fetchall()]


def ensure_source(conn: Any, capture: CaptureConfig, *, connector_user: str) -> SourceSetup:
    """
    Check every configured table, then publish exactly them (a managed publication) or verify the publication.

    One transaction: when a check fails, nothing is changed and :class:`CaptureSetupError` lists every problem.

    :param conn: An open DB-API connection to the source database (as the tables' owner for a managed
        publication: PostgreSQL requires ownership to publish a table).
    :param capture: The capture configuration.
    :param connector_user: The role the connector signs in with.
    :raises CaptureSetupError: A configured table cannot be captured, or is not in a verified publication.
    """
    source = capture.source
    connector_tables = [source.qualified(source.heartbeat_table), source.qualified(source.signal_table)]
    try:
        with conn.cursor() as cur:
            if source.create_demo_tables:
                cur.execute(banking_tables_sql())
            cur.execute(connector_tables_sql(source.schema, source.heartbeat_table, source.signal_table))
            problems, keys = table_problems(cur, capture, connector_user=connector_user)
            if problems:
                raise CaptureSetupError(
                    f"{len(problems)} problem(s) prevent capturing the tables of capture.yaml:\n"
                    + "\n".join(f"  - {problem}" for problem in problems)
                )
            before = published_tables(cur, source.publication)
            wanted = sorted({*capture.qualified_tables(), *connector_tables})
            if source.manage_publication:
                cur.execute(publication_sql(source.publication, wanted))
            after = published_tables(cur, source.publication)
            missing = [table for table in wanted if table not in after]
            if missing:
                raise CaptureSetupError(
                    f"publication {source.publication} does not publish {', '.join(missing)}: the connector would "
                    "run and never see their changes (fix: ALTER PUBLICATION "
                    f"{source.publication} ADD TABLE {', '.join(missing)}; or set source.manage_publication: true)"
                )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    result = SourceSetup(
        published=after,
        added=[table for table in after if table not in before],
        removed=[table for table in before if table not in after],
        keys=keys,
    )
    if before and result.added:
        log.warning("Publication %s did not publish %s: added", source.publication, ", ".join(result.added))
    if result.removed:
        log.warning("Publication %s no longer publishes %s (not configured)", source.publication, result.removed)
    extra = sorted(set(after) - set(wanted))
    if extra:
        log.warning(
            "Publication %s also publishes %s, which capture.yaml does not capture (the connector ignores them)",
            source.publication,
            ", ".join(extra),
        )
    return result
