# The two commands of the README, plus the pieces they are made of.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck install clean

$(STAMP): requirements.txt requirements-dev.txt package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund; \
	else echo "npm not found: the IoT charts need uPlot; install Node.js (with npm), then run: npm ci"; fi
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python run.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy server run.py

test: $(STAMP) lint typecheck
	$(BIN)/pytest -n 2 --dist loadgroup --durations=25

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
