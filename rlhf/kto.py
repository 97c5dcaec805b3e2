"""KTO (Kahneman-Tversky optimisation) from an SFT checkpoint, on TRL's KTOTrainer: learns from answers labelled
good or bad one by one, with no pairing needed.

    accelerate launch --config_file configs/accelerate/cpu.yaml rlhf/kto.py --config configs/rlhf/kto_tiny.yaml

Recipe: config → labelled rows (the app's KTO export as it is, or preference pairs split into one good and one bad
row; ties and "both bad" pairs excluded) → policy (full, LoRA or QLoRA) → TRL KTOTrainer → train → save → evaluate.
With LoRA the reference model is the same weights with the adapter disabled: no second model in memory.
The body is `shared.stage.train_preference_stage`, shared with rlhf/dpo.py.
"""

from __future__ import annotations

from trl import KTOConfig, KTOTrainer, ModelConfig

from shared.config import run_script
from shared.data import kto_rows
from shared.stage import PreferenceScriptArguments, train_preference_stage


def main(script_args: PreferenceScriptArguments, training_args: KTOConfig, model_args: ModelConfig) -> dict:
    return train_preference_stage("kto", KTOTrainer, kto_rows, script_args, training_args, model_args)


if __name__ == "__main__":
    run_script(main, PreferenceScriptArguments, KTOConfig, ModelConfig)
