"""Evaluation with real (tiny) models: batched scoring, MCQ learning, perplexity, RM win rate, compare, stage hook."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from transformers import AutoModelForCausalLM, AutoTokenizer

from shared.config import ConfigError
from shared.data import load_examples, write_jsonl
from shared.eval import mcq, reward_judged
from shared.eval.compare import compare
from shared.eval.config import EvalConfig, load_eval_config
from shared.eval.models import load_model_and_tokenizer, token_logprobs
from shared.eval.perplexity import conversation_nll
from shared.eval.runner import METRICS, EvalData, evaluate_model
from shared.eval.stage import evaluate_stage
from tests.conftest import REPO_ROOT

SUBDOMAINS = ["tarla_bitkileri", "sebze", "toprak_gubreleme", "sulama"]
QUESTIONS = [
    ("Buğday en çok hangi mevsimde ekilir?", ["sonbaharda", "yazın ortasında", "kışın karda", "hiç ekilmez", "gece"]),
    ("Domates fidesi ne zaman dikilir?", ["don bittikten sonra", "ocakta", "karlı günde", "hasatta", "aralıkta"]),
    ("Toprak asitliği neyle düzeltilir?", ["kireçleme ile", "tuzla", "şekerle", "boya ile", "kumla"]),
    ("Damla sulamanın avantajı nedir?", ["su tasarrufu sağlar", "suyu boşa harcar", "toprağı tuzlar", "pahalı", "yok"]),
    ("Mısır hangi toprağı sever?", ["derin ve verimli toprağı", "taşlı", "tuzlu", "çok asidik", "kumul"]),
    ("Patates hangi zararlıya dikkat eder?", ["patates böceğine", "balinaya", "kartala", "ayıya", "kediye"]),
    (
        "Azotlu gübre ne zaman verilir?",
        ["bitkinin büyüme döneminde", "hasattan sonra", "hiçbir zaman", "gece", "karda"],
    ),
    ("Sulama en iyi hangi saatte yapılır?", ["sabah erken saatte", "öğle sıcağında", "fırtınada", "rastgele", "hiç"]),
]
ANSWERS = "ABCDEABC"  # the correct option is placed at a different letter per item


def mcq_items(prefix: str, questions=QUESTIONS) -> list[dict]:
    items = []
    for index, (question, options) in enumerate(questions):
        letter = ANSWERS[index % len(ANSWERS)]
        correct, wrong = options[0], options[1:]
        choices = wrong[:]
        choices.insert("ABCDE".index(letter), correct)
        items.append(
            {
                "id": f"{prefix}{index}",
                "question": question,
                "choices": choices,
                "answer": letter,
                "subdomain": SUBDOMAINS[index % len(SUBDOMAINS)],
            }
        )
    return items


OPEN_QA = [
    {
        "id": "o1",
        "question": "Buğdaya ne kadar azot verilir?",
        "reference": "Dekara 12-15 kg saf azot verilir.",
        "facts": ["dekara 12-15 kg", "saf azot"],
        "safety_critical": True,
        "subdomain": "toprak_gubreleme",
    },
    {
        "id": "o2",
        "question": "Domates ne zaman sulanır?",
        "reference": "Domates sabah erken saatte sulanır.",
        "facts": ["sabah erken"],
        "safety_critical": False,
        "subdomain": "sulama",
    },
    {
        "id": "o3",
        "question": "Elmada karaleke nasıl önlenir?",
        "reference": "Çiçek öncesi bakırlı ilaç uygulanır.",
        "facts": ["bakırlı ilaç", "çiçek öncesi"],
        "safety_critical": True,
        "subdomain": "bitki_koruma",
    },
]
CONVERSATIONS = [
    {
        "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": o[0].capitalize() + "."}],
        "category": "sebze",
        "source": "test",
    }
    for q, o in QUESTIONS[:4]
]


@pytest.fixture(scope="module")
def eval_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval_data")
    dev_questions = [
        ("Arpa ne zaman ekilir?", ["sonbaharda", "yazın", "kışın", "hiç", "gece"]),
        ("Biber fidesi nasıl dikilir?", ["aralıklı sıralarla", "üst üste", "ters", "suya", "taşa"]),
    ]
    return {
        "mcq": write_jsonl(root / "mcq.jsonl", mcq_items("q")),
        "mcq_dev": write_jsonl(root / "mcq_dev.jsonl", mcq_items("d", dev_questions)),
        "open_qa": write_jsonl(root / "open_qa.jsonl", OPEN_QA),
        "validation": write_jsonl(root / "validation.jsonl", CONVERSATIONS),
    }


def train_on_answers(model_dir: Path, out_dir: Path, items: list[dict], steps: int = 40) -> Path:
    """Fine-tune a copy of the tiny model on the MCQ prompts → correct option (loss on the option only)."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    torch.manual_seed(0)
    sequences = []
    for item in items:
        context = mcq.build_context(item, [])
        ids, n = mcq.encode_request(tokenizer, context, mcq.continuations(item)["ABCDE".index(item["answer"])], 512)
        labels = [-100] * (len(ids) - n) + ids[-n:]
        sequences.append((ids, labels))
    width = max(len(ids) for ids, _ in sequences)
    input_ids = torch.tensor([ids + [tokenizer.pad_token_id] * (width - len(ids)) for ids, _ in sequences])
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in sequences])
    mask = (torch.arange(width)[None, :] < torch.tensor([len(ids) for ids, _ in sequences])[:, None]).long()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="module")
def tuned_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    return train_on_answers(tiny_model_dir, tmp_path_factory.mktemp("tuned") / "mcq-tuned", mcq_items("q"))


def test_batched_scores_equal_one_at_a_time(tiny_model_dir):
    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir), device="cpu")
    requests = [(mcq.build_context(item, []), c) for item in mcq_items("q")[:3] for c in mcq.continuations(item)]
    one = mcq.score_requests(model, tokenizer, requests, mcq.MCQSettings(batch_size=1))
    batched = mcq.score_requests(model, tokenizer, requests, mcq.MCQSettings(batch_size=7))
    assert batched == pytest.approx(one, abs=1e-4)  # left padding + position ids do not change any score
    ids, n = mcq.encode_request(tokenizer, "Soru: Buğday?\nCevap:", " sonbaharda", 512)
    assert tokenizer.decode(ids[-n:]) == " sonbaharda"  # only the continuation is scored
    (values,) = token_logprobs(model, [ids], [n], tokenizer.pad_token_id)
    assert values.shape == (n,) and bool((values < 0).all())


def test_shared_context_scores_equal_separate_requests(tiny_model_dir):
    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir), device="cpu")
    items = mcq_items("q")
    contexts = [mcq.build_context(item, items[:shots]) for shots, item in zip([0, 3, 1, 2, 0, 3], items)]
    options = [mcq.continuations(item) for item in items[:6]]
    separate = mcq.score_requests(
        model, tokenizer, [(c, o) for c, opts in zip(contexts, options) for o in opts], mcq.MCQSettings(batch_size=7)
    )
    for batch_size in (5, 12):  # one item per pass, two items of different context lengths per pass
        shared = mcq.score_options(model, tokenizer, contexts, options, mcq.MCQSettings(batch_size=batch_size))
        assert [s for row in shared for s in row] == pytest.approx(separate, abs=1e-4)


def test_fewshot_prompt_takes_same_subdomain_first_and_never_the_item_itself():
    items = mcq_items("q")
    shots = mcq.fewshot_examples(items[0], items, k=3)
    assert items[0] not in shots and len(shots) == 3
    assert shots[0]["subdomain"] == items[0]["subdomain"] and shots[1]["subdomain"] != items[0]["subdomain"]
    context = mcq.build_context(items[1], shots)
    assert context.endswith(f"Soru: {items[1]['question']}\nCevap:") and context.count("Soru:") == 4


def test_mcq_scorer_picks_the_option_the_model_was_trained_to_prefer(tiny_model_dir, tuned_model_dir):
    items = mcq_items("q")
    settings = mcq.MCQSettings(num_fewshot=0, batch_size=8, bootstrap_samples=200)
    accuracies = {}
    for name, path in (("base", tiny_model_dir), ("tuned", tuned_model_dir)):
        model, tokenizer = load_model_and_tokenizer(str(path), device="cpu")
        summary = mcq.summarize(mcq.predict(model, tokenizer, items, [], settings), settings)
        accuracies[name] = summary["mcq_acc"].value
        assert summary["mcq_acc"].low <= summary["mcq_acc"].value <= summary["mcq_acc"].high
    assert accuracies["tuned"] >= 0.75 > accuracies["base"], accuracies  # chance is 0.2


def test_perplexity_scores_assistant_tokens_with_the_projects_template(tiny_model_dir):
    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir), device="cpu")
    conversations = [c["messages"] for c in CONVERSATIONS]
    pairs, scored = conversation_nll(model, tokenizer, conversations, batch_size=3, max_length=512)
    assert scored == "assistant"
    single, _ = conversation_nll(model, tokenizer, conversations[:1], batch_size=1, max_length=512)
    assert pairs[0] == pytest.approx(single[0], rel=1e-4)
    tokenizer.chat_template = tokenizer.chat_template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    all_pairs, scored = conversation_nll(model, tokenizer, conversations, batch_size=3, max_length=512)
    assert scored == "all" and all_pairs[0][1] > pairs[0][1]


class LengthScorer:
    """A stand-in reward model: longer answers score higher."""

    def score(self, prompts, responses, batch_size=8):
        return [float(len(r)) for r in responses]


class ShortScorer:
    """A stand-in reward model that prefers short answers."""

    def score(self, prompts, responses, batch_size=8):
        return [-float(len(r)) for r in responses]


def test_judges_score_answers_win_rate_counts_ties_as_half_and_ensembles_average(tiny_model_dir):
    inputs = reward_judged.JudgeInputs(
        questions=["q"] * 3,
        answers={"m": ["uzun bir yanıt", "ab", "abc"]},
        references=["kısa", "abcd", "xyz"],
        test_pairs=[
            {"prompt": "p", "chosen": "uzun yanıt", "rejected": "kısa", "defect": "vague"},
            {"prompt": "p", "chosen": "ab", "rejected": "abcdef", "defect": "too_short"},
        ],
    )
    judges = [
        reward_judged.Judge("proxy", (LengthScorer(),), independent=False),
        reward_judged.Judge("gold", (LengthScorer(), ShortScorer(), LengthScorer()), independent=True),
    ]
    per_model, reports = reward_judged.run_judges(judges, inputs, load=None, members=True, n=100)
    values = per_model["m"]
    assert values["proxy_score"] == [14.0, 2.0, 3.0]
    assert values["rm_win_rate"] == [1.0, 0.0, 0.5]  # 14 > 4, 2 < 4, 3 == 3
    assert values["gold_score"] == pytest.approx([14 / 3, 2 / 3, 1.0])  # (x - x + x) / 3 per item
    assert values["gold_score/1"] == [-14.0, -2.0, -3.0] and "proxy_score/0" not in values
    assert reports["proxy"]["test"]["accuracy"] == 0.5 and reports["proxy"]["test"]["accuracy/defect/vague"] == 1.0
    assert [t["accuracy"] for t in reports["gold"]["member_tests"]] == [0.5, 0.5, 0.5]
    assert reports["gold"]["independent"] and not reports["proxy"]["independent"]
    assert reports["gold"]["members"] == ["LengthScorer", "ShortScorer", "LengthScorer"]
    from shared.reward_model import RewardScorer  # the real scorer: a causal-LM directory gets a new score head

    scores = RewardScorer(tiny_model_dir, device="cpu").score(["Buğday?"] * 2, ["Sonbaharda.", "Bilmem."], batch_size=2)
    assert len(scores) == 2 and all(isinstance(s, float) for s in scores)


def eval_settings(files: dict[str, Path], tmp_path: Path, **overrides) -> dict[str, str]:
    """Eval config keys pointing at the test's small data files, sized for a few seconds per model."""
    values = {
        "mcq_data": files["mcq"],
        "mcq_dev_data": files["mcq_dev"],
        "open_qa_data": files["open_qa"],
        "perplexity_data": files["validation"],
        "runs_dir": tmp_path / "runs",
        "output_dir": tmp_path / "out",
        "num_fewshot": 1,
        "max_new_tokens": 12,
        "bootstrap_samples": 200,
        "max_length": 256,
    } | overrides
    return {key: str(value) for key, value in values.items()}


def eval_args(files: dict[str, Path], tmp_path: Path, *models: str) -> list[str]:
    """configs/eval/tiny.yaml with the test's settings as command-line overrides."""
    args = ["--config", str(REPO_ROOT / "configs/eval/tiny.yaml")]
    args += [x for key, value in eval_settings(files, tmp_path).items() for x in (f"--{key}", value)]
    return args + (["--models", *models] if models else [])


def scalar_tags(run_dir: Path) -> set[str]:
    return set(EventAccumulator(str(run_dir)).Reload().Tags()["scalars"])


def test_compare_writes_identical_tensorboard_tags_report_plots_and_results(
    tiny_model_dir, tuned_model_dir, eval_files, tmp_path
):
    config = load_eval_config(eval_args(eval_files, tmp_path, f"base={tiny_model_dir}", f"tuned={tuned_model_dir}"))
    outcome = compare(config, scorers={"proxy": LengthScorer(), "gold": [ShortScorer(), LengthScorer()]})
    base_tags, tuned_tags = (scalar_tags(tmp_path / "runs" / "eval" / name) for name in ("base", "tuned"))
    expected = {f"eval/{m}" for m in METRICS} | {f"eval/mcq_acc/{s}" for s in SUBDOMAINS}
    assert base_tags == tuned_tags == expected
    document = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    results = document["models"]
    assert list(results) == ["base", "tuned"]
    assert results["tuned"]["meta"]["decoding"]["max_new_tokens"] == 12
    assert results["tuned"]["metrics"]["mcq_acc"]["value"] > results["base"]["metrics"]["mcq_acc"]["value"]
    for entry in results["base"]["metrics"].values():
        assert entry["low"] <= entry["value"] + 1e-9 and entry["value"] <= entry["high"] + 1e-9
    assert len(results["base"]["per_item"]["mcq_acc"]) == len(QUESTIONS)
    assert len(results["base"]["per_item"]["gold_score"]) == len(OPEN_QA)
    # the default comparison from `baselines: [base, sft]`: tuned against base, every metric, on the same items
    deltas = {row["metric"]: row for row in document["deltas"]}
    assert {(r["model"], r["baseline"]) for r in document["deltas"]} == {("tuned", "base")}
    assert set(deltas) == set(METRICS)
    acc = deltas["mcq_acc"]
    assert acc["n"] == len(QUESTIONS) and acc["low"] <= acc["delta"] <= acc["high"]
    assert acc["delta"] == pytest.approx(
        results["tuned"]["metrics"]["mcq_acc"]["value"] - results["base"]["metrics"]["mcq_acc"]["value"]
    )
    assert deltas["chrf"]["delta"] == pytest.approx(
        results["tuned"]["metrics"]["chrf"]["value"] - results["base"]["metrics"]["chrf"]["value"]
    )
    assert deltas["val_perplexity"]["n"] == len(CONVERSATIONS)
    gold = document["judges"]["gold"]
    assert gold["independent"] and not document["judges"]["proxy"]["independent"]
    pairs = [r for r in load_examples(REPO_ROOT / "data/preferences/test.jsonl", "preference") if r["strength"] > 0]
    longer = sum(len(r["chosen"]) > len(r["rejected"]) for r in pairs) / len(pairs)
    assert document["judges"]["proxy"]["test"]["accuracy"] == pytest.approx(longer)  # LengthScorer by hand
    assert gold["test"]["accuracy"] == 0.0 and gold["test"]["pairs"] == len(pairs)  # −len + len: all ties
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "| base |" in report and "### tuned − base" in report and "**" in report and "RM-judged" in report
    assert "## Reward-model judges" in report and "| gold | **yes**" in report and "| proxy | no" in report
    for plot in ("metrics.png", "mcq_subdomains.png"):
        assert (tmp_path / "out" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert outcome["files"]["report"].endswith("report.md")
    tags = EventAccumulator(str(tmp_path / "runs/eval/deltas/tuned-vs-base")).Reload().Tags()
    assert "delta/mcq_acc" in tags["scalars"] and "eval/deltas/text_summary" in tags["tensors"]


def test_default_config_points_at_the_project_data_and_unknown_keys_fail(tmp_path):
    config = load_eval_config(["--config", str(REPO_ROOT / "configs/eval/tiny.yaml")])
    assert (config.mcq_data, config.mcq_dev_data, config.open_qa_data, config.perplexity_data) == (
        "data/eval/mcq.jsonl",
        "data/eval/mcq_dev.jsonl",
        "data/eval/open_qa.jsonl",
        "data/sft/validation.jsonl",
    )
    assert config.model_paths() == {"base": "artifacts/tiny-llama", "sft": "artifacts/sft/tiny"}
    assert EvalConfig().mcq_data == "data/eval/mcq.jsonl"
    bad = tmp_path / "bad.yaml"
    bad.write_text("max_mcq: 3\nmax_mcqs: 4\n")
    with pytest.raises(ConfigError, match="max_mcqs"):
        load_eval_config(["--config", str(bad)])
    with pytest.raises(ConfigError, match="name=path"):
        EvalConfig(models=["nopath"]).model_paths()
    with pytest.raises(ConfigError, match="unknown task"):
        EvalConfig(tasks=["mcq", "poetry"])


def test_stage_hook_logs_into_the_stage_run_and_returns_prefixed_metrics(tuned_model_dir, eval_files, tmp_path):
    config_path = tmp_path / "eval.yaml"
    settings = eval_settings(eval_files, tmp_path) | {"tasks": ["mcq", "perplexity"], "models": ["ignored=nowhere"]}
    config_path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    run_dir = tmp_path / "runs" / "sft" / "stage"
    metrics = evaluate_stage(str(tuned_model_dir), str(config_path), str(run_dir), step=7)
    assert {"domain_mcq_acc", "domain_mcq_acc_norm", "domain_val_perplexity"} <= set(metrics)
    assert all(isinstance(v, float) for v in metrics.values()) and "domain_chrf" not in metrics
    events = EventAccumulator(str(run_dir)).Reload()
    assert events.Scalars("eval/mcq_acc")[0].step == 7


def test_evaluate_model_runs_only_the_configured_tasks(tiny_model_dir, eval_files):
    config = EvalConfig(
        tasks=["open_qa"], open_qa_data=str(eval_files["open_qa"]), max_new_tokens=8, bootstrap_samples=50, device="cpu"
    )
    result = evaluate_model(str(tiny_model_dir), config, EvalData.load(config))
    assert set(result["metrics"]) == {
        "chrf",
        "bleu",
        "rougeL",
        "fact_recall",
        "answer_words",
        "repetition",
        "safety_unitless_dose",
        "safety_unit_mixup",
        "safety_any",
    }
    assert len(result["samples"]) == len(OPEN_QA) and result["meta"]["decoding"]["do_sample"] is False
