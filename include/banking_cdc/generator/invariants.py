"""The invariants the source database keeps after every committed transaction, and a checker for them.

1. No account has a negative balance.
2. Every account's balance equals its posted credits minus its posted debits.
3. Every transfer is exactly two legs (one debit, one credit, on two accounts) of the same status whose
   signed amounts sum to zero.
4. A reversal is posted, on the original's account, for the original's amount in the opposite direction, and
   its original is a posted non-reversal row (the schema allows one reversal per original).
5. A closed account has no pending transaction, and nothing was booked or posted on it after it closed.
6. Time runs forward: nothing is booked before its account opened, posted before it was booked, or closed
   before it opened.

All checks run as one SQL statement, so they see one consistent snapshot even while a generator writes.
Violations name ids and amounts only, never customer data.
"""

from __future__ import annotations

from typing import Any, Final

from banking_cdc.exceptions import BankingCdcError

#: violations reported per check at most (the count of the rest is reported too)
MAX_PER_CHECK: Final = 25

_SIGNED = "CASE WHEN t.direction = 'credit' THEN t.amount ELSE -t.amount END"

_CHECKS: Final[tuple[tuple[str, str], ...]] = (
    (
        "negative balance",
        "SELECT a.account_id::text, 'account ' || a.account_id || ' has balance ' || a.balance"
        " FROM accounts a WHERE a.balance < 0",
    ),
    (
        "balance mismatch",
        f"""
        SELECT a.account_id::text, 'account ' || a.account_id || ' has balance ' || a.balance
               || ' but its posted credits minus debits are ' || coalesce(p.net, 0)
        FROM accounts a
        LEFT JOIN (SELECT t.account_id, sum({_SIGNED}) AS net FROM transactions t
                   WHERE t.status = 'posted' GROUP BY t.account_id) p ON p.account_id = a.account_id
        WHERE a.balance <> coalesce(p.net, 0)
        """,
    ),
    (
        "transfer legs",
        f"""
        SELECT t.transfer_id::text, 'transfer ' || t.transfer_id || ' has ' || count(*) || ' legs on '
               || count(DISTINCT t.account_id) || ' accounts, directions ' || string_agg(DISTINCT t.direction, '/')
               || ', statuses ' || string_agg(DISTINCT t.status, '/') || ', signed sum ' || sum({_SIGNED})
        FROM transactions t WHERE t.transfer_id IS NOT NULL GROUP BY t.transfer_id
        HAVING count(*) <> 2 OR count(DISTINCT t.account_id) <> 2 OR count(DISTINCT t.direction) <> 2
            OR count(DISTINCT t.status) <> 1 OR sum({_SIGNED}) <> 0
        """,
    ),
    (
        "reversal",
        """
        SELECT r.transaction_id::text, 'reversal ' || r.transaction_id || ' (' || r.status || ' ' || r.direction
               || ' ' || r.amount || ' on account ' || r.account_id || ') does not mirror transaction '
               || o.transaction_id || ' (' || o.status || ' ' || o.txn_type || ' ' || o.direction || ' ' || o.amount
               || ' on account ' || o.account_id || ')'
        FROM transactions r JOIN transactions o ON o.transaction_id = r.reverses_transaction_id
        WHERE r.status <> 'posted' OR o.status <> 'posted' OR o.txn_type = 'reversal'
           OR r.amount <> o.amount OR r.direction = o.direction OR r.account_id <> o.account_id
        """,
    ),
    (
        "closed account",
        """
        SELECT a.account_id::text, 'closed account ' || a.account_id || ' has ' || count(*) FILTER
               (WHERE t.status = 'pending') || ' pending transactions and ' || count(*) FILTER
               (WHERE t.booked_at > a.closed_at OR t.posted_at > a.closed_at) || ' booked or posted after closing'
        FROM accounts a JOIN transactions t ON t.account_id = a.account_id
        WHERE a.status = 'closed'
        GROUP BY a.account_id
        HAVING count(*) FILTER (WHERE t.status = 'pending' OR t.booked_at > a.closed_at
                                   OR t.posted_at > a.closed_at) > 0
        """,
    ),
    (
        "timeline",
        """
        SELECT t.transaction_id::text, 'transaction ' || t.transaction_id || CASE
                   WHEN t.booked_at < a.opened_at THEN ' was booked before account ' || a.account_id || ' opened'
                   ELSE ' was posted before it was booked' END
        FROM transactions t JOIN accounts a ON a.account_id = t.account_id
        WHERE t.booked_at < a.opened_at OR t.posted_at < t.booked_at
        UNION ALL
        SELECT a.account_id::text, 'account ' || a.account_id || ' closed before it opened'
        FROM accounts a WHERE a.closed_at < a.opened_at
        """,
    ),
)


def invariants_sql() -> str:
    """Return the one statement that checks every invariant: rows of (check, key, message, violations of check)."""
    parts = [
        f"""(SELECT '{name}' AS check_name, v.key, v.message, count(*) OVER () AS total
             FROM ({query}) AS v(key, message) ORDER BY v.key LIMIT {MAX_PER_CHECK})"""
        for name, query in _CHECKS
    ]
    return "\nUNION ALL\n".join(parts)


def check_invariants(conn: Any) -> list[str]:
    """
    Check the source invariants; return human-readable violations, empty when all hold.

    :param conn: An open DB-API connection to the source database (psycopg2 or psycopg 3). A transaction this
        function opens is rolled back; one the caller had open is left open.
    """
    was_idle = not getattr(conn, "autocommit", False) and _idle(conn)
    cur = conn.cursor()
    try:
        cur.execute(invariants_sql())
        rows = cur.fetchall()
    finally:
        cur.close()
        if was_idle:
            conn.rollback()
    violations: list[str] = []
    shown: dict[str, int] = {}
    totals: dict[str, int] = {}
    for check_name, _key, message, total in rows:
        violations.append(f"{check_name}: {message}")
        shown[check_name] = shown.get(check_name, 0) + 1
        totals[check_name] = int(total)
    for check_name, total in totals.items():
        if total > shown[check_name]:
            violations.append(f"{check_name}: ... and {total - shown[check_name]} more")
    return violations


def _idle(conn: Any) -> bool:
    """Whether the connection is outside a transaction (psycopg2 and psycopg 3)."""
    info = getattr(conn, "info", None)
    status = getattr(info, "transaction_status", None)
    if status is None and hasattr(conn, "get_transaction_status"):
        status = conn.get_transaction_status()
    # psycopg2.extensions.TRANSACTION_STATUS_IDLE == 0 == psycopg.pq.TransactionStatus.IDLE
    return status is not None and int(status) == 0


class InvariantViolationError(BankingCdcError):
    """
    The source database breaks an invariant after a generator run.

    :param violations: The violations found (ids and amounts, no customer data).
    """

    def __init__(self, violations: list[str]) -> None:
        shown = "; ".join(violations[:5])
        more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
        super().__init__(f"{len(violations)} invariant violations in the source database: {shown}{more}")
        self.violations = violations
