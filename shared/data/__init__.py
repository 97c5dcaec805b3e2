"""Data: reading, schemas, validation with rejects, cleaning, balancing, splits, mixtures and the `prepare`
command. Every row keeps its origin (file and line), so a problem is reported as `file:line: field: reason`.
Rows skipped by policy (invalid with `on_invalid: skip`, duplicates, too long, not Turkish...) go to a rejects
JSONL with the reason, and each step's count is logged — nothing disappears silently.

Prompts for online RL: `prompts`; the eval/train leakage check: `leakage` (`python -m shared.data.leakage`).
One module per concern; this package keeps every name importable as `from shared.data import ...`.
"""

from shared.data.cleaning import CleaningConfig, StepReport, clean, example_text, turkish_key
from shared.data.csv_cells import CSV_COLUMN_TYPES, from_cell, to_cell
from shared.data.mixing import balance, mix, split_rows
from shared.data.preferences import (
    dpo_rows,
    is_critical_safety,
    kto_rows,
    preference_rows,
    reject_overlong,
    to_conversational_preference,
    trainable_preferences,
)
from shared.data.prepare import PrepareConfig, prepare
from shared.data.prompts import load_prompts
from shared.data.readers import LOCAL_SUFFIXES, DataError, Row, read_rows
from shared.data.schemas import (
    SCHEMAS,
    AnnotationPrompt,
    FieldError,
    MCQItem,
    OpenQAItem,
    PreferenceExample,
    PromptCompletion,
    SFTConversation,
    UnpairedExample,
)
from shared.data.sources import DataSource, load_sources, parse_sources
from shared.data.validation import Rejects, load_examples, require_usable_rows, strip_origin, write_jsonl
from shared.taxonomy import CATEGORIES, CRITICAL_SAFETY_DEFECTS, DEFECTS, ROLES

__all__ = [
    "CATEGORIES",
    "CRITICAL_SAFETY_DEFECTS",
    "CSV_COLUMN_TYPES",
    "DEFECTS",
    "LOCAL_SUFFIXES",
    "ROLES",
    "SCHEMAS",
    "AnnotationPrompt",
    "CleaningConfig",
    "DataError",
    "DataSource",
    "FieldError",
    "MCQItem",
    "OpenQAItem",
    "PreferenceExample",
    "PrepareConfig",
    "PromptCompletion",
    "Rejects",
    "Row",
    "SFTConversation",
    "StepReport",
    "UnpairedExample",
    "balance",
    "clean",
    "dpo_rows",
    "example_text",
    "from_cell",
    "is_critical_safety",
    "kto_rows",
    "load_examples",
    "load_prompts",
    "load_sources",
    "mix",
    "parse_sources",
    "preference_rows",
    "prepare",
    "read_rows",
    "reject_overlong",
    "require_usable_rows",
    "split_rows",
    "strip_origin",
    "to_conversational_preference",
    "to_cell",
    "trainable_preferences",
    "turkish_key",
    "write_jsonl",
]
