"""Reading rows from JSONL, JSON, CSV, Parquet files and Hugging Face dataset ids; every row keeps its file and line.

Bytes become text one physical line at a time, so one bad line is reported as `file:line: not UTF-8 (...)` and
the rest of the file still reads. The rule for spreadsheet exports in the Turkish code page: a file in which no
line with non-ASCII bytes is valid UTF-8 is read as Windows-1254 as a whole (with a warning); a UTF-8 file with a
few non-UTF-8 lines keeps those lines as errors (guessing their encoding would silently change text).

CSV: the delimiter is read from the header (the one of `, ; TAB |` that splits it into the most columns; Turkish
Excel writes `;`) unless one is given; a row with more or fewer fields than the header is an error naming its
line; cells become values with `shared.data.csv_cells.from_cells` (typed columns parsed, the formula guard
removed), so the app's CSV exports read back as the same rows as its JSONL exports.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.data.csv_cells import from_cells

logger = logging.getLogger(__name__)

LOCAL_SUFFIXES = {".jsonl", ".json", ".csv", ".parquet"}
CSV_DELIMITERS = ",;\t|"
# `org/name`, optionally `@config` and `:split` — anything else that is not a local file is "not found".
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


class DataError(ValueError):
    """Invalid input data; the message names file, line, field and reason."""


@dataclass(frozen=True)
class Row:
    """A raw record and where it came from."""

    source: str
    line: int
    data: dict[str, Any] | None
    error: str | None = None  # a parse error (e.g. broken JSON) before any schema check
    raw: str | None = None  # the line's text when it could not be parsed, so a reject keeps it


@dataclass(frozen=True)
class _Line:
    number: int
    text: str  # with its line ending
    error: str | None = None


def _split_lines(raw: bytes) -> list[bytes]:
    # Only LF ends a line (CRLF files keep their CR at the end); str.splitlines would also split on U+2028 and
    # other separators that JSON strings may contain.
    chunks = raw.split(b"\n")
    lines = [chunk + b"\n" for chunk in chunks[:-1]]
    return lines + [chunks[-1]] if chunks[-1] else lines


def _bad_utf8(chunk: bytes) -> str:
    try:
        text = chunk.decode("cp1254")
    except UnicodeDecodeError:
        text = ""
    if any(ch in text for ch in "ğĞşŞıİçÇöÖüÜ"):
        return "not UTF-8 (looks like Windows-1254? save the file as UTF-8)"
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (byte 0x{chunk[exc.start]:02x} at byte {exc.start + 1} of the line)"
    return "not UTF-8"


def _decodes(chunk: bytes) -> bool:
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_lines(path: Path) -> list[_Line]:
    """The file's physical lines, decoded one by one (see the module docstring for the encoding rule)."""
    raw = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    if not raw.strip():
        raise DataError(f"{path}: the file is empty" + (" (only blank lines)" if raw else " (0 bytes)"))
    chunks = _split_lines(raw)
    try:
        return [_Line(n, c.decode("utf-8")) for n, c in enumerate(chunks, start=1)]
    except UnicodeDecodeError:
        pass
    if not any(not c.isascii() and _decodes(c) for c in chunks):
        logger.warning("%s is not UTF-8 on any line with non-ASCII text: reading it as Windows-1254", path)
        lines = []
        for number, chunk in enumerate(chunks, start=1):
            try:
                lines.append(_Line(number, chunk.decode("cp1254")))
            except UnicodeDecodeError as exc:
                reason = f"neither UTF-8 nor Windows-1254 (byte 0x{chunk[exc.start]:02x})"
                lines.append(_Line(number, chunk.decode("cp1254", errors="replace"), reason))
        return lines
    return [
        _Line(n, c.decode("utf-8")) if _decodes(c) else _Line(n, c.decode("utf-8", "backslashreplace"), _bad_utf8(c))
        for n, c in enumerate(chunks, start=1)
    ]


def _read_jsonl(path: Path, **_) -> Iterator[Row]:
    for line in read_lines(path):
        text = line.text.rstrip("\n").removesuffix("\r")
        if line.error:
            yield Row(str(path), line.number, None, line.error, raw=text)
            continue
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Row(str(path), line.number, None, f"invalid JSON ({exc.msg} at column {exc.colno})", raw=text)
            continue
        if not isinstance(data, dict):
            yield Row(str(path), line.number, None, f"expected a JSON object, got {type(data).__name__}", raw=text)
            continue
        yield Row(str(path), line.number, data)


def _read_json(path: Path, **_) -> Iterator[Row]:
    lines = read_lines(path)
    for line in lines:
        if line.error:
            raise DataError(f"{path}:{line.number}: {line.error}")
    try:
        data = json.loads("".join(line.text for line in lines))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
    records = data.get("data", data) if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise DataError(f"{path}:1: expected a JSON list of objects (or {{'data': [...]}})")
    for number, record in enumerate(records, start=1):  # "line" is the record's position for JSON arrays
        if isinstance(record, dict):
            yield Row(str(path), number, record)
        else:
            yield Row(str(path), number, None, f"expected an object, got {type(record).__name__}", raw=repr(record))


def detect_delimiter(header: str) -> str:
    """The delimiter (of `CSV_DELIMITERS`) that splits the header line into the most columns; `,` on a tie."""

    def columns(delimiter: str) -> int:
        try:
            return len(next(csv.reader([header], delimiter=delimiter), []))
        except csv.Error:  # e.g. a stray carriage return: the full read below names the file and line
            return 0

    counts = {d: columns(d) for d in CSV_DELIMITERS}
    return max(CSV_DELIMITERS, key=lambda d: (counts[d], d == ","))


def _read_csv(path: Path, delimiter: str | None = None, **_) -> Iterator[Row]:
    lines = read_lines(path)
    header_line = next((line for line in lines if line.text.strip()), None)
    delimiter = delimiter or detect_delimiter(header_line.text.rstrip("\r\n"))
    if len(delimiter) != 1:
        raise DataError(f"{path}: delimiter must be one character, got {delimiter!r}")
    errors = {line.number: line.error for line in lines if line.error}
    reader = csv.reader((line.text for line in lines), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    first = 1
    try:
        for fields in reader:
            start, first = first, reader.line_num + 1  # a quoted cell may span lines: report where it starts
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line
            bad = next((errors[n] for n in range(start, reader.line_num + 1) if n in errors), None)
            if header is None:
                if bad:
                    raise DataError(f"{path}:{start}: header: {bad}")
                header = [name.strip() for name in fields]
                duplicates = sorted({name for name in header if header.count(name) > 1})
                if duplicates:
                    raise DataError(f"{path}:{start}: header: duplicate column(s) {', '.join(map(repr, duplicates))}")
                continue
            raw = "".join(line.text for line in lines[start - 1 : reader.line_num]).rstrip("\r\n")
            if bad:
                yield Row(str(path), start, None, bad, raw=raw)
            elif len(fields) != len(header):
                yield Row(
                    str(path),
                    start,
                    None,
                    f"{len(fields)} fields where the header has {len(header)} (delimiter {delimiter!r}; "
                    "a value with the delimiter in it must be quoted)",
                    raw=raw,
                )
            else:
                yield Row(str(path), start, from_cells(header, fields))
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: unreadable CSV ({exc})") from None


def _read_parquet(path: Path, **_) -> Iterator[Row]:
    import datasets

    table = datasets.Dataset.from_parquet(str(path))
    for number, record in enumerate(table, start=1):
        yield Row(str(path), number, dict(record))


def _read_hub(spec: str) -> Iterator[Row]:
    """`org/name`, `org/name:split` or `org/name@config:split` (or a local dataset folder) through
    `datasets.load_dataset`."""
    import datasets

    name, _, split = spec.partition(":")
    name, _, subset = name.partition("@")
    try:
        dataset = datasets.load_dataset(name, subset or None, split=split or "train")
    except Exception as exc:  # offline, unknown id, bad split: one line, not a traceback from the Hub client
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{spec}: not a local file; loading it as a Hugging Face dataset failed: {first}") from exc
    for number, record in enumerate(dataset, start=1):
        yield Row(f"{name}[{split or 'train'}]", number, dict(record))


def _dataset_folder_or_hub_id(spec: str) -> bool:
    name = spec.partition(":")[0].partition("@")[0]
    if Path(name).is_dir():
        return True
    # `data/train` with a local `data/` folder is a local path that is missing, not a Hub dataset.
    return bool(_HUB_ID.fullmatch(name)) and not Path(name.split("/")[0]).is_dir()


_READERS: dict[str, Callable[..., Iterator[Row]]] = {
    ".jsonl": _read_jsonl,
    ".json": _read_json,
    ".csv": _read_csv,
    ".parquet": _read_parquet,
}


def read_rows(source: str | Path, *, delimiter: str | None = None) -> Iterator[Row]:
    """Rows from a local JSONL/JSON/CSV/Parquet file (suffix in any case), a local dataset folder or a Hugging Face
    dataset id (`org/name[@config][:split]`). `delimiter` is for CSV (default: read from the header)."""
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix in LOCAL_SUFFIXES:
        if path.is_dir():
            raise DataError(f"{path}: is a folder, not a {suffix} file")
        if not path.is_file():
            raise DataError(f"{path}: file not found")
        yield from _READERS[suffix](path, delimiter=delimiter)
    elif path.is_file():
        raise DataError(f"{path}: unsupported file type (use {', '.join(sorted(LOCAL_SUFFIXES))})")
    elif _dataset_folder_or_hub_id(str(source)):
        yield from _read_hub(str(source))
    else:
        raise DataError(f"{path}: file not found (and not a Hugging Face dataset id like org/name)")
