# The two commands: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export FLASK_APP := app

.PHONY: run test install translations messages browser fmt lint bench-deps clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 2; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) translations

translations: $(STAMP)
	$(VENV)/bin/pybabel compile -d commsapp/translations

run: install
	$(PY) -m commsapp.devserver

# Debian's chromium for the browser tests; playwright's own browser download cannot work offline.
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Browser tests need Debian's chromium: sudo apt-get install chromium"; fi; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: install browser lint
	$(VENV)/bin/pytest -q

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Postfix's smtp-sink for bench/send_throughput.py and wrk for bench/inbox.py --load (not needed by the tests).
bench-deps:
	@command -v smtp-sink >/dev/null || ls /usr/sbin/smtp-sink >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null; }
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# After changing UI strings: refresh the catalogues, translate the new entries, then `make translations`.
messages: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -o commsapp/translations/messages.pot --no-location --sort-output .
	$(VENV)/bin/pybabel update -i commsapp/translations/messages.pot -d commsapp/translations --no-fuzzy-matching
