# Two commands do all the set-up on a fresh machine (Python 3.11+, make, a C compiler):
#   make demo   installs the workbench with its offline model and opens it on the example project
#   make test   installs everything (fine-tuning and test tools too), runs the checks (make lint), then
#               the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# Never reach the internet at run time: litellm's cost map and Hugging Face stay local.
export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test check lint bench install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-app: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[local]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[local,finetune,dev]'
	touch $@ $(VENV)/.installed-app

install: $(VENV)/.installed-app
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed-app
	$(BIN)/workbench demo

# The fast checks first: lint style and mistakes, the import contracts (pyproject.toml), the types.
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check workbench tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy workbench

# The inner loop: the checks and the core's fast tests (no model loaded, no TUI), in about a minute.
check: lint
	$(BIN)/python -m pytest -q -m "not slow" tests/core

test: lint
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-dev
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .workbench .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .grimp_cache
