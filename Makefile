# Two commands for a fresh Debian/Ubuntu machine with Python 3.11 and apt:
#   make run    set everything up and start the app
#   make test   set everything up and run the whole test suite
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.radiview-installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-gpu system-deps venv lint bench screenshots installer clean

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
	$(MAKE) --no-print-directory lint

lint: venv
	$(VENV)/bin/ruff check radiview training tests benchmarks packaging
	$(VENV)/bin/ruff format --check radiview training tests benchmarks packaging
	$(VENV)/bin/mypy

bench: venv
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

screenshots: system-deps venv
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) packaging/screenshots.py docs/screenshots

installer: system-deps venv
	bash packaging/build_linux.sh

clean:
	rm -rf build dist .pytest_cache .ruff_cache

# On a machine with a CUDA GPU: every CUDA test, then a short end-to-end CUDA fine-tune with --export
# and a CUDA screen of the shared films with that bundle (figures printed; README "Measured performance").
test-gpu: venv
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q tests/inference/test_device.py \
	  "tests/inference/test_classifier.py::test_cuda_out_of_memory_falls_back_to_the_cpu" \
	  tests/training/test_model2.py
	$(PY) -m training --data ../shared/data/cxr/manifest.csv --ood ../shared/data/ood/manifest.csv \
	  --mode finetune --device cuda --epochs 2 --batch-size 64 --burned-text 0.5 --workers 4 \
	  --output-dir runs/test-gpu --export runs/test-gpu/bundle --model-version 0.0.0-gpu-check --no-progress
	$(VENV)/bin/radiview screen ../shared/data/cxr --recursive --device cuda --model runs/test-gpu/bundle \
	  --out runs/test-gpu/screen.csv --overwrite
	$(PY) benchmarks/bench_gpu_ceiling.py
	$(PY) benchmarks/bench_training.py
