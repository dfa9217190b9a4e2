# The two commands: `make demo` runs the whole chain on the bundled sample data; `make test` runs the suite.
# Both create .venv and install the project on first use (torch: the CPU build unless a GPU is present).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test setup clean bench

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup_env.sh
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/setup_env.sh
	touch $(STAMP)

demo: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH bash scripts/demo.sh

test: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest tests -q -n 2 --dist loadfile $(PYTEST_ARGS)

bench: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH bash -c 'for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done'

clean:
	rm -rf $(VENV) demo-out .pytest_cache
