"""The hook a training stage calls at its end when `--eval_config` is set (sft/train.py, reward/, rlhf/):

    metrics |= evaluate_stage(output_dir, script_args.eval_config, run_dir)

It evaluates the saved model with the eval config's tasks, data, limits, decoding and reward-model judges (its
`models:` list is ignored), logs the scalars into the stage's own TensorBoard run under the same `eval/...` tags `compare` uses,
and returns them flat with a `domain_` prefix for the stage's model card.
"""

from __future__ import annotations

from shared.eval.config import load_eval_config
from shared.eval.runner import EvalData, add_judge_scores, evaluate_model, flat_metrics, log_to_tensorboard


def evaluate_stage(model_dir: str, eval_config: str, run_dir: str, step: int = 0) -> dict[str, float]:
    config = load_eval_config(["--config", eval_config])
    data = EvalData.load(config)  # the judges' own accuracy on preference pairs is `compare`'s
    result = evaluate_model(str(model_dir), config, data)
    add_judge_scores({"stage": result}, config, data)
    log_to_tensorboard(result, run_dir, step)
    return {f"domain_{name}": value for name, value in flat_metrics(result).items()}
