# The two entry points: `make demo` (the chain on the bundled sample) and `make test`.
# Both create the virtualenv from the pinned requirements when it is missing or out of date.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= out/demo
PYTEST_ARGS ?=

.PHONY: venv test test-fast demo bench clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

venv: $(STAMP)  ## create .venv with the pinned requirements

$(STAMP): requirements.txt requirements-test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-test.txt
	touch $(STAMP)

test: $(STAMP)  ## run the test suite
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)  ## run the suite without the tests marked slow (under a minute; every package still covered)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

demo: $(STAMP)  ## run the chain on the bundled sample into out/demo
	$(PY) -m scripts.demo --output $(DEMO_OUT)

BENCHMARKS := parse pmc_parse sentences corpus vocab tfrecords pretrain accelerator

bench: $(STAMP)  ## run every stage's benchmark (each prints its figures and ratios)
	for b in $(BENCHMARKS); do echo "== benchmarks.$$b"; $(PY) -m benchmarks.$$b || exit 1; done

clean:  ## remove outputs (keeps the virtualenv)
	rm -rf out .pytest_cache
