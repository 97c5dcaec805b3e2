"""Property-based tests of the loaders (hypothesis): whatever the bytes, encodings, delimiters, blank lines and
field counts, reading gives rows equal to what was written, or a counted `file:line` error for exactly the
records that are broken, or one `DataError` naming the file — never another exception, never a changed row."""

import csv
import io
import json
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shared.data import SCHEMAS, DataError, Rejects, load_examples, read_rows, to_cell

# CI-sized: a few seconds in all on 2 cores; the deadline is off because a shared CI machine stalls at random.
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COLUMNS = ["prompt", "completion", "strength", "label", "meta"]
# Pieces that have broken CSV/JSONL readers: delimiters, quotes, line ends of every kind, BOM, formula starts.
TRICKY = [",", ";", "\t", "|", '"', "'", "\n", "\r", "\r\n", "\u2028", "\x85", "\ufeff", "=", "-", "+", "@", " "]
TURKISH = "çğıöşüÇĞİÖŞÜ"


def texts(alphabet=None):
    chars = st.characters(exclude_categories=["Cs"]) if alphabet is None else st.sampled_from(alphabet)
    piece = st.one_of(st.text(chars, max_size=6), st.sampled_from(TRICKY if alphabet is None else [" ", ",", ";"]))
    return st.lists(piece, max_size=5).map("".join)


def records(alphabet=None):
    text = texts(alphabet)
    return st.fixed_dictionaries(
        {
            "prompt": text,
            "completion": text,
            "strength": st.integers(-3, 3),
            "label": st.booleans(),
            "meta": st.dictionaries(st.sampled_from(["source", "not"]), text, max_size=2),
        }
    )


@st.composite
def files(draw):
    """(suffix, bytes, source records with the line each starts on, delimiter to pass or None, lines that may
    come back as errors: the broken ones and a Windows-1254 line in a UTF-8 file)."""
    suffix = draw(st.sampled_from([".jsonl", ".csv"]))
    # Windows-1254 text here is Turkish: ASCII and Turkish letters never form valid UTF-8 in that code page, so the
    # reader can tell the encodings apart (any Latin text in cp1254 can happen to be valid UTF-8 — ambiguous).
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1254"]))
    one_cp1254_line = encoding == "utf-8" and draw(st.booleans())
    turkish_only = [chr(c) for c in range(32, 127)] + list(TURKISH)
    rows = draw(st.lists(records(turkish_only if encoding == "cp1254" else None), min_size=1, max_size=5))
    if one_cp1254_line:
        rows[0] = draw(records(turkish_only))
    delimiter = draw(st.sampled_from(",;\t|"))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    blank_before = draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows)))
    broken = draw(st.sets(st.integers(0, len(rows) - 1), max_size=2))

    text = delimiter.join(COLUMNS) + newline if suffix == ".csv" else ""
    content = text.encode(encoding)
    starts, suspect = [], set()
    for index, (row, blank) in enumerate(zip(rows, blank_before)):
        line = newline if blank else ""
        if suffix == ".jsonl":
            record = json.dumps(row, ensure_ascii=False)
            line += (record[: len(record) // 2] if index in broken else record) + newline  # truncated: invalid JSON
        else:
            buffer = io.StringIO()
            cells = [to_cell(row[c]) for c in COLUMNS] + (["fazla"] if index in broken else [])  # one field too many
            csv.writer(buffer, delimiter=delimiter, lineterminator=newline).writerow(cells)
            line += buffer.getvalue()
        starts.append(text.count("\n") + 1 + int(blank))
        if index in broken or (one_cp1254_line and index == 0):
            suspect.add(starts[-1])
        text += line
        content += line.encode("cp1254" if one_cp1254_line and index == 0 else encoding.replace("-sig", ""))
    passed_delimiter = draw(st.sampled_from([None, delimiter])) if suffix == ".csv" else None
    broken_lines = {start for index, start in enumerate(starts) if index in broken}
    return suffix, content, list(zip(starts, rows)), passed_delimiter, broken_lines, suspect


def assert_file_error(exc: DataError, path: Path) -> None:
    assert re.match(rf"{re.escape(str(path))}(:\d+)?: \S", str(exc)), str(exc)


@SETTINGS
@given(files())
def test_written_rows_read_back_exactly_or_as_counted_line_errors(sample):
    suffix, content, sources, delimiter, broken_lines, suspect = sample
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"rows{suffix}"
        path.write_bytes(content)
        try:
            rows = list(read_rows(path, delimiter=delimiter))
        except DataError as exc:  # a file-level problem (e.g. a NUL byte CSV cannot hold): named with its line
            assert_file_error(exc, path)
            return
    by_line = dict(sources)
    assert sorted(row.line for row in rows) == sorted(by_line), "every record comes back once, at its line"
    for row in rows:
        if row.data is not None:
            assert row.line not in broken_lines
            assert row.data == by_line[row.line]  # exactly what was written: no cut, no shifted column
        else:
            assert row.line in suspect, (row.line, row.error)  # only a broken record is an error...
            assert row.error and row.raw is not None  # ...with a reason and its text, to be counted in rejects


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts(), children, max_size=3),
    max_leaves=8,
)
FIELDS = ["prompt", "completion", "chosen", "rejected", "strength", "label", "messages", "role", "content"]
FIELDS += ["choices", "answer", "facts", "safety_critical", "question", "reference", "subdomain", "id", "meta"]
objects = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)
messages = st.lists(
    st.dictionaries(st.sampled_from(["role", "content"]), json_values | st.sampled_from(["user", "assistant"])),
    max_size=3,
)


@SETTINGS
@given(
    st.lists(st.one_of(objects, objects.map(lambda o: {**o, "messages": o.get("messages")}), json_values), max_size=4),
    st.lists(messages, max_size=2),
    st.sampled_from(sorted(SCHEMAS)),
)
@example(
    [{"defect": ["liste"], "prompt": "a", "chosen": "b", "rejected": "c"}], [], "preference"
)  # a list where text belongs
@example([], [[{"role": ["user"], "content": "a"}]], "sft")  # an unhashable role: TypeError before the fix
def test_any_json_rows_are_either_examples_or_counted_rejects(values, conversations, schema):
    lines = [json.dumps(v, ensure_ascii=False) for v in values] + [json.dumps({"messages": m}) for m in conversations]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        if not any(line.strip() for line in lines):
            return
        rejects = Rejects()
        examples = load_examples(path, schema, on_invalid="skip", rejects=rejects)
    assert len(examples) + len(rejects.rows) == len(lines)
    assert all(r["reason"] and r["line"] >= 1 for r in rejects.rows)


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from([".jsonl", ".csv", ".json"]), st.sampled_from(sorted(SCHEMAS)))
@example(b"\r\x00", ".csv", "annotation_prompt")  # found by this test: a stray CR in the header broke sniffing
def test_random_bytes_never_raise_anything_but_a_named_data_error(content, suffix, schema):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"noise{suffix}"
        path.write_bytes(content)
        try:
            rows = list(read_rows(path))
            rejects = Rejects()
            examples = load_examples(path, schema, on_invalid="skip", rejects=rejects)
        except DataError as exc:
            assert_file_error(exc, path)
            return
    assert len(examples) + len(rejects.rows) == len(rows)
