# ketaclinic — `make run` serves the demo clinic, `make test` runs the whole suite.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PYTEST_WORKERS ?= 2

.PHONY: install run test lint checks types openapi-snapshot bench clean fhir-validator axe-core

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# A local demo: debug mode unless told otherwise (production needs KETACLINIC_SECRET_KEY).
run: export KETACLINIC_DEBUG ?= 1
run: export KETACLINIC_BASE_URL ?= http://127.0.0.1:$(PORT)
run: install
	mkdir -p var
	$(PY) -m ketaclinic migrate --noinput
	$(PY) -m ketaclinic seed_demo
	@$(PY) -m ketaclinic demo_logins --port $(PORT)
	@$(PY) -m ketaclinic worker > var/worker.log 2>&1 & echo $$! > var/worker.pid; \
	trap 'kill $$(cat var/worker.pid) 2>/dev/null' EXIT INT TERM; \
	$(VENV)/bin/granian --interface wsgi --host 127.0.0.1 --port $(PORT) --workers 1 --blocking-threads 8 \
		ketaclinic.wsgi:application

# The FHIR validator (Medplum, pinned in its package-lock.json) for tests/interop.
FHIR_VALIDATOR := tests/interop/validator
$(FHIR_VALIDATOR)/node_modules/.package-lock.json: $(FHIR_VALIDATOR)/package-lock.json
	npm ci --prefix $(FHIR_VALIDATOR) --no-audit --no-fund

fhir-validator:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(FHIR_VALIDATOR)/node_modules/.package-lock.json; \
	else echo "npm is missing: the FHIR validation tests will be skipped (apt-get install npm)"; fi

# axe-core (pinned in its package-lock.json), injected into chromium by the accessibility tests.
AXE_CORE := tests/a11y
$(AXE_CORE)/node_modules/.package-lock.json: $(AXE_CORE)/package-lock.json
	npm ci --prefix $(AXE_CORE) --no-audit --no-fund

axe-core:
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(AXE_CORE)/node_modules/.package-lock.json; \
	else echo "npm is missing: the accessibility checks will be skipped (apt-get install npm)"; fi

test: install fhir-validator axe-core
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(MAKE) --no-print-directory checks
	$(VENV)/bin/mypy --strict src/ketaclinic/clinical
	$(MAKE) --no-print-directory types
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy --strict src/ketaclinic/clinical
	$(MAKE) --no-print-directory types
	$(VENV)/bin/lint-imports
	$(MAKE) --no-print-directory checks

# mypy with the Django plugin over all of src/ (mypy's defaults; clinical/ strictly above),
# and what is still unchecked: tests/test_type_debt.py keeps both numbers from rising.
types: install
	$(VENV)/bin/mypy src
	@echo "type: ignore comments in src: $$(grep -rho '# type: ignore' src --include='*.py' | wc -l)"

# What a deployment would refuse: a model change without its migration, and settings that
# are unsafe in production (run with production settings: DEBUG off, a real-length key).
checks: install
	$(PY) -m ketaclinic makemigrations --check --dry-run
	KETACLINIC_DEBUG= KETACLINIC_SECRET_KEY=checks-only-$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
		KETACLINIC_BASE_URL=https://clinic.example $(PY) -m ketaclinic check --deploy --fail-level ERROR

# After an intended API change: rewrite tests/snapshots/openapi.json (commit the diff).
openapi-snapshot: install
	KETACLINIC_UPDATE_SNAPSHOT=1 $(PY) -m pytest -q -n 0 tests/test_openapi_snapshot.py

bench: install
	@command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null 2>&1 || echo "bench/load.py needs wrk (apt-get install wrk)"
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf var/static
