# Two commands set everything up on a machine with python3 and make:
#   make serve   install, execute the notebooks (cached), build and serve the site on 127.0.0.1:8000
#   make test    install, then run every test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export NO_MKDOCS_2_WARNING := 1

.PHONY: install check build serve test lint bench lock clean data reproduce

install: $(STAMP)

# Re-installs only when the pins or the package metadata change. --no-deps: the lock pins every package,
# and timm declares torchvision, which must never be pulled in (it does not work beside torch 2.13.0 CPU;
# building timm's MobileNets does not need it: see README, "Peers").
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

check: install
	$(BIN)/kb check

build: install
	$(BIN)/kb build

serve: install
	$(BIN)/kb serve

# One worker more than there are cores: many tests wait (for a timeout, an interrupted kb check, a page to go
# idle), and the extra worker's tests use the core meanwhile (on 2 cores: 193 s instead of 205 s).
WORKERS ?= $(shell $(PYTHON) -c 'import os; print(len(os.sched_getaffinity(0)) + 1)')

test: install data
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup --no-loadscope-reorder

# Real data for the experiments (kb reproduce, and the test suite's smoke runs): the one file that comes from PyPI,
# stardist's wheel (BSD-3), whose two images the nuclei loader reads straight from the zip; stardist itself is never
# installed. Fashion-MNIST and the brain volumes are Debian packages: apt-get install dataset-fashion-mnist mricron-data.
STARDIST := stardist==0.9.2

data: install
	mkdir -p data
	ls data/stardist-0.9.2-*.whl >/dev/null 2>&1 || $(BIN)/python -m pip download --quiet --disable-pip-version-check \
	  --no-deps --only-binary=:all: $(STARDIST) -d data

# Re-run every paper's experiments and freeze the results (tens of minutes; Ctrl-C keeps finished runs, run it again to resume).
reproduce: install
	$(BIN)/kb reproduce

bench: install
	$(BIN)/python -m kb.bench

# Re-pin every installed package after changing a direct dependency in pyproject.toml (--all: setuptools too,
# which torch requires and which --no-deps would otherwise never install).
lock: install
	{ echo "# Every package the knowledge base installs, pinned (pip freeze of a working .venv). Regenerate with \`make lock\`."; \
	  echo "# Installed with --no-deps: this list is complete, and timm's declared torchvision must never be pulled in."; \
	  $(BIN)/python -m pip freeze --all --exclude-editable | grep -v '^pip==' | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > requirements.lock

clean:
	rm -rf site build .pytest_cache
