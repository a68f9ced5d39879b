"""Callables of the ETL example. Pure Python and deterministic, so the example runs anywhere."""

from __future__ import annotations


def fetch(source: str, day: str) -> list[dict]:
    """Pretend to read one day of a source: three rows, derived from the names."""
    return [{"source": source, "day": day, "amount": (len(source) * (i + 1)) % 17} for i in range(3)]


def clean(rows: list[dict], minimum: int = 0) -> list[dict]:
    return [r for r in rows if r["amount"] >= minimum]


def load(batches: list[list[dict]], table: str) -> dict:
    rows = [r for batch in batches for r in batch]
    return {"table": table, "rows": len(rows), "total": sum(r["amount"] for r in rows)}


def report(summary: dict) -> str:
    return f"{summary['table']}: {summary['rows']} rows, total {summary['total']}"
