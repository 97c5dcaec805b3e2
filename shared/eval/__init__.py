"""Evaluation: domain MCQ, open QA, perplexity, safety rules and RM-judged score and win rate, one module per concern.

`python -m shared.eval.compare --config configs/eval/tiny.yaml` compares models; `shared.eval.stage.evaluate_stage`
is the hook a training stage calls at its end. Metric definitions: docs/evaluation.md.
"""
