# Set-up and the main jobs. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
WTQ    ?= ../shared/datasets/wtq
OUT    ?= out

.PHONY: install demo test lint bench bench-explore bench-train clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The whole pipeline on the bundled demo dataset, in a few minutes.
demo: install
	rm -rf $(OUT)/demo
	$(BIN)/mapo prepare wtq datasets/demo $(OUT)/demo/data
	$(BIN)/mapo explore $(OUT)/demo/data/training.jsonl --store $(OUT)/demo/store \
		--samples-per-example 2000
	$(BIN)/mapo inspect store $(OUT)/demo/store

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check mapo_cli tests datasets

bench: bench-explore bench-train

## Exploration of all WikiTableQuestions training examples (see BENCHMARKS.md).
bench-explore: install
	$(BIN)/mapo prepare wtq $(WTQ) $(OUT)/wtq
	$(BIN)/mapo explore $(OUT)/wtq/training.jsonl --store $(OUT)/wtq-store \
		--samples-per-example 10000 $(EXPLORE_ARGS)
	$(BIN)/mapo inspect store $(OUT)/wtq-store

bench-train: install
	@echo "mapo train is not built yet (issue 4)"; exit 1

clean:
	rm -rf $(OUT) .pytest_cache
