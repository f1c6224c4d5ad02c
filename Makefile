# Fenxiao: `make run` sets everything up and serves the demo shop; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PO := $(wildcard app/translations/*/LC_MESSAGES/messages.po)
MO := $(PO:.po=.mo)
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install run test lint bench bench-http bench-lighthouse css translations extract-messages clean

install: $(STAMP) $(MO)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Fenxiao needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

%.mo: %.po $(STAMP)
	$(BIN)/pybabel -q compile -i $< -o $@

translations: $(MO)

# Development only (needs Node.js and the npm registry): rebuild the shop's WeUI subset after a template
# starts using a WeUI class it did not use before. The output is committed; `make run` never needs Node.
css:
	cd frontend && npm ci --silent && node build-css.mjs

# Collect new msgids from the code and templates into the catalogs (then translate them in the .po).
extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k ngettext:1,2 -o app/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --ignore-obsolete --no-wrap

run: install
	FENXIAO_ENV=development $(FLASK) db upgrade
	FENXIAO_ENV=development $(FLASK) seed-demo --if-empty --url http://$(HOST):$(PORT)/
	FENXIAO_ENV=development $(FLASK) run --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# In-process benchmarks and the 秒杀 rush over HTTP; one alone: make bench BENCH_ARGS=flash (see --list).
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

# Shop pages over HTTP under gunicorn (production settings) beside a bare Flask hello world; needs wrk.
# Then Lighthouse, when Node.js is there (with its own defaults: BENCH_ARGS are bench.over_http's).
bench-http: install
	$(BIN)/python -m bench.over_http $(BENCH_ARGS); status=$$?; \
	if command -v node >/dev/null; then $(BIN)/python -m bench.lighthouse || status=1; \
	else echo "Lighthouse not run: it needs Node.js and npm (then: make bench-lighthouse)"; fi; exit $$status

# Lighthouse mobile scores of the demo shop's home, product and cart; needs Node.js (Lighthouse from npm).
bench-lighthouse: install
	$(BIN)/python -m bench.lighthouse $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(MO)
