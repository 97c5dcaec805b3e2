"""Data: loading, schemas, validation with rejects, cleaning, balancing, splits and mixtures.

Every row keeps its origin (file and line), so a problem is reported as `file:line: field: reason`.
Rows skipped by policy (invalid with `on_invalid: skip`, duplicates, too long, not Turkish...) go to a rejects
JSONL with the reason, and each step's count is logged — nothing disappears silently.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.text import is_turkish, normalize_turkish, turkish_lower, words

logger = logging.getLogger(__name__)

LOCAL_SUFFIXES = {".jsonl", ".json", ".csv", ".parquet"}
ROLES = {"system", "user", "assistant"}
CATEGORIES = (
    "tarla_bitkileri",
    "sebze",
    "meyve_bag",
    "bitki_koruma",
    "toprak_gubreleme",
    "sulama",
    "hayvancilik",
    "iklim_takvim",
    "destek_kooperatif",
)
DEFECTS = (
    "wrong_dose_unit",
    "wrong_season_region",
    "unsafe_practice",
    "vague",
    "hallucinated_product",
    "code_mixed",
    "too_short",
    "rude",
)


class DataError(ValueError):
    """Invalid input data; the message names file, line, field and reason."""


class FieldError(ValueError):
    def __init__(self, field_name: str, reason: str):
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class Row:
    """A raw record and where it came from."""

    source: str
    line: int
    data: dict[str, Any] | None
    error: str | None = None  # a parse error (e.g. broken JSON) before any schema check


# ---------------------------------------------------------------------------------------------- reading


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


# ---------------------------------------------------------------------------------------------- schemas


def _text(record: dict, name: str, *, required: bool = True) -> str | None:
    value = record.get(name)
    if value is None:
        if required:
            raise FieldError(name, "missing")
        return None
    if not isinstance(value, str):
        raise FieldError(name, f"expected text, got {type(value).__name__}")
    value = normalize_turkish(value)
    if required and not value:
        raise FieldError(name, "empty")
    return value


def _messages(record: dict, name: str = "messages") -> list[dict[str, str]]:
    value = record.get(name)
    if value is None:
        raise FieldError(name, "missing")
    if not isinstance(value, list) or not value:
        raise FieldError(name, f"expected a non-empty list of messages, got {type(value).__name__}")
    messages = []
    for index, message in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(message, dict):
            raise FieldError(where, "expected an object with role and content")
        role = message.get("role")
        if role not in ROLES:
            raise FieldError(f"{where}.role", f"unknown role {role!r} (use {', '.join(sorted(ROLES))})")
        content = _text(message, "content")
        messages.append({"role": role, "content": content})
    if not any(m["role"] == "assistant" for m in messages):
        raise FieldError(name, "no assistant turn")
    if messages[-1]["role"] != "assistant":
        raise FieldError(name, "the last turn must be the assistant's")
    return messages


def _extras(record: dict, names: Iterable[str]) -> dict[str, Any]:
    return {name: record[name] for name in names if record.get(name) is not None}


@dataclass
class SFTConversation:
    messages: list[dict[str, str]]
    category: str | None = None
    source: str | None = None

    @classmethod
    def from_record(cls, record: dict) -> SFTConversation:
        return cls(_messages(record), **_extras(record, ("category", "source")))


@dataclass
class PromptCompletion:
    prompt: str
    completion: str
    category: str | None = None

    @classmethod
    def from_record(cls, record: dict) -> PromptCompletion:
        return cls(_text(record, "prompt"), _text(record, "completion"), **_extras(record, ("category",)))


@dataclass
class PreferenceExample:
    prompt: str
    chosen: str
    rejected: str
    strength: int = 1
    defect: str | None = None
    category: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: dict) -> PreferenceExample:
        prompt, chosen, rejected = (_text(record, name) for name in ("prompt", "chosen", "rejected"))
        if chosen == rejected:
            raise FieldError("rejected", "identical to chosen")
        strength = record.get("strength", 1)
        if isinstance(strength, bool) or strength not in (0, 1, 2):
            raise FieldError("strength", f"expected 0 (tie), 1 (better) or 2 (much better), got {strength!r}")
        meta = record.get("meta") or {}
        if not isinstance(meta, dict):
            raise FieldError("meta", "expected an object")
        return cls(prompt, chosen, rejected, int(strength), record.get("defect"), record.get("category"), meta)


@dataclass
class UnpairedExample:
    prompt: str
    completion: str
    label: bool

    @classmethod
    def from_record(cls, record: dict) -> UnpairedExample:
        label = record.get("label")
        if not isinstance(label, bool):
            raise FieldError("label", f"expected true or false, got {label!r}")
        return cls(_text(record, "prompt"), _text(record, "completion"), label)


@dataclass
class MCQItem:
    id: str
    question: str
    choices: list[str]
    answer: str
    subdomain: str

    @classmethod
    def from_record(cls, record: dict) -> MCQItem:
        choices = record.get("choices")
        if not isinstance(choices, list) or len(choices) != 5 or not all(isinstance(c, str) and c for c in choices):
            raise FieldError("choices", "expected exactly 5 non-empty options")
        answer = record.get("answer")
        if answer not in tuple("ABCDE"):
            raise FieldError("answer", f"expected a letter A-E, got {answer!r}")
        return cls(
            str(record.get("id", "")),
            _text(record, "question"),
            [normalize_turkish(c) for c in choices],
            answer,
            _text(record, "subdomain"),
        )


@dataclass
class OpenQAItem:
    id: str
    question: str
    reference: str
    facts: list[str]
    safety_critical: bool
    subdomain: str

    @classmethod
    def from_record(cls, record: dict) -> OpenQAItem:
        facts = record.get("facts")
        if not isinstance(facts, list) or not facts or not all(isinstance(f, str) and f for f in facts):
            raise FieldError("facts", "expected a non-empty list of texts")
        flag = record.get("safety_critical")
        if not isinstance(flag, bool):
            raise FieldError("safety_critical", f"expected true or false, got {flag!r}")
        return cls(
            str(record.get("id", "")),
            _text(record, "question"),
            _text(record, "reference"),
            [normalize_turkish(f) for f in facts],
            flag,
            _text(record, "subdomain"),
        )


@dataclass
class AnnotationPrompt:
    id: str
    prompt: str
    crop: str | None = None
    region: str | None = None
    season: str | None = None
    category: str | None = None

    @classmethod
    def from_record(cls, record: dict) -> AnnotationPrompt:
        extras = {
            k: normalize_turkish(str(v)) for k, v in _extras(record, ("crop", "region", "season", "category")).items()
        }
        return cls(str(record.get("id", "")), _text(record, "prompt"), **extras)


SCHEMAS: dict[str, type] = {
    "sft": SFTConversation,
    "prompt_completion": PromptCompletion,
    "preference": PreferenceExample,
    "kto": UnpairedExample,
    "mcq": MCQItem,
    "open_qa": OpenQAItem,
    "annotation_prompt": AnnotationPrompt,
}


# ---------------------------------------------------------------------------------------------- validation


@dataclass
class Rejects:
    """Collects rows skipped by policy with their reasons; written as JSONL next to the outputs."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: Row | dict, step: str, reason: str) -> None:
        if isinstance(row, Row):
            entry = {"source": row.source, "line": row.line, "step": step, "reason": reason, "row": row.data}
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
) -> list[dict[str, Any]]:
    """Read and validate `source` against a schema from `SCHEMAS`; rows come back normalised (NFC, cleaned).

    `on_invalid="error"` raises `DataError` at the first bad row (file:line: field: reason);
    `on_invalid="skip"` records bad rows in `rejects` and goes on.
    """
    if on_invalid not in {"error", "skip"}:
        raise ValueError(f"on_invalid must be 'error' or 'skip', got {on_invalid!r}")
    if schema not in SCHEMAS:
        raise ValueError(f"unknown schema {schema!r} (use {', '.join(SCHEMAS)})")
    if on_invalid == "skip" and rejects is None:
        raise ValueError("on_invalid='skip' needs a Rejects collector so skipped rows are kept")
    schema_type = SCHEMAS[schema]
    examples = []
    for row in read_rows(source):
        try:
            if row.error is not None:
                raise FieldError("<row>", row.error)
            example = _asdict(schema_type.from_record(row.data))
        except FieldError as exc:
            message = f"{row.source}:{row.line}: {exc.field}: {exc.reason}"
            if on_invalid == "error":
                raise DataError(message) from None
            logger.warning("skipping invalid row %s", message)
            rejects.add(row, "validate", f"{exc.field}: {exc.reason}")
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


# ---------------------------------------------------------------------------------------------- cleaning


def example_text(row: dict[str, Any]) -> str:
    """All the text of an example, for length checks, deduplication and language checks."""
    if "messages" in row:
        return "\n".join(m["content"] for m in row["messages"])
    fields = ("prompt", "completion", "chosen", "rejected", "question", "reference")
    return "\n".join(str(row[name]) for name in fields if isinstance(row.get(name), str))


def turkish_key(text: str) -> str:
    """Normalised comparison key (NFC, Turkish lower case, single spaces) for leakage and matching checks."""
    return " ".join(turkish_lower(normalize_turkish(text)).split())


def _where(row: dict[str, Any], index: int) -> str:
    origin = row.get("_origin")
    return f"{origin['source']}:{origin['line']}" if origin else f"kept row {index}"


def _dedup_key(text: str) -> str:
    return " ".join(words(text))


def _shingles(text: str, size: int = 5) -> set[str]:
    tokens = words(text)
    if len(tokens) < size:
        return {" ".join(tokens)}
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


@dataclass
class CleaningConfig:
    min_chars: int = 10
    max_chars: int = 20_000
    max_tokens: int | None = None
    dedup: bool = True
    near_dedup_threshold: float | None = 0.85  # Jaccard on word 5-shingles; None turns near-dedup off
    turkish_threshold: float | None = 0.35  # None turns the language filter off
    num_perm: int = 128
    seed: int = 42


@dataclass
class StepReport:
    step: str
    before: int
    removed: int

    @property
    def after(self) -> int:
        return self.before - self.removed


def clean(
    rows: list[dict[str, Any]],
    config: CleaningConfig,
    rejects: Rejects,
    *,
    count_tokens: Callable[[str], int] | None = None,
) -> tuple[list[dict[str, Any]], list[StepReport]]:
    """Length filters, exact and near duplicates, non-Turkish rows. Every removed row goes to `rejects`."""
    report: list[StepReport] = []

    def apply(step: str, keep: Callable[[dict[str, Any]], str | None]) -> None:
        nonlocal rows
        kept = []
        for row in rows:
            reason = keep(row)
            if reason is None:
                kept.append(row)
            else:
                rejects.add(row, step, reason)
        report.append(StepReport(step, len(rows), len(rows) - len(kept)))
        logger.info("%s: removed %d of %d rows", step, len(rows) - len(kept), len(rows))
        rows = kept

    def length(row: dict[str, Any]) -> str | None:
        n = len(example_text(row))
        if n < config.min_chars:
            return f"{n} characters < min_chars {config.min_chars}"
        if n > config.max_chars:
            return f"{n} characters > max_chars {config.max_chars}"
        if config.max_tokens is not None and count_tokens is not None:
            tokens = count_tokens(example_text(row))
            if tokens > config.max_tokens:
                return f"{tokens} tokens > max_tokens {config.max_tokens}"
        return None

    apply("length", length)

    if config.dedup:
        seen: dict[str, str] = {}

        def exact(row: dict[str, Any]) -> str | None:
            key = _dedup_key(example_text(row))
            if key in seen:
                return f"exact duplicate of {seen[key]}"
            seen[key] = _where(row, len(seen))
            return None

        apply("exact_dedup", exact)

    if config.near_dedup_threshold is not None:
        from datasketch import MinHash, MinHashLSH

        # LSH banding misses pairs just above its threshold, so candidates are gathered at a lower threshold
        # and confirmed with the exact Jaccard below.
        lsh = MinHashLSH(threshold=max(config.near_dedup_threshold - 0.2, 0.1), num_perm=config.num_perm)
        kept_shingles: dict[str, set[str]] = {}
        kept_where: dict[str, str] = {}

        def near(row: dict[str, Any]) -> str | None:
            shingles = _shingles(example_text(row))
            minhash = MinHash(num_perm=config.num_perm, seed=config.seed)
            minhash.update_batch([s.encode("utf-8") for s in shingles])
            for key in lsh.query(minhash):
                other = kept_shingles[key]
                jaccard = len(shingles & other) / len(shingles | other)
                if jaccard >= config.near_dedup_threshold:
                    return f"near duplicate of {kept_where[key]} (Jaccard {jaccard:.2f})"
            key = str(len(kept_shingles))
            lsh.insert(key, minhash)
            kept_shingles[key] = shingles
            kept_where[key] = _where(row, len(kept_where))
            return None

        apply("near_dedup", near)

    if config.turkish_threshold is not None:

        def turkish(row: dict[str, Any]) -> str | None:
            if is_turkish(example_text(row), config.turkish_threshold):
                return None
            return "not Turkish"

        apply("language", turkish)
    return rows, report


# ---------------------------------------------------------------------------------------------- balancing, splits


def balance(
    rows: list[dict[str, Any]],
    column: str,
    *,
    cap: int | None = None,
    target: dict[str, float] | None = None,
    total: int | None = None,
    seed: int = 42,
) -> tuple[list[dict[str, Any]], dict[str, tuple[int, int]]]:
    """Balance classes of `column`: cap each class at `cap` rows (down-sampling), or resample to a `target`
    distribution (shares, normalised) of `total` rows (default: current size), up-sampling with replacement.

    Returns the rows and a table {class: (before, after)}.
    """
    if (cap is None) == (target is None):
        raise ValueError("give exactly one of cap or target")
    rng = random.Random(seed)
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get(column)), []).append(row)
    if target is not None:
        missing = set(target) - set(groups)
        if missing:
            raise ValueError(f"target classes with no rows: {sorted(missing)}")
        total = total or len(rows)
        norm = sum(target.values())
        wanted = {name: round(total * share / norm) for name, share in target.items()}
    else:
        wanted = {name: min(len(group), cap) for name, group in groups.items()}
    balanced: list[dict[str, Any]] = []
    for name in sorted(groups):
        group, n = groups[name], wanted.get(name, 0)
        if n <= len(group):
            balanced.extend(rng.sample(group, n))
        else:
            balanced.extend(group + rng.choices(group, k=n - len(group)))
    rng.shuffle(balanced)
    table = {name: (len(groups[name]), wanted.get(name, 0)) for name in sorted(groups)}
    return balanced, table


def split_rows(
    rows: list[dict[str, Any]], validation_fraction: float, *, seed: int = 42
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Deterministic seeded train/validation split."""
    if not 0 <= validation_fraction < 1:
        raise ValueError("validation_fraction must be in [0, 1)")
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_val = round(len(rows) * validation_fraction)
    val_ids = set(order[:n_val])
    train = [rows[i] for i in order if i not in val_ids]
    validation = [rows[i] for i in sorted(val_ids)]
    return train, validation


def mix(sources: list[tuple[list[dict[str, Any]], float]], *, total: int | None = None, seed: int = 42) -> list[dict]:
    """Weighted mixture: each source contributes `weight / sum(weights)` of `total` rows (default: sum of sizes);
    a source smaller than its share is up-sampled with replacement, a larger one down-sampled."""
    if not sources or any(weight < 0 for _, weight in sources):
        raise ValueError("a mixture needs sources with non-negative weights")
    rng = random.Random(seed)
    total = total or sum(len(rows) for rows, _ in sources)
    norm = sum(weight for _, weight in sources)
    mixed: list[dict[str, Any]] = []
    for rows, weight in sources:
        n = round(total * weight / norm)
        if not rows and n:
            raise ValueError("a weighted source has no rows")
        mixed.extend(rng.sample(rows, n) if n <= len(rows) else rows + rng.choices(rows, k=n - len(rows)))
    rng.shuffle(mixed)
    return mixed


# ---------------------------------------------------------------------------------------------- sources for stages


@dataclass
class DataSource:
    """One input: a local file or a Hub id (`org/name[@config][:split]`), its schema and mixture weight."""

    path: str
    schema: str
    weight: float = 1.0


def load_sources(
    sources: list[DataSource], *, on_invalid: str, rejects: Rejects, seed: int = 42
) -> list[dict[str, Any]]:
    """Load several sources; with one source, or equal weights, plain concatenation; otherwise a weighted mix."""
    loaded = [(load_examples(s.path, s.schema, on_invalid=on_invalid, rejects=rejects), s.weight) for s in sources]
    if len({weight for _, weight in loaded}) <= 1:
        return [row for rows, _ in loaded for row in rows]
    return mix(loaded, seed=seed)


def parse_sources(specs: list[str], schema: str) -> list[DataSource]:
    """`path` or `path=weight` strings (the form used in YAML and on the CLI) → `DataSource`s."""
    sources = []
    for spec in specs:
        path, _, weight = spec.rpartition("=") if "=" in spec else (spec, "", "1")
        sources.append(DataSource(path, schema, float(weight)))
    return sources


CRITICAL_SAFETY_DEFECTS = frozenset({"unsafe_practice", "wrong_dose_unit"})


def is_critical_safety(row: dict[str, Any]) -> bool:
    return row.get("defect") in CRITICAL_SAFETY_DEFECTS or bool(row.get("meta", {}).get("critical_safety"))


def trainable_preferences(rows: list[dict[str, Any]], rejects: Rejects) -> list[dict[str, Any]]:
    """Drop pairs that carry no preference — ties (strength 0) and "both bad" — into rejects, by policy."""
    kept = []
    for row in rows:
        if row.get("strength") == 0 or row.get("meta", {}).get("choice") in {"tie", "both_bad"}:
            rejects.add(row, "policy", "tie or both bad: no preference to learn")
        else:
            kept.append(row)
    return kept


def to_conversational_preference(row: dict[str, Any]) -> dict[str, Any]:
    """Plain-text preference row → TRL's conversational form, so the chat template is applied."""
    return {
        "prompt": [{"role": "user", "content": row["prompt"]}],
        "chosen": [{"role": "assistant", "content": row["chosen"]}],
        "rejected": [{"role": "assistant", "content": row["rejected"]}],
    }


# ---------------------------------------------------------------------------------------------- prepare CLI


@dataclass
class PrepareConfig:
    inputs: list[str]
    schema: str
    output_dir: str
    on_invalid: str = "skip"
    validation_fraction: float = 0.05
    balance_column: str | None = None
    balance_cap: int | None = None
    balance_target: dict[str, float] | None = None
    tokenizer: str | None = None  # needed for cleaning.max_tokens: token counts with the model's own tokenizer
    seed: int = 42
    cleaning: CleaningConfig = field(default_factory=CleaningConfig)

    @classmethod
    def from_yaml(cls, path: str | Path) -> PrepareConfig:
        import dataclasses

        import yaml

        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        known = {f.name for f in dataclasses.fields(cls)}
        for key in raw:
            if key not in known:
                raise DataError(f"{path}: unknown key '{key}' (known: {', '.join(sorted(known))})")
        cleaning = raw.pop("cleaning", {}) or {}
        known_cleaning = {f.name for f in dataclasses.fields(CleaningConfig)}
        for key in cleaning:
            if key not in known_cleaning:
                raise DataError(f"{path}: unknown key 'cleaning.{key}' (known: {', '.join(sorted(known_cleaning))})")
        return cls(**raw, cleaning=CleaningConfig(**cleaning))


def prepare(config: PrepareConfig) -> dict[str, Any]:
    """Load → validate → clean → balance → split → write splits, rejects and a report."""
    out = Path(config.output_dir)
    rejects = Rejects()
    rows: list[dict[str, Any]] = []
    loaded = {}
    for spec in parse_sources(config.inputs, config.schema):
        batch = load_examples(spec.path, spec.schema, on_invalid=config.on_invalid, rejects=rejects, keep_origin=True)
        loaded[spec.path] = len(batch)
        rows.extend(batch)
    n_loaded = len(rows)
    count_tokens = None
    if config.cleaning.max_tokens is not None:
        if not config.tokenizer:
            raise DataError("cleaning.max_tokens needs `tokenizer:` (a tokenizer path or Hub id) in the config")
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(config.tokenizer)

        def count_tokens(text: str) -> int:
            return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    rows, steps = clean(rows, config.cleaning, rejects, count_tokens=count_tokens)
    balance_table = None
    if config.balance_column and (config.balance_cap or config.balance_target):
        rows, balance_table = balance(
            rows, config.balance_column, cap=config.balance_cap, target=config.balance_target, seed=config.seed
        )
    train, validation = split_rows(strip_origin(rows), config.validation_fraction, seed=config.seed)
    write_jsonl(out / "train.jsonl", train)
    write_jsonl(out / "validation.jsonl", validation)
    rejects.write(out / "rejects.jsonl")
    column = config.balance_column or "category"
    report = {
        "inputs": loaded,
        "invalid_rows": rejects.counts().get("validate", 0),
        "loaded_valid": n_loaded,
        "steps": [{"step": s.step, "before": s.before, "removed": s.removed, "after": s.after} for s in steps],
        "balance": {k: {"before": before, "after": after} for k, (before, after) in (balance_table or {}).items()},
        "per_category": dict(sorted(Counter(str(r.get(column)) for r in train + validation).items())),
        "train": len(train),
        "validation": len(validation),
        "rejected_total": len(rejects.rows),
    }
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "report.md").write_text(_report_markdown(report), encoding="utf-8")
    return report


def _report_markdown(report: dict[str, Any]) -> str:
    lines = ["# Data preparation report", "", "| step | before | removed | after |", "|---|---:|---:|---:|"]
    lines.append(
        f"| validate | {report['loaded_valid'] + report['invalid_rows']} | {report['invalid_rows']} | "
        f"{report['loaded_valid']} |"
    )
    lines += [f"| {s['step']} | {s['before']} | {s['removed']} | {s['after']} |" for s in report["steps"]]
    if report["balance"]:
        lines += ["", "## Balancing", "", "| class | before | after |", "|---|---:|---:|"]
        lines += [f"| {k} | {v['before']} | {v['after']} |" for k, v in report["balance"].items()]
    lines += ["", "## Per category (after)", "", "| category | rows |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in report["per_category"].items()]
    lines += [
        "",
        f"train: {report['train']}, validation: {report['validation']}, "
        f"rejected (see rejects.jsonl): {report['rejected_total']}",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="clean, balance and split a dataset from a YAML config")
    prep.add_argument("--config", required=True)
    prep.add_argument("--output_dir", help="overrides output_dir from the config")
    check = commands.add_parser("validate", help="validate files against a schema; exit 1 on the first error")
    check.add_argument("files", nargs="+")
    check.add_argument("--schema", required=True, choices=sorted(SCHEMAS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        if args.command == "prepare":
            config = PrepareConfig.from_yaml(args.config)
            config.output_dir = args.output_dir or config.output_dir
            report = prepare(config)
            print(json.dumps({k: report[k] for k in ("train", "validation", "rejected_total")}, ensure_ascii=False))
        else:
            for path in args.files:
                print(f"{path}: {len(load_examples(path, args.schema))} valid rows")
    except DataError as exc:
        print(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
