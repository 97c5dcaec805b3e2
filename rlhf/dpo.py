"""Direct preference optimisation (DPO) from an SFT checkpoint, on TRL's DPOTrainer.

    accelerate launch --config_file configs/accelerate/cpu.yaml rlhf/dpo.py --config configs/rlhf/dpo_tiny.yaml

Recipe: config → preference pairs (seed file, app DPO export, Hub id, or a weighted mixture; ties and "both bad"
excluded) → policy (full, LoRA or QLoRA) → TRL DPOTrainer → train → save → evaluate.
With LoRA the reference model is the same weights with the adapter disabled: no second model in memory.
KTO, from unpaired good/bad labels, is its own recipe: rlhf/kto.py; both run `shared.stage.train_preference_stage`.
"""

from __future__ import annotations

from trl import DPOConfig, DPOTrainer, ModelConfig

from shared.config import run_script
from shared.data import dpo_rows
from shared.stage import PreferenceScriptArguments, train_preference_stage


def main(script_args: PreferenceScriptArguments, training_args: DPOConfig, model_args: ModelConfig) -> dict:
    return train_preference_stage("dpo", DPOTrainer, dpo_rows, script_args, training_args, model_args)


if __name__ == "__main__":
    run_script(main, PreferenceScriptArguments, DPOConfig, ModelConfig)
