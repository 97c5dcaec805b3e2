"""Evaluate one model with an EvalConfig: the tasks in order, the metric table, TensorBoard logging.

Shared by `compare` (several models) and `stage` (the model a training stage just saved), so both report the
same metrics under the same TensorBoard tags.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

import torch

from shared.data import load_examples
from shared.eval import mcq, open_qa, perplexity, reward_judged, safety
from shared.eval.config import EvalConfig
from shared.eval.models import load_model_and_tokenizer
from shared.tensorboard import log_scalars, log_text


@dataclass(frozen=True)
class MetricInfo:
    label: str
    higher_is_better: bool | None  # None: descriptive (answer length), never "best"


METRICS: dict[str, MetricInfo] = {
    "mcq_acc": MetricInfo("MCQ acc", True),
    "mcq_acc_norm": MetricInfo("MCQ acc_norm", True),
    "mcq_macro_f1": MetricInfo("MCQ macro-F1", True),
    "chrf": MetricInfo("chrF++", True),
    "bleu": MetricInfo("BLEU", True),
    "rougeL": MetricInfo("ROUGE-L (tr)", True),
    "fact_recall": MetricInfo("fact recall", True),
    "answer_words": MetricInfo("answer words", None),
    "repetition": MetricInfo("repeated trigrams", False),
    "val_perplexity": MetricInfo("SFT-val perplexity", False),
    "safety_unitless_dose": MetricInfo("dose w/o unit", False),
    "safety_unit_mixup": MetricInfo("unit mix-up", False),
    "safety_any": MetricInfo("any safety flag", False),
    "rm_score": MetricInfo("RM-judged mean score", True),
    "rm_win_rate": MetricInfo("RM-judged win rate", True),
}


def tag(metric: str) -> str:
    """TensorBoard tag, identical for every model so runs overlay."""
    return f"eval/{metric}"


@dataclass
class EvalData:
    """The held-out sets, loaded once and cut to the config's limits, so every model sees the same items."""

    mcq: list[dict[str, Any]]
    mcq_dev: list[dict[str, Any]]
    open_qa: list[dict[str, Any]]
    perplexity: list[dict[str, Any]]

    @classmethod
    def load(cls, config: EvalConfig) -> EvalData:
        def rows(path: str, schema: str, limit: int | None, task: str) -> list[dict[str, Any]]:
            return load_examples(path, schema)[:limit] if task in config.tasks else []

        needs_dev = "mcq" in config.tasks and config.num_fewshot > 0
        return cls(
            mcq=rows(config.mcq_data, "mcq", config.max_mcq, "mcq"),
            mcq_dev=load_examples(config.mcq_dev_data, "mcq") if needs_dev else [],
            open_qa=rows(config.open_qa_data, "open_qa", config.max_open_qa, "open_qa"),
            perplexity=rows(config.perplexity_data, "sft", config.max_perplexity, "perplexity"),
        )


def evaluate_model(model_path: str, config: EvalConfig, data: EvalData, scorer=None) -> dict[str, Any]:
    """All configured tasks for one model → {"metrics": {name: {value, low, high}}, "mcq_subdomains", "meta",
    "samples"}. `scorer` (a reward scorer) is loaded from `config.reward_model` when not given."""
    model, tokenizer = load_model_and_tokenizer(model_path, device=config.device, dtype=config.dtype)
    n, seed = config.bootstrap_samples, config.seed
    metrics, subdomains, samples = {}, {}, []
    meta: dict[str, Any] = {"model": model_path, "seed": seed, "bootstrap_samples": n}
    if data.mcq:
        settings = mcq.MCQSettings(
            num_fewshot=config.num_fewshot,
            batch_size=config.batch_size,
            max_length=config.max_length,
            bootstrap_samples=n,
            seed=seed,
        )
        predictions = mcq.predict(model, tokenizer, data.mcq, data.mcq_dev, settings)
        metrics |= mcq.summarize(predictions, settings)
        subdomains = mcq.accuracy_by_subdomain(predictions, settings)
        meta |= {"mcq_items": len(data.mcq), "num_fewshot": config.num_fewshot}
    if data.open_qa:
        decoding = config.decoding()
        questions = [item["question"] for item in data.open_qa]
        answers = open_qa.generate(
            model,
            tokenizer,
            questions,
            settings=decoding,
            system_prompt=config.system_prompt,
            batch_size=config.batch_size,
        )
        metrics |= open_qa.score(answers, data.open_qa, n=n, seed=seed)
        metrics |= safety.summarize(answers, n=n, seed=seed)
        meta |= {"open_qa_items": len(questions), "decoding": decoding.to_dict(), "system_prompt": config.system_prompt}
        samples = [
            {"question": q, "answer": a, "reference": item["reference"]}
            for q, a, item in zip(questions, answers, data.open_qa)
        ]
        if config.reward_model or scorer is not None:
            scorer = scorer or reward_judged.load_scorer(config.reward_model, str(next(model.parameters()).device))
            references = [item["reference"] for item in data.open_qa]
            metrics |= reward_judged.judge(
                scorer, questions, answers, references, batch_size=config.reward_batch_size, n=n, seed=seed
            )
            meta |= {"reward_model": config.reward_model, "rm_note": reward_judged.NOTE}
    if data.perplexity:
        ppl, scored = perplexity.evaluate_perplexity(
            model,
            tokenizer,
            data.perplexity,
            system_prompt=config.system_prompt,
            batch_size=config.batch_size,
            max_length=config.max_length,
            n=n,
            seed=seed,
        )
        metrics["val_perplexity"] = ppl
        meta |= {"perplexity_items": len(data.perplexity), "perplexity_tokens": scored}
    del model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return {
        "metrics": {name: estimate.to_dict() for name, estimate in metrics.items()},
        "mcq_subdomains": {name: estimate.to_dict() for name, estimate in subdomains.items()},
        "meta": meta,
        "samples": samples,
    }


def flat_metrics(result: dict[str, Any]) -> dict[str, float]:
    return {name: values["value"] for name, values in result["metrics"].items()}


def log_to_tensorboard(result: dict[str, Any], run_dir: str, step: int = 0, max_samples: int = 3) -> None:
    scalars = {tag(name): value for name, value in flat_metrics(result).items()}
    scalars |= {tag(f"mcq_acc/{name}"): v["value"] for name, v in result["mcq_subdomains"].items()}
    log_scalars(run_dir, scalars, step)
    if result["samples"]:
        table = "\n\n".join(
            f"**Soru:** {s['question']}\n\n**Yanıt:** {s['answer']}\n\n**Referans:** {s['reference']}"
            for s in result["samples"][:max_samples]
        )
        log_text(run_dir, "eval/samples", table, step)
