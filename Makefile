# Set-up commands of the gateway. `make run` starts the web server and the
# django-q2 cluster that reconciles orders, both on the embedded SQLite
# database; `make test` runs the whole test suite. Each creates the virtual
# environment in .venv itself and reinstalls only when a requirements file
# changes.

# bash, because the run recipe signals the cluster's process group, which
# dash's kill cannot name.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIND ?= 127.0.0.1:8000
WORKERS ?= 2
CLUSTER_STOP_SECONDS ?= 15
EXAMPLE_CONFIG := config/example.toml
EXAMPLE_ENV := var/example.env

# With IBKR_GATEWAY_CONFIG=config/example.toml, the example's keys and its own
# database (var/example.sqlite3, apart from the development-mode one) come
# from var/example.env, made once with random keys; other configs bring their
# own variables.
ifeq ($(IBKR_GATEWAY_CONFIG),$(EXAMPLE_CONFIG))
LOAD_ENV := . ./$(EXAMPLE_ENV) &&
RUN_NEEDS := $(EXAMPLE_ENV)
else
LOAD_ENV :=
RUN_NEEDS :=
endif

.PHONY: run test lint bench clean

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime-installed $@

$(EXAMPLE_ENV):
	mkdir -p var
	umask 077 && $(PYTHON) -c 'import secrets; print("\n".join(f"export {name}={secrets.token_hex(32)}" for name in ("IBKR_AUDIT_HMAC_SECRET", "IBKR_AUDIT_CORRELATION_SECRET", "DJANGO_SECRET_KEY")) + "\nexport IBKR_GATEWAY_CONFIG=$(EXAMPLE_CONFIG)\nexport DATABASE_URL=sqlite:///$(CURDIR)/var/example.sqlite3")' > $@
	@echo "Wrote random keys for the example config to $@; load them in other shells with: . $@"

# `run` starts the django-q2 cluster (manage.py qcluster) in the background,
# in its own process group, next to gunicorn, both with the same environment.
# The trap sends SIGTERM to both when gunicorn exits or the shell gets SIGINT
# or SIGTERM. The cluster
# would first finish its running reconcile sweeps, which can take two
# minutes, so it is killed after CLUSTER_STOP_SECONDS; an interrupted pass
# rolls back, and its lease expires on its own.
run: $(VENV)/.runtime-installed $(RUN_NEEDS)
	mkdir -p var
	$(LOAD_ENV) $(VENV)/bin/python manage.py check
	$(LOAD_ENV) $(VENV)/bin/python manage.py migrate --noinput
	$(LOAD_ENV) $(VENV)/bin/python manage.py collectstatic --noinput --verbosity 0
	trap 'kill $$server 2>/dev/null; kill -TERM -- -$$cluster 2>/dev/null; \
		for second in $$(seq $(CLUSTER_STOP_SECONDS)); do \
			kill -0 $$cluster 2>/dev/null || break; sleep 1; \
		done; kill -KILL -- -$$cluster 2>/dev/null; wait' EXIT INT TERM; \
	$(LOAD_ENV) exec setsid $(VENV)/bin/python manage.py qcluster & cluster=$$!; \
	$(LOAD_ENV) exec $(VENV)/bin/gunicorn ibkr_gateway.wsgi:application \
		--bind $(BIND) --workers $(WORKERS) --preload --no-control-socket \
		--access-logfile - --error-logfile - --log-level info & server=$$!; \
	wait $$server

test: $(VENV)/.dev-installed
	$(VENV)/bin/python -m pytest

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(VENV)/.dev-installed
	$(VENV)/bin/python bench/audit_bench.py

clean:
	rm -rf $(VENV) var/static
