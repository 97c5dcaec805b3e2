"""The layering rule of docs/ARCHITECTURE.md: `shared/` imports no stage and not `pipeline`; no stage script imports
another stage script (what two scripts share lives in `shared/`)."""

import ast

from tests.conftest import REPO_ROOT

STAGE_PACKAGES = {"sft", "reward", "rlhf", "annotation_app", "pipeline"}
STAGE_SCRIPTS = {"sft.train", "reward.train", "reward.score", "rlhf.dpo", "rlhf.kto", "rlhf.ppo", "rlhf.grpo"}


def imported_modules(path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules |= {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def test_shared_imports_no_stage_and_not_the_pipeline():
    offending = {
        str(path.relative_to(REPO_ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] in STAGE_PACKAGES)
        for path in (REPO_ROOT / "shared").rglob("*.py")
    }
    assert len(offending) > 30 and not {k: v for k, v in offending.items() if v}


def test_no_stage_script_imports_another():
    for script in STAGE_SCRIPTS:
        path = REPO_ROOT / (script.replace(".", "/") + ".py")
        assert not (imported_modules(path) & STAGE_SCRIPTS) - {script}, script
