"""`evaluate` metric modules shipped with the project, loaded by path (Hub names cannot load offline):

    evaluate.load(metric_path("turkish_rouge"))

Each directory is also a Python package so the module file is packaged with `shared`.
"""

from __future__ import annotations

from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent
NAMES = ("turkish_rouge", "chrf", "bleu", "fact_recall")


def metric_path(name: str) -> str:
    if name not in NAMES:
        raise ValueError(f"unknown metric {name!r} (use {', '.join(NAMES)})")
    return str(METRICS_DIR / name)
