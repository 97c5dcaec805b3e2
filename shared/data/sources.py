"""A stage's inputs: `path` or `path=weight` specs (YAML and command line) loaded and mixed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.data.mixing import mix
from shared.data.validation import Rejects, load_examples


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
