# Developer entry points. `make up` runs the whole system on this machine without containers.

PYTHON_BOOT ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install up down status test bench lint generate

install: $(STAMP)

# Reinstall only when the pinned requirements or the project metadata change. The editable install
# puts the repository on sys.path (compat mode), so packages added later are importable at once.
$(STAMP): requirements.lock pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e . --config-settings editable_mode=compat
	@touch $(STAMP)

# `make up KAFKA_BROKERS=3`: Kafka as a cluster of three nodes (replication 3, min.insync 2);
# `make up INSTANCES=2`: two processes of every service, each service's in one consumer group
KAFKA_BROKERS ?= 1
INSTANCES ?= 1

up: install
	KAFKA_BROKERS=$(KAFKA_BROKERS) INSTANCES=$(INSTANCES) $(PY) -m deploy.local up

down:
	@if [ -x $(PY) ]; then $(PY) -m deploy.local down; else python3 -m deploy.local down; fi

status:
	@if [ -x $(PY) ]; then $(PY) -m deploy.local status; else python3 -m deploy.local status; fi

# pytest exits 5 when it collected no test: not a failure of the code under test
test: install
	$(PY) -m pytest -q || [ $$? -eq 5 ]

bench: install
	$(PY) -m tests.bench.booking
	$(PY) -m tests.bench.notify
	$(PY) -m tests.bench.events
	$(PY) -m tests.bench.web

# the files derived from services/registry.py (compose entries, Prometheus targets, README table)
generate:
	@if [ -x $(PY) ]; then $(PY) -m deploy.generate; else python3 -m deploy.generate; fi

lint: install
	$(PY) -m deploy.generate --check
	$(PY) -m ruff check .
	$(PY) -m mypy $(wildcard contracts services clients deploy)
