"""Model cards: README.md in each output directory (base model, data, hyperparameters, metrics, compute)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HYPERPARAMETERS = (
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_length",
    "packing",
    "packing_strategy",
    "assistant_only_loss",
    "bf16",
    "seed",
    "beta",
    "loss_type",
    "weight_decay",
    "max_grad_norm",
)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def write_model_card(
    output_dir: str | Path,
    *,
    title: str,
    stage: str,
    base_model: str,
    data: list[str],
    training_args: Any = None,
    model_args: Any = None,
    metrics: dict[str, Any] | None = None,
    compute: dict[str, Any] | None = None,
    notes: list[str] | None = None,
) -> Path:
    lines = [
        "---",
        "language: [tr]",
        f"base_model: {base_model}",
        f"tags: [tarim-rlhf, {stage}, turkish, agriculture]",
        "---",
        "",
        f"# {title}",
        "",
        f"Stage: **{stage}**, trained with Tarım RLHF from `{base_model}`.",
        "",
        "## Data",
        "",
        *[f"- `{source}`" for source in data],
        "",
    ]
    if training_args is not None or model_args is not None:
        lines += ["## Hyperparameters", "", "| name | value |", "|---|---|"]
        for name in HYPERPARAMETERS:
            if training_args is not None and hasattr(training_args, name):
                lines.append(f"| {name} | {_format(getattr(training_args, name))} |")
        if model_args is not None and getattr(model_args, "use_peft", False):
            for name in ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "load_in_4bit"):
                lines.append(f"| {name} | {_format(getattr(model_args, name))} |")
        lines.append("")
    if metrics:
        lines += ["## Metrics", "", "| metric | value |", "|---|---:|"]
        lines += [f"| {k} | {_format(v)} |" for k, v in metrics.items()]
        lines.append("")
    if compute:
        lines += ["## Compute and carbon", "", "| item | value |", "|---|---:|"]
        lines += [f"| {k} | {_format(v)} |" for k, v in compute.items()]
        lines.append("")
    if notes:
        lines += ["## Notes", "", *[f"- {note}" for note in notes], ""]
    lines += ["Agronomic content is illustrative; have agronomists review outputs before any field use.", ""]
    path = Path(output_dir) / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
