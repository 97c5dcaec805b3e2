"""Reading rows from JSONL, JSON, CSV, Parquet files and Hugging Face dataset ids; every row keeps its file and line."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LOCAL_SUFFIXES = {".jsonl", ".json", ".csv", ".parquet"}


class DataError(ValueError):
    """Invalid input data; the message names file, line, field and reason."""


@dataclass(frozen=True)
class Row:
    """A raw record and where it came from."""

    source: str
    line: int
    data: dict[str, Any] | None
    error: str | None = None  # a parse error (e.g. broken JSON) before any schema check


def _decode(raw: bytes, path: Path) -> str:
    # Spreadsheet exports arrive as UTF-8 with BOM or as Windows-1254 (Turkish code page).
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        logger.warning("%s is not UTF-8; reading it as Windows-1254", path)
        return raw.decode("cp1254")


def _read_jsonl(path: Path) -> Iterator[Row]:
    text = _decode(path.read_bytes(), path)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Row(str(path), number, None, f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(data, dict):
            yield Row(str(path), number, None, f"expected a JSON object, got {type(data).__name__}")
            continue
        yield Row(str(path), number, data)


def _read_json(path: Path) -> Iterator[Row]:
    try:
        data = json.loads(_decode(path.read_bytes(), path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
    records = data.get("data", data) if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise DataError(f"{path}:1: expected a JSON list of objects (or {{'data': [...]}})")
    for number, record in enumerate(records, start=1):  # "line" is the record's position for JSON arrays
        if isinstance(record, dict):
            yield Row(str(path), number, record)
        else:
            yield Row(str(path), number, None, f"expected an object, got {type(record).__name__}")


def _read_csv(path: Path) -> Iterator[Row]:
    text = _decode(path.read_bytes(), path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    line = reader.line_num + 1
    for record in reader:
        # reader.line_num is the physical line where the record ended; report where it started.
        yield Row(str(path), line + 1, dict(record))
        line = reader.line_num


def _read_parquet(path: Path) -> Iterator[Row]:
    import datasets

    table = datasets.Dataset.from_parquet(str(path))
    for number, record in enumerate(table, start=1):
        yield Row(str(path), number, dict(record))


def _read_hub(spec: str) -> Iterator[Row]:
    """`org/name`, `org/name:split` or `org/name@config:split` through `datasets.load_dataset`."""
    import datasets

    name, _, split = spec.partition(":")
    name, _, subset = name.partition("@")
    dataset = datasets.load_dataset(name, subset or None, split=split or "train")
    for number, record in enumerate(dataset, start=1):
        yield Row(f"{name}[{split or 'train'}]", number, dict(record))


_READERS: dict[str, Callable[[Path], Iterator[Row]]] = {
    ".jsonl": _read_jsonl,
    ".json": _read_json,
    ".csv": _read_csv,
    ".parquet": _read_parquet,
}


def read_rows(source: str | Path) -> Iterator[Row]:
    """Rows from a local JSONL/JSON/CSV/Parquet file or a Hugging Face dataset id."""
    path = Path(source)
    if path.suffix in LOCAL_SUFFIXES:
        if not path.is_file():
            raise DataError(f"{path}: file not found")
        yield from _READERS[path.suffix](path)
    elif path.exists():
        raise DataError(f"{path}: unsupported file type (use {', '.join(sorted(LOCAL_SUFFIXES))})")
    else:
        yield from _read_hub(str(source))
