PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint flops clean

$(STAMP): pyproject.toml setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[export,dev,fastreid]'
	$(PY) -m pip install --quiet -c constraints.txt --no-deps fastreid  # its torch 1.13 pins cannot resolve (docs/fastreid.md)
	touch $(STAMP)

demo: $(STAMP)
	$(PY) tools/demo.py --picture docs/images/search_demo.png

test: $(STAMP)
	$(VENV)/bin/ruff check toplight_plugin tools tests
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --dist loadfile --max-worker-restart 0 --ignore tests/test_ddp.py  # two single-threaded workers, one per core; a crashed worker fails the run (a restarted one can hang pytest-xdist's loadfile)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -p no:xdist tests/test_ddp.py  # two-rank process groups, each rank given a core

lint: $(STAMP)
	$(VENV)/bin/ruff check toplight_plugin tools tests

flops: $(STAMP)
	$(PY) tools/flops.py --write docs/models.md

clean:
	rm -rf $(VENV) build *.egg-info data/synthetic output/demo
