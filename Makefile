# Two commands do all set-up on a fresh machine: `make run` and `make test`.
# Each creates .venv when missing and installs what it needs (re-installs when pyproject changes).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test docs format clean system

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# after installing, the engine's numba loops are compiled once (cached on disk): the first
# query of the explorer then waits milliseconds, not seconds
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -c "from model.inference.calibrated import warm; warm()"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -c "from model.inference.calibrated import warm; warm()"
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT) --server.headless true

# The system packages the tests need that no Python registry carries: Debian's chromium for
# the real-browser tests (playwright cannot download a browser here; PDF pages are rendered by
# pypdfium2, a pip package) and PostgreSQL for the case book's tests (each run starts a
# throwaway server of its own). Installed with apt-get as root or through passwordless sudo;
# otherwise one line says what to run.
SYSTEM_PACKAGES := chromium fonts-dejavu-core postgresql
system:
	@if [ -x /usr/bin/chromium ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; \
	else echo "make: the tests need Debian packages: run 'sudo apt-get install $(SYSTEM_PACKAGES)' once, then make test again" >&2; exit 1; fi; \
	$$SUDO apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES)

test: $(VENV)/.installed-dev system
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# Time the engine against pgmpy and pyAgrum (a few minutes): a table on stdout, bench.json.
.PHONY: bench
bench: $(VENV)/.installed-dev system
	$(BIN)/python bench/run.py

# Run every notebook at full size and keep an HTML copy of each under docs/notebooks/.
.PHONY: notebooks
notebooks: $(VENV)/.installed-dev
	mkdir -p docs/notebooks
	MPLBACKEND=Agg $(BIN)/jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=3600 \
		--output-dir docs/notebooks notebooks/*.ipynb

# Regenerate what is generated from the model: the claim table and the README's examples.
docs: $(VENV)/.installed-dev
	$(BIN)/crampnet claims --markdown > docs/claims.md
	UPDATE_README=1 $(BIN)/python -m pytest -q tests/test_readme.py
	UPDATE_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/test_browser.py tests/test_report.py -k "browser or phone or page_png"

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
