# Two commands for a fresh Debian/Ubuntu machine with Python 3.11 and apt:
#   make run    set everything up and start the app
#   make test   set everything up and run the whole test suite
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.radiview-installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test system-deps venv lint bench screenshots installer clean

system-deps:
	@SUDO=$(SUDO) bash packaging/install_system_packages.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,packaging]'
	touch $(STAMP)

venv: $(STAMP)

run: system-deps venv
	$(VENV)/bin/radiview

test: system-deps venv
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q
	$(VENV)/bin/ruff check radiview training tests benchmarks packaging

lint: venv
	$(VENV)/bin/ruff check radiview training tests benchmarks packaging

bench: venv
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

screenshots: system-deps venv
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) packaging/screenshots.py docs/screenshots

installer: system-deps venv
	bash packaging/build_linux.sh

clean:
	rm -rf build dist .pytest_cache .ruff_cache
