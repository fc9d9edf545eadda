# Sentinel Lab. `make study` runs the main job from a fresh clone; `make test` runs the tests.
VENV   ?= .venv
PY     := $(VENV)/bin/python
LAB    := $(VENV)/bin/sentinel-lab
PYTEST_ARGS ?=

.PHONY: setup deps study test bench up down status clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name sentinel-lab --display-name "Sentinel Lab" >/dev/null
	touch $@

deps:
	bash stack/local/install-deps.sh

setup: $(VENV)/.installed deps

## the main job: every pattern measurable locally, quick settings, then the report (prints index.html)
study: setup
	$(LAB) study --quick
	$(LAB) report

## unit and integration tests (the integration tests start their own services)
test: setup
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests — that is a failure"; exit 1; fi; \
	exit $$rc

## benchmarks print their figures; they are not pass/fail
bench: setup
	$(PY) -m analysis.bench

up: setup
	$(LAB) up

down:
	$(LAB) down

status:
	$(LAB) status

clean: down
	rm -rf .lab
