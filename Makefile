# Two commands set everything up on a fresh machine: `make run` and `make test`.
# The venv is (re)installed whenever pyproject.toml is newer than the last install.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# No network for telemetry here; the project's .telemetry also says consent: false.
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1

.PHONY: run test test-ui screenshots bench bench-cifar viz viz-build mlflow team-up team-down team-env lint clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch/torchvision are pinned in pyproject.toml, so pip takes them from local disk.
	$(BIN)/pip install --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## install if needed, then run the default pipeline on the offline default data
	$(BIN)/kedro run

test: $(STAMP)  ## install if needed, then run the whole test suite
	$(BIN)/python -m pytest

test-ui: $(STAMP)  ## browser tests of kedro viz and the MLflow UI in headless Chromium; screenshots in build/test-ui
	scripts/install_chromium.sh
	UI_SCREENSHOTS=build/test-ui $(BIN)/python -m pytest -m ui tests/ui

screenshots: $(STAMP)  ## the README's images in docs/images, from two tiny runs
	scripts/install_chromium.sh
	$(BIN)/python scripts/screenshots.py

bench: $(STAMP)  ## benchmarks (not tests): writes data/08_reporting/bench.json
	$(BIN)/python -m benchmarks.run

bench-cifar: $(STAMP)  ## CIFAR-10 time to accuracy (fast recipe vs airbench94 reference vs ResNet-20); needs CIFAR10_DIR
	$(BIN)/python -m benchmarks.cifar

viz: $(STAMP)  ## the pipeline graph at http://127.0.0.1:4141
	$(BIN)/kedro viz run --host 127.0.0.1 --port 4141

viz-build: $(STAMP)  ## a static site of the graph in build/
	$(BIN)/kedro viz build --include-previews

mlflow: $(STAMP)  ## the MLflow UI on the project's store at http://127.0.0.1:5000
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db \
		--host 127.0.0.1 --port 5000 --workers 1

team-up: $(STAMP)  ## a local PostgreSQL + MLflow server on 127.0.0.1 for `kedro run --env team`
	$(BIN)/python scripts/team.py up

team-down:  ## stop them (their data stays in data/team/)
	$(BIN)/python scripts/team.py down

team-env:  ## the variables `--env team` reads: eval "$$(make -s team-env)"
	@$(BIN)/python scripts/team.py env

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean-venv:
	rm -rf $(VENV)
