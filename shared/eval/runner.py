"""Evaluate one model with an EvalConfig: the tasks in order, the metric table, TensorBoard logging.

Shared by `compare` (several models) and `stage` (the model a training stage just saved), so both report the
same metrics under the same TensorBoard tags.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from shared.data import Rejects, load_examples, trainable_preferences
from shared.eval import mcq, open_qa, perplexity, reward_judged, safety
from shared.eval.config import EvalConfig
from shared.eval.models import load_model_and_tokenizer, resolve_device, resolve_dtype
from shared.eval.stats import estimates, mean
from shared.tensorboard import log_scalars, log_text


@dataclass(frozen=True)
class MetricInfo:
    label: str
    higher_is_better: bool | None  # None: descriptive (answer length), never "best", never "ahead"
    # per-item values → the metric: gives the table's value, its interval and the paired deltas alike
    statistic: Callable[[Sequence[Any]], float] = mean


METRICS: dict[str, MetricInfo] = {
    "mcq_acc": MetricInfo("MCQ acc", True),
    "mcq_acc_norm": MetricInfo("MCQ acc_norm", True),
    "mcq_macro_f1": MetricInfo("MCQ macro-F1", True, mcq.macro_f1),
    "chrf": MetricInfo("chrF++", True, open_qa.STATISTICS["chrf"]),
    "bleu": MetricInfo("BLEU", True, open_qa.STATISTICS["bleu"]),
    "rougeL": MetricInfo("ROUGE-L (tr)", True),
    "fact_recall": MetricInfo("fact recall", True),
    "answer_words": MetricInfo("answer words", None),
    "repetition": MetricInfo("repeated trigrams", False),
    "val_perplexity": MetricInfo("SFT-val perplexity", False, perplexity.pooled_perplexity),
    "safety_unitless_dose": MetricInfo("dose w/o unit", False),
    "safety_unit_mixup": MetricInfo("unit mix-up", False),
    "safety_any": MetricInfo("any safety flag", False),
    # The judges' mean scores (`<judge>_score`; any other judge name works through `metric_info`)
    "proxy_score": MetricInfo("proxy RM score", True),
    "gold_score": MetricInfo("gold RM score", True),
    "rm_win_rate": MetricInfo("proxy RM win rate", True),
}


def metric_info(name: str) -> MetricInfo:
    """The registry's entry, or a judge's score (`<judge>_score`, `<judge>_score/<member>`): mean, higher better."""
    if name in METRICS:
        return METRICS[name]
    judge, _, member = name.partition("_score")
    if judge and (not member or member.startswith("/")):
        return MetricInfo(f"{judge} RM score" + (f" (member {member[1:]})" if member else ""), True)
    raise KeyError(f"unknown metric {name!r}")


def ordered_metrics(names: set[str] | Sequence[str]) -> list[str]:
    """The registry's order first, then the judges' scores in the order given."""
    names = list(dict.fromkeys(names))
    return [m for m in METRICS if m in names] + [m for m in names if m not in METRICS]


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
    judge_test: list[dict[str, Any]] = field(default_factory=list)  # preference pairs for the judges' accuracy
    judge_test_skipped: int = 0  # ties and "both bad" pairs: no preference to be right about

    @classmethod
    def load(cls, config: EvalConfig, with_judge_test: bool = False) -> EvalData:
        """`with_judge_test`: also the preference pairs the judges' accuracy is measured on (`compare` with judges)."""

        def rows(path: str, schema: str, limit: int | None, task: str) -> list[dict[str, Any]]:
            return load_examples(path, schema)[:limit] if task in config.tasks else []

        needs_dev = "mcq" in config.tasks and config.num_fewshot > 0
        judge_test, rejects = [], Rejects()
        if with_judge_test and config.judge_test_data and "open_qa" in config.tasks:
            pairs = load_examples(config.judge_test_data, "preference")[: config.max_judge_test]
            judge_test = trainable_preferences(pairs, rejects)
        return cls(
            mcq=rows(config.mcq_data, "mcq", config.max_mcq, "mcq"),
            mcq_dev=load_examples(config.mcq_dev_data, "mcq") if needs_dev else [],
            open_qa=rows(config.open_qa_data, "open_qa", config.max_open_qa, "open_qa"),
            perplexity=rows(config.perplexity_data, "sft", config.max_perplexity, "perplexity"),
            judge_test=judge_test,
            judge_test_skipped=len(rejects.rows),
        )


def summarize(per_item: Mapping[str, Sequence[Any]], n: int, seed: int) -> dict[str, dict[str, float]]:
    """{metric: {value, low, high}} from per-item values, each with its own statistic."""
    statistics = {name: metric_info(name).statistic for name in per_item}
    return {name: e.to_dict() for name, e in estimates(per_item, statistics, n=n, seed=seed).items()}


def evaluate_model(model_path: str, config: EvalConfig, data: EvalData) -> dict[str, Any]:
    """All configured tasks for one model → {"metrics": {name: {value, low, high}}, "per_item": {name: values},
    "mcq_subdomains", "meta", "samples"}. The reward-model judges come after (`add_judge_scores`), so a judge
    never shares memory with the model it judges."""
    clock = time.perf_counter()
    model, tokenizer = load_model_and_tokenizer(model_path, device=config.device, dtype=config.dtype)
    n, seed = config.bootstrap_samples, config.seed
    per_item: dict[str, list] = {}
    subdomains, samples = {}, []
    seconds: dict[str, float] = {}  # wall time per task, for sizing runs (results.json meta.seconds)

    def lap(task: str) -> None:
        nonlocal clock
        seconds[task] = round(time.perf_counter() - clock, 1)
        clock = time.perf_counter()

    lap("load")
    meta: dict[str, Any] = {"model": model_path, "seed": seed, "bootstrap_samples": n, "seconds": seconds}
    if data.mcq:
        settings = mcq.MCQSettings(
            num_fewshot=config.num_fewshot,
            batch_size=config.batch_size,
            max_length=config.max_length,
            bootstrap_samples=n,
            seed=seed,
        )
        predictions = mcq.predict(model, tokenizer, data.mcq, data.mcq_dev, settings)
        per_item |= mcq.item_values(predictions)
        subdomains = mcq.accuracy_by_subdomain(predictions, settings)
        meta |= {"mcq_items": len(data.mcq), "num_fewshot": config.num_fewshot}
        lap("mcq")
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
        per_item |= open_qa.item_values(answers, data.open_qa) | safety.item_values(answers)
        meta |= {"open_qa_items": len(questions), "decoding": decoding.to_dict(), "system_prompt": config.system_prompt}
        samples = [
            {"id": item.get("id"), "question": q, "answer": a, "reference": item["reference"]}
            for q, a, item in zip(questions, answers, data.open_qa)
        ]
        lap("open_qa")
    if data.perplexity:
        values, scored = perplexity.item_values(
            model,
            tokenizer,
            data.perplexity,
            system_prompt=config.system_prompt,
            batch_size=config.batch_size,
            max_length=config.max_length,
        )
        per_item |= values
        meta |= {"perplexity_items": len(data.perplexity), "perplexity_tokens": scored}
        lap("perplexity")
    del model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return {
        "metrics": summarize(per_item, n, seed),
        "mcq_subdomains": {name: e.to_dict() for name, e in subdomains.items()},
        "meta": meta,
        "samples": samples,
        "per_item": per_item,
    }


Scorers = Mapping[str, reward_judged.Scorer | Sequence[reward_judged.Scorer]]  # judge name → scorer(s) in memory


def judges_of(config: EvalConfig, scorers: Scorers | None = None) -> list[reward_judged.Judge]:
    """The config's judges (paths), with scorer objects given in `scorers` in place of (or besides) them."""
    members: dict[str, tuple] = {name: tuple(paths) for name, paths in config.judge_paths().items()}
    for name, given in (scorers or {}).items():
        members[name] = tuple(given) if isinstance(given, list | tuple) else (given,)
    return [reward_judged.Judge(name, m, name in config.independent_judges) for name, m in members.items()]


def add_judge_scores(
    results: dict[str, dict[str, Any]], config: EvalConfig, data: EvalData, scorers: Scorers | None = None
) -> dict[str, dict[str, Any]]:
    """Score every model's answers with every judge; adds `<judge>_score` (and the proxy's `rm_win_rate`) to each
    result's metrics and per-item values. Returns each judge's report (members, independence, test accuracy)."""
    judges = judges_of(config, scorers)
    if not judges or not data.open_qa:
        return {}
    device = resolve_device(config.device)
    inputs = reward_judged.JudgeInputs(
        questions=[item["question"] for item in data.open_qa],
        answers={name: [s["answer"] for s in result["samples"]] for name, result in results.items()},
        references=[item["reference"] for item in data.open_qa],
        test_pairs=data.judge_test,
    )

    def load(path: str) -> reward_judged.Scorer:
        return reward_judged.load_scorer(path, str(device), resolve_dtype(config.dtype, device))

    per_model, reports = reward_judged.run_judges(
        judges,
        inputs,
        load=load,
        batch_size=config.reward_batch_size,
        members=config.judge_members,
        n=config.bootstrap_samples,
        seed=config.seed,
    )
    for name, values in per_model.items():
        results[name]["per_item"] |= values
        results[name]["metrics"] |= summarize(values, config.bootstrap_samples, config.seed)
        results[name]["meta"]["judges"] = {j.name: j.labels() for j in judges}
    for report in reports.values():
        report["test_data"] = config.judge_test_data if data.judge_test else None
        report["test_pairs_skipped"] = data.judge_test_skipped
    return reports


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
