"""How a typed row is written to and read back from CSV cells (every CSV cell is text), both ways in one place:
JSON for lists and objects, `True`/`1` for booleans and integers, and a quote before text a spreadsheet would run
as a formula. `to_cell` and `from_cell` are inverse, so a CSV export reads back as the same rows as a JSONL one."""

from __future__ import annotations

import json
import re
from typing import Any

# A spreadsheet runs a cell starting with one of these as a formula; `to_cell` guards it with a leading quote.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# The typed fields of our schemas: the reader parses these columns back; every other column stays text.
CSV_COLUMN_TYPES: dict[str, str] = {
    "strength": "int",
    "label": "bool",
    "safety_critical": "bool",
    "messages": "json",
    "facts": "json",
    "choices": "json",
    "meta": "json",
}
_TRUE, _FALSE = {"true", "1", "yes", "evet"}, {"false", "0", "no", "hayır", "hayir"}
_INT = re.compile(r"-?(0|[1-9][0-9]*)")


def _guarded(text: str) -> bool:
    # Quotes in front of a formula character: the guard is one more quote, so text that already starts with
    # quotes before a formula character is guarded too, and reading back removes exactly one.
    return text.lstrip("'").startswith(FORMULA_PREFIXES)


def guard_formula(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (= + - @ tab CR, after any quotes) gets a leading quote."""
    return "'" + value if isinstance(value, str) and _guarded(value) else value


def to_cell(value: Any) -> Any:
    """One value of a row → its CSV cell (lists and objects as JSON, formulas guarded)."""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    return guard_formula(value)


def from_cell(name: str, text: str) -> Any:
    """A CSV cell back to the row's value: the formula guard removed, typed columns parsed. A typed cell that does
    not parse stays text, so the schema check names the field."""
    if text.startswith("'") and _guarded(text):
        text = text[1:]
    kind = CSV_COLUMN_TYPES.get(name)
    stripped = text.strip()
    if kind == "int" and _INT.fullmatch(stripped):
        return int(stripped)
    if kind == "bool" and stripped.lower() in _TRUE | _FALSE:
        return stripped.lower() in _TRUE
    if kind == "json" and stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return text
    return text


def from_cells(header: list[str], cells: list[str]) -> dict[str, Any]:
    """A CSV record → row; an empty cell in a typed column is a value left out (as JSONL omits the key)."""
    return {
        name: from_cell(name, cell)
        for name, cell in zip(header, cells)
        if not (name in CSV_COLUMN_TYPES and not cell.strip())
    }
