# Two commands on a fresh machine with Python 3.11+:  make demo  and  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   := sample_data
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test
LEDGER := $(VENV)/demo-ledger.sqlite
PRIMARY = $(wildcard $(DEMO)/primary_arbor_2025-26_*.csv) $(DEMO)/primary_arbor_2026-27_autumn_grid.csv

.PHONY: demo test bench install clean sample help-check

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@# byte-compile the package once, as a normal install does (start-up is measured)
	$(BIN)/python -m compileall -q attendance_cli
	@touch $@

$(TSTAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

install: $(STAMP)

# The weekly job on the sample primary school: check the exports, last week's figures per form,
# the school year to date per year group, then the week's new trigger events.
demo: $(STAMP)
	$(BIN)/attendance ingest $(DEMO)/primary_arbor_2026-27_autumn_grid.csv $(DEMO)/primary_arbor_2026-27_week-47.csv
	$(BIN)/attendance summary $(DEMO)/primary_arbor_2026-27_autumn_grid.csv $(DEMO)/primary_arbor_2026-27_week-47.csv \
		--window last-week --by form --format table
	$(BIN)/attendance summary $(DEMO)/primary_arbor_2025-26_*.csv $(DEMO)/primary_arbor_2026-27_autumn_grid.csv \
		--window ytd --by year_group --format table
	@# the weekly triggers: last week's run recorded in a fresh ledger, then this week's new events only
	rm -f $(LEDGER)
	$(BIN)/attendance triggers $(PRIMARY) --policy primary-academy --as-of 13/11/2026 --record --db $(LEDGER) -q > /dev/null
	$(BIN)/attendance triggers $(PRIMARY) $(DEMO)/primary_arbor_2026-27_week-47.csv --policy primary-academy \
		--new --db $(LEDGER) --format table

test: $(TSTAMP)
	$(BIN)/python -m pytest

bench: $(TSTAMP)
	$(BIN)/python -m compileall -q attendance_cli
	$(BIN)/python bench/bench.py

sample: $(STAMP)
	$(BIN)/attendance sample --out $(DEMO)

clean:
	rm -rf $(VENV) .pytest_cache bench/data
