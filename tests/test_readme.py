"""The README's commands stay true: every script, module, config and accelerate config they name exists, and the
recipes they use only hold known keys (tests/test_configs.py). The CPU commands themselves run in `make demo`
and in the stage tests; the GPU ones cannot run here."""

import importlib.util
import re
import shlex

from tests.conftest import REPO_ROOT


def readme_commands() -> list[list[str]]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                commands.append(shlex.split(line))
    return commands


def test_readme_shows_the_two_commands():
    commands = readme_commands()
    assert ["make", "demo"] in commands and ["make", "test"] in commands


def test_every_named_file_and_module_exists():
    checked = 0
    for words in readme_commands():
        for flag, value in zip(words, words[1:]):
            if flag in {"--config", "--config_file"}:
                assert (REPO_ROOT / value).is_file(), f"{shlex.join(words)}: missing {value}"
                checked += 1
            if flag == "-m":
                assert importlib.util.find_spec(value) is not None, f"{shlex.join(words)}: no module {value}"
                checked += 1
        scripts = [w for w in words if w.endswith(".py")]
        for script in scripts:
            assert (REPO_ROOT / script).is_file(), f"{shlex.join(words)}: missing {script}"
            checked += 1
    assert checked > 30


def test_make_targets_in_readme_exist():
    makefile = (REPO_ROOT / "Makefile").read_text()
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for target in set(re.findall(r"`make ([a-z-]+)", text)):
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"make {target} is not a Makefile target"
