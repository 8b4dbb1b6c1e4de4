"""Check that loaded records have the fields a benchmark file needs."""

from __future__ import annotations

from unlearnkit.errors import UserError


def check_records(
    records: list, fields: dict[str, type], where: str, allow_empty: bool = False
) -> list[dict]:
    """Every record must be a dict with ``fields`` of the given types; raise one clear UserError."""
    if not isinstance(records, list):
        raise UserError(f"{where}: expected a list of records, got {type(records).__name__}")
    if not records and not allow_empty:
        raise UserError(f"{where} has no records; it must not be empty")
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise UserError(
                f"{where}: record {i} is a {type(rec).__name__}, expected an object with {sorted(fields)}"
            )
        for name, kind in fields.items():
            if name not in rec:
                raise UserError(
                    f"{where}: record {i} has no field '{name}' (fields: {sorted(rec)}); expected {sorted(fields)}"
                )
            if not isinstance(rec[name], kind):
                raise UserError(
                    f"{where}: record {i} field '{name}' is {type(rec[name]).__name__}, expected {kind.__name__}"
                )
            if kind is list and not all(isinstance(x, str) for x in rec[name]):
                raise UserError(f"{where}: record {i} field '{name}' must be a list of strings")
    return records


def check_texts(records: list, where: str) -> list[str]:
    """A list of non-empty strings (MUSE raw and privleak files)."""
    if not isinstance(records, list) or not records:
        raise UserError(f"{where}: expected a non-empty JSON list of texts")
    for i, rec in enumerate(records):
        if isinstance(rec, dict) and isinstance(rec.get("text"), str):
            records[i] = rec["text"]
        elif not isinstance(rec, str):
            raise UserError(f"{where}: item {i} is a {type(rec).__name__}, expected a string")
    return records
