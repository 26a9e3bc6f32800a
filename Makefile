# parcelrisk: every task of the project. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export BENTOML_DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true

UV_VERSION := 0.13.9
VENV := .venv
RUN := $(VENV)/bin
DATA := data/parcels.parquet
# the demo's size: `make demo ROWS=40000 DAYS=24` runs it small
ROWS ?= 1000000
DAYS ?= 60
# parameters of both notebooks, e.g. NOTEBOOK_PARAMS="-p rows 40000 -p days 24"
NOTEBOOK_PARAMS ?=
PORT ?= 3000
# processes of `make test`: one per core; a module's tests stay in one process
PYTEST_WORKERS ?= 2
# requests `make fuzz` sends in all, half to each audit store: `make fuzz PARCELRISK_FUZZ_CASES=400` runs it small
PARCELRISK_FUZZ_CASES ?= 10000
# `make bento MODEL=models/<dir>`: the exported model the bento carries, and its build context
MODEL ?=
BENTO_CTX := build/bento

.PHONY: help install demo serve bento notebooks lab strip test fuzz crash postgres lint format audit bench clean

help: ## List every task
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet "uv==$(UV_VERSION)"
	uv sync --frozen
	@touch $@

install: $(VENV)/.installed ## Install the locked dependencies into .venv

demo: install ## Generate 1M parcels, train (evaluate, then refit on every parcel), score the last day
	$(RUN)/parcelrisk generate --rows $(ROWS) --days $(DAYS) --seed 0 --out $(DATA)
	$(RUN)/parcelrisk train --data $(DATA)
	$(RUN)/parcelrisk score $(DATA) --last-day --out data/scores-last-day.parquet

serve: install ## Serve the champion (else the newest model) on 127.0.0.1:$(PORT) (run `make demo` first)
	$(RUN)/bentoml serve parcelrisk.serving.service:ParcelRisk --host 127.0.0.1 --port $(PORT)

bento: ## Build the service's bento with its code, locked requirements and MODEL=models/<dir>
	@case "$(notdir $(abspath $(MODEL)))" in parcelrisk-*) ;; *) echo "make bento: MODEL must name an exported model directory models/parcelrisk-<time>, got '$(MODEL)'" >&2; exit 2;; esac
	@test -f "$(MODEL)/metadata.json" || { echo "make bento: $(MODEL) holds no metadata.json: not an exported model directory" >&2; exit 2; }
	rm -rf $(BENTO_CTX) && mkdir -p $(BENTO_CTX)/models
	cp -R bentofile.yaml src configs $(BENTO_CTX)/
	cp -R "$(abspath $(MODEL))" $(BENTO_CTX)/models/
	uv export --frozen --no-hashes --no-emit-project --no-dev --extra postgres --quiet --output-file $(BENTO_CTX)/requirements.txt
	# BentoML reads only below its working dir; it imports the service from the copied code
	cd $(BENTO_CTX) && PYTHONPATH=src $(abspath $(RUN))/bentoml build

notebooks: install ## Run both notebooks on their default data into notebooks/work (about 4 minutes)
	mkdir -p notebooks/work  # papermill writes its output notebook there, and makes no folder
	cd notebooks && ../$(RUN)/papermill 01_retrain.ipynb work/01_retrain.ipynb -p work_dir work $(NOTEBOOK_PARAMS)
	cd notebooks && ../$(RUN)/papermill 02_explain_for_auditors.ipynb work/02_explain_for_auditors.ipynb -p work_dir work $(NOTEBOOK_PARAMS)

lab: install ## Open the notebooks in JupyterLab (fetched by uv into a cache, not into .venv)
	uv run --with jupyterlab jupyter lab notebooks/

strip: install ## Strip outputs and execution counts from the notebooks before committing
	$(RUN)/nbstripout notebooks/*.ipynb

test: lint ## Run the lint checks and the test suite (PYTEST_WORKERS processes, default 2; crash rounds: make crash; served on PostgreSQL: make postgres)
	$(RUN)/pytest -n $(PYTEST_WORKERS) --dist loadscope -m "not crash and not postgres_service"

fuzz: install ## Fuzz every route of the service with at least 10,000 cases, half on SQLite, half on PostgreSQL (about 7 minutes)
	PARCELRISK_FUZZ_CASES=$(PARCELRISK_FUZZ_CASES) $(RUN)/pytest tests/service/test_fuzz.py -s

crash: install ## SIGKILL the service under load, 5 rounds on SQLite and on PostgreSQL (several minutes)
	PARCELRISK_CRASH_ROUNDS=5 $(RUN)/pytest -m crash tests/service/test_crash_safety.py -s

postgres: install ## Overload and readiness of the served service on PostgreSQL (make test runs them on SQLite)
	$(RUN)/pytest -m postgres_service tests/service/test_operations.py -s

lint: install ## Check style and lint with ruff
	$(RUN)/ruff check src tests bench notebooks
	$(RUN)/ruff format --check src tests bench notebooks

format: install ## Format the code with ruff
	$(RUN)/ruff check --fix src tests bench notebooks
	$(RUN)/ruff format src tests bench notebooks

audit: install ## Check the locked dependencies for known vulnerabilities (fails if no advisory source answers)
	$(RUN)/python .ci/audit_dependencies.py

bench: install ## Run the speed and memory benchmarks
	$(RUN)/python bench/bench_generate.py
	$(RUN)/python bench/bench_score.py
	$(RUN)/python bench/bench_tree_shape.py
	@echo "serving: $(RUN)/python bench/bench_serve.py --model models/<dir> --data $(DATA)"
	@echo "live history (several minutes, 1M parcels): $(RUN)/python bench/bench_live_history.py"

clean: ## Remove generated data, reports, local MLflow store, caches and the virtualenv
	rm -rf $(VENV) data reports mlflow.db mlartifacts audit.db* models/parcelrisk-* notebooks/work .pytest_cache .ruff_cache
