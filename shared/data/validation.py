"""Validation against a schema with rejects: a bad row is an error naming `file:line: field: reason`, or, by
policy, a counted entry in the rejects file. Nothing disappears silently."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.data.readers import DataError, Row, read_rows
from shared.data.schemas import SCHEMAS, FieldError

logger = logging.getLogger(__name__)


@dataclass
class Rejects:
    """Collects rows skipped by policy with their reasons; written as JSONL next to the outputs."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: Row | dict, step: str, reason: str) -> None:
        if isinstance(row, Row):
            entry = {"source": row.source, "line": row.line, "step": step, "reason": reason, "row": row.data}
            if row.data is None and row.raw is not None:
                entry["raw"] = row.raw  # the unparsable text itself, so it can be fixed by hand
        else:
            origin = row.get("_origin", {})
            data = {k: v for k, v in row.items() if k != "_origin"}
            entry = {**origin, "step": step, "reason": reason, "row": data}
        self.rows.append(entry)

    def counts(self) -> dict[str, int]:
        return dict(Counter(entry["step"] for entry in self.rows))

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(path, self.rows)
        return path


def load_examples(
    source: str | Path,
    schema: str,
    *,
    on_invalid: str = "error",
    rejects: Rejects | None = None,
    keep_origin: bool = False,
    delimiter: str | None = None,
) -> list[dict[str, Any]]:
    """Read and validate `source` against a schema from `SCHEMAS`; rows come back normalised (NFC, cleaned).

    `on_invalid="error"` raises `DataError` at the first bad row (file:line: field: reason);
    `on_invalid="skip"` records bad rows in `rejects` and goes on. `delimiter` is for CSV (default: detected).
    """
    if on_invalid not in {"error", "skip"}:
        raise ValueError(f"on_invalid must be 'error' or 'skip', got {on_invalid!r}")
    if schema not in SCHEMAS:
        raise ValueError(f"unknown schema {schema!r} (use {', '.join(SCHEMAS)})")
    if on_invalid == "skip" and rejects is None:
        raise ValueError("on_invalid='skip' needs a Rejects collector so skipped rows are kept")
    schema_type = SCHEMAS[schema]
    examples = []
    for row in read_rows(source, delimiter=delimiter):
        try:
            if row.error is not None:
                raise DataError(row.error)
            example = _asdict(schema_type.from_record(row.data))
        except (FieldError, DataError) as exc:
            reason = f"{exc.field}: {exc.reason}" if isinstance(exc, FieldError) else str(exc)
            if on_invalid == "error":
                raise DataError(f"{row.source}:{row.line}: {reason}") from None
            logger.warning("skipping invalid row %s:%s: %s", row.source, row.line, reason)
            rejects.add(row, "validate", reason)
            continue
        if keep_origin:
            example["_origin"] = {"source": row.source, "line": row.line}
        examples.append(example)
    return examples


def _asdict(example: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(example).items() if v is not None}


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def strip_origin(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "_origin"} for row in rows]


def require_usable_rows(
    rows: list, *, what: str, sources: list[str], rejects: Rejects, rejects_path: str | Path | None = None
) -> None:
    """Write the rejects file now (if there are rejects), then stop with one line when nothing is left to train
    on — before any model loads, instead of a bare StopIteration from inside the trainer."""
    if rejects.rows and rejects_path is not None:
        rejects.write(rejects_path)
    if rows:
        return
    steps = ", ".join(f"{count} at {step}" for step, count in rejects.counts().items())
    why = f"{len(rejects.rows)} rejected ({steps}); reasons in {rejects_path}" if rejects.rows else "no rows in them"
    raise DataError(f"0 usable {what} rows from {', '.join(map(str, sources))}: {why}")
