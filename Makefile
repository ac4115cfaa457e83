# Two commands on a fresh machine with Python 3.11+:  make demo  and  make test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   := sample_data
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test
LEDGER := $(VENV)/demo-ledger.sqlite
LETTERS := $(VENV)/demo-letters
WEEK47  := $(DEMO)/primary_arbor_2026-27_week-47.csv
LETTER_OPTS = --policy primary-academy --school $(DEMO)/primary_school.toml --contacts $(DEMO)/primary_contacts.csv \
	--db $(LEDGER) --out $(LETTERS)
PRIMARY = $(wildcard $(DEMO)/primary_arbor_2025-26_*.csv) $(DEMO)/primary_arbor_2026-27_autumn_grid.csv

.PHONY: demo test bench install clean sample help-check docs docs-check wheel

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# the distribution was called attendance before it was attendance-cli: an old .venv's copy goes first
	-@$(BIN)/python -m pip uninstall --quiet --yes attendance 2>/dev/null
	$(BIN)/python -m pip install --quiet -e .
	@# byte-compile the package once, as a normal install does (start-up is measured)
	$(BIN)/python -m compileall -q attendance_cli
	@touch $@

$(TSTAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,dask]'
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
	@# the weekly triggers and letters: last week's letters written and recorded in a fresh ledger,
	@# then this week's new events, and this week's letters (each family written to once)
	rm -rf $(LEDGER) $(LEDGER).lock $(LETTERS)
	$(BIN)/attendance letters $(PRIMARY) $(LETTER_OPTS) --as-of 13/11/2026 --date 16/11/2026 -q > /dev/null
	$(BIN)/attendance triggers $(PRIMARY) $(WEEK47) --policy primary-academy --new --db $(LEDGER) --format table
	$(BIN)/attendance letters $(PRIMARY) $(WEEK47) $(LETTER_OPTS) --date 23/11/2026
	@echo "Letters: $(LETTERS)/ (one PDF or e-mail per guardian, print-2026-11-20.pdf to print, manifest-2026-11-20.csv)"
	@# this week's leave and absence requests, each with its route from the policy and a flag for review
	$(BIN)/attendance requests $(DEMO)/primary_requests.csv --policy primary-academy --exports $(DEMO)/primary_arbor_2026-27_autumn_grid.csv \
		--exports $(WEEK47) --as-of 04/12/2026 --format table
	@# the half-termly pack: the report for leaders and governors, and a slip for every family
	$(BIN)/attendance report $(PRIMARY) $(WEEK47) --school $(DEMO)/primary_school.toml --policy primary-academy \
		--db $(LEDGER) --out $(VENV)/demo-report.html -q
	$(BIN)/attendance slips $(PRIMARY) $(WEEK47) --policy primary-academy --school $(DEMO)/primary_school.toml \
		--out $(VENV)/demo-slips.pdf --date 23/11/2026 -q
	@echo "Report: $(VENV)/demo-report.html   Slips: $(VENV)/demo-slips.pdf"

test: $(TSTAMP)
	$(BIN)/python -m pytest
	@# the reading tests again with every file streamed, as a large export is (the plans differ)
	ATTENDANCE_STREAMING_BYTES=0 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_ingest.py tests/test_sims.py \
		tests/test_row_order.py tests/test_statistics.py tests/test_rules.py tests/test_jobs.py tests/test_reports.py
	@# the rules' tests with the marks taken a pupil at a time, as a trust's year is taken in batches
	ATTENDANCE_RULE_BATCH=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_rules.py tests/test_report_fixes.py

bench: $(TSTAMP)
	$(BIN)/python -m compileall -q attendance_cli
	$(BIN)/python bench/bench.py

# the wheel to install the tool with: pipx install dist/attendance_cli-*.whl
wheel: $(STAMP)
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .

sample: $(STAMP)
	$(BIN)/attendance sample --out $(DEMO)

# docs/cli.md, the CLI reference: the --help of every command, generated from the commands
# (written whole: a failed run leaves the old file); docs-check fails if it is out of date
docs: $(STAMP)
	@mkdir -p docs
	$(BIN)/python -m attendance_cli.cli.reference > docs/cli.md.tmp && mv docs/cli.md.tmp docs/cli.md

docs-check: $(STAMP)
	$(BIN)/python -m attendance_cli.cli.reference --check

clean:
	rm -rf $(VENV) .pytest_cache bench/data
