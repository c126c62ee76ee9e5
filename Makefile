# Set-up and the main jobs. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
WTQ    ?= ../shared/datasets/wtq
OUT    ?= out
# The pretrained encoder's cache (`mapo train --encoder`) stays beside the other outputs.
export MAPO_CACHE ?= $(abspath $(OUT))/cache

.PHONY: install demo test browser lint bench bench-explore bench-train bench-seeds bench-rerank bench-table2 bench-t30 \
	bench-encode bench-ask bench-wikisql bench-ray bench-hostile bench-serve bench-speed model \
	clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The whole pipeline on the bundled demo dataset, in a few minutes: explore the
## training split, train MAPO and (for comparison) memory-free REINFORCE for the
## same time, decode the dev split with beam search, and inspect the results.
DEMO     := $(OUT)/demo
DEMO_SEC ?= 90
demo: install
	rm -rf $(DEMO)
	$(BIN)/mapo prepare wtq datasets/demo $(DEMO)/data
	$(BIN)/mapo explore $(DEMO)/data/random-split-1-train.jsonl --store $(DEMO)/store \
		--samples-per-example 2000
	$(BIN)/mapo inspect store $(DEMO)/store
	$(BIN)/mapo train --train $(DEMO)/data/random-split-1-train.jsonl \
		--dev $(DEMO)/data/random-split-1-dev.jsonl --store $(DEMO)/store --run $(DEMO)/mapo \
		--seconds $(DEMO_SEC) --steps 100000 --eval-every 25
	$(BIN)/mapo train --train $(DEMO)/data/random-split-1-train.jsonl \
		--dev $(DEMO)/data/random-split-1-dev.jsonl --store $(DEMO)/store --run $(DEMO)/reinforce \
		--objective reinforce --read-only-store --seconds $(DEMO_SEC) --steps 100000 --eval-every 25
	$(BIN)/mapo decode $(DEMO)/mapo $(DEMO)/data/random-split-1-dev.jsonl --out $(DEMO)/mapo-dev.tsv
	$(BIN)/mapo decode $(DEMO)/reinforce $(DEMO)/data/random-split-1-dev.jsonl \
		--out $(DEMO)/reinforce-dev.tsv
	$(BIN)/mapo score $(DEMO)/mapo-dev.tsv $(DEMO)/data/random-split-1-dev.jsonl
	$(BIN)/mapo inspect run $(DEMO)/mapo $(DEMO)/reinforce --plot $(DEMO)/curves.png
	$(BIN)/mapo inspect spurious $(DEMO)/store --run $(DEMO)/mapo

test: install browser
	$(BIN)/pytest

## A browser for tests/test_serve_browser.py: Debian's chromium and chromium-driver,
## installed with apt-get when they are missing and this runs as root; elsewhere the
## test skips and says why.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; } || \
	echo "no chromium installed here: tests/test_serve_browser.py will skip"

lint: install
	$(BIN)/ruff check mapo_cli tests datasets benchmarks
	$(BIN)/lint-imports

bench: bench-explore bench-train

## The Ray backend against local processes on this machine: explore 3,000 WTQ
## questions and train for 240 s with each (see BENCHMARKS.md, "The Ray backend").
bench-ray: install
	$(BIN)/mapo prepare wtq $(WTQ) $(OUT)/wtq
	$(BIN)/python benchmarks/ray_backend.py $(OUT)/wtq/random-split-1-train.jsonl \
		$(OUT)/wtq/random-split-1-dev.jsonl $(OUT)/ray-bench --examples 3000 --samples 1000 \
		--train-seconds 240

## Hostile inputs and faults over every command (see BENCHMARKS.md, "Hostile inputs"): a
## report of clear errors, rightly accepted inputs, signals handled and failures.
bench-hostile: install
	$(BIN)/python benchmarks/hostile_inputs.py $(OUT)/hostile --json

## Exploration of all WikiTableQuestions training examples (see BENCHMARKS.md): an
## example its trigger words leave uncovered is explored again with every function.
EXPLORE_ARGS ?= --relax-triggers
bench-explore: install
	$(BIN)/mapo prepare wtq $(WTQ) $(OUT)/wtq
	$(BIN)/mapo explore $(OUT)/wtq/training.jsonl --store $(OUT)/wtq-store \
		--samples-per-example 10000 $(EXPLORE_ARGS)
	$(BIN)/mapo inspect store $(OUT)/wtq-store

## The WTQ recipe, declared once (BENCHMARKS.md, "WTQ accuracy"): fixed GloVe vectors,
## trainable embeddings for words seen 10 times, dropout 0.3, dev accuracy and the best
## checkpoint of a moving average of the weights; the frozen MiniLM encoder, used-token
## keys and plural matching; 6,400 learner steps. Two actors beside the learner. `make
## model` trains it; bench-train, bench-seeds and bench-rerank run it unless ENCODER,
## TRAIN_ARGS or STEPS say otherwise (ENCODER=lstm TRAIN_ARGS= STEPS=25000: the LSTM
## setting of the earlier sections); bench-speed times it against the LSTM setting.
WTQ_SETTING    := --embeddings glove-6b-50d --freeze-embeddings --min-count 10 --dropout 0.3 \
	--average-decay 0.999
RECIPE_ENCODER := minilm
RECIPE_ARGS    := --used-tokens --match-plurals
RECIPE_STEPS   := 6400
ENCODER    ?= $(RECIPE_ENCODER)
TRAIN_ARGS ?= $(RECIPE_ARGS)

## MAPO on WTQ random-split-1 from the explored store, in parts: each call trains
## for TRAIN_SEC seconds and the next one resumes, at learning rate LR if given;
## the recipe, seed 1, into wtq-bench-train-ENCODER (wtq-bench-train for the LSTM).
TRAIN_SEC ?= 2100
TRAIN_RUN := $(OUT)/wtq-bench-train$(if $(filter-out lstm,$(ENCODER)),-$(ENCODER))
bench-train: install
	$(BIN)/mapo train --train $(OUT)/wtq/random-split-1-train.jsonl \
		--dev $(OUT)/wtq/random-split-1-dev.jsonl --store $(OUT)/wtq-store --run $(TRAIN_RUN) \
		$(WTQ_SETTING) --seed 1 --encoder $(ENCODER) $(TRAIN_ARGS) \
		--steps 25000 --seconds $(TRAIN_SEC) --eval-every 500 --actors 2 \
		$(if $(LR),--learning-rate $(LR)) $$(test -f $(TRAIN_RUN)/config.toml && echo --resume)
	$(BIN)/mapo decode $(TRAIN_RUN) $(OUT)/wtq/random-split-1-dev.jsonl --beam 5 --json
	$(BIN)/mapo inspect run $(TRAIN_RUN) --plot $(TRAIN_RUN)/curves.png

## Results over seeds, as the paper reports them: the recipe for each seed in SEEDS,
## all from the same memory (a copy of the explored store, never written); then the
## mean ± sd of beam-5 dev accuracy, and the ensemble of all the seeds' runs. Each run
## stops after STEPS learner steps, or TRAIN_SEC seconds if that comes first (give
## TRAIN_SEC=10000 on a busy machine, so that the steps decide). ENCODER and TRAIN_ARGS
## (options of `mapo train`) change the setting: name its runs' directory with SEEDS_DIR
## then, so that they do not resume another setting's.
SEEDS ?= 1 2 3
STEPS ?= $(RECIPE_STEPS)
SEEDS_DIR ?= $(OUT)/wtq-seeds$(if $(filter-out lstm,$(ENCODER)),-$(ENCODER))
SEEDS_RUNS = $(foreach s,$(SEEDS),$(SEEDS_DIR)/seed-$(s))
bench-seeds: install
	test -d $(OUT)/wtq-store-seeds || cp -a $(OUT)/wtq-store $(OUT)/wtq-store-seeds
	for seed in $(SEEDS); do \
		$(BIN)/mapo train --train $(OUT)/wtq/random-split-1-train.jsonl \
			--dev $(OUT)/wtq/random-split-1-dev.jsonl --store $(OUT)/wtq-store-seeds \
			--read-only-store --run $(SEEDS_DIR)/seed-$$seed \
			$(WTQ_SETTING) --seed $$seed --encoder $(ENCODER) \
			--steps $(STEPS) --seconds $(TRAIN_SEC) --eval-every 500 --actors 2 $(TRAIN_ARGS) \
			$$(test -f $(SEEDS_DIR)/seed-$$seed/config.toml && echo --resume) || exit 1; \
		$(BIN)/mapo decode $(SEEDS_DIR)/seed-$$seed $(OUT)/wtq/random-split-1-dev.jsonl \
			--beam 5 --json > $(SEEDS_DIR)/seed-$$seed/decode-dev.json || exit 1; \
	done
	$(BIN)/python benchmarks/seeds_summary.py $(foreach s,$(SEEDS),$(SEEDS_DIR)/seed-$(s)/decode-dev.json)
	$(BIN)/mapo decode $(SEEDS_RUNS) $(OUT)/wtq/random-split-1-dev.jsonl --beam 5 --json
	$(BIN)/mapo inspect run $(SEEDS_DIR)/*/ --plot $(SEEDS_DIR)/curves.png

## The seeds' ensemble (SEEDS, SEEDS_DIR as for bench-seeds) ranked by a reranker that
## `mapo rerank` fits on the runs' pools for their training questions (no dev answer
## is seen), written to SEEDS_DIR/reranker.json; bench-seeds prints the same ensemble
## ranked by the mean probability.
bench-rerank: install
	$(BIN)/mapo rerank $(SEEDS_RUNS) $(OUT)/wtq/random-split-1-train.jsonl \
		--out $(SEEDS_DIR)/reranker.json
	$(BIN)/mapo decode $(SEEDS_RUNS) $(OUT)/wtq/random-split-1-dev.jsonl --beam 5 --json \
		--reranker $(SEEDS_DIR)/reranker.json

## Table 2 of the paper at one fixed budget: every objective for TABLE2_SEC seconds
## from the same starting memory (a copy of the explored store, never written);
## and MAPO with word embeddings started from GloVe.
TABLE2_SEC ?= 600
TABLE2     := $(OUT)/wtq-table2
TABLE2_RUN  = $(BIN)/mapo train --train $(OUT)/wtq/random-split-1-train.jsonl \
	--dev $(OUT)/wtq/random-split-1-dev.jsonl --store $(OUT)/wtq-store-table2 --read-only-store \
	--steps 100000 --seconds $(TABLE2_SEC) --eval-every 500 --actors 2 --overwrite --json
TABLE2_DECODE = $(BIN)/mapo decode $(TABLE2)/$$run $(OUT)/wtq/random-split-1-dev.jsonl --beam 5 --json
bench-table2: install
	test -d $(OUT)/wtq-store-table2 || cp -a $(OUT)/wtq-store $(OUT)/wtq-store-table2
	run=mapo-glove; $(TABLE2_RUN) --run $(TABLE2)/$$run --embeddings glove-6b-50d && $(TABLE2_DECODE)
	for run in mapo mml hard-em iml reinforce; do \
		$(TABLE2_RUN) --run $(TABLE2)/$$run --objective $$run && $(TABLE2_DECODE) || exit 1; \
	done
	$(BIN)/mapo inspect run $(TABLE2)/*/ --plot $(TABLE2)/curves.png

## The pretrained encoder's one-time cost: all of WTQ random-split-1 (train and
## dev, 14,152 questions) into an empty cache.
bench-encode: install
	rm -rf $(OUT)/cache-bench
	MAPO_CACHE=$(abspath $(OUT))/cache-bench $(BIN)/python benchmarks/encode_cost.py \
		$(OUT)/wtq/random-split-1-train.jsonl $(OUT)/wtq/random-split-1-dev.jsonl

## `mapo ask` latency with the bundled model (or ASK_RUN): one question from process start,
## and per further question on stdin, on a 50-row table (with the encoder's cache warm, and
## empty), and on a 10,000-row, 30-column one.
ASK_RUN ?=
bench-ask: install
	$(BIN)/python benchmarks/ask_latency.py $(ASK_RUN)
	$(BIN)/python benchmarks/ask_latency.py $(ASK_RUN) --empty-cache
	$(BIN)/python benchmarks/ask_latency.py $(ASK_RUN) --rows 10000 --columns 30 --empty-cache

## Training throughput (issue 39): `mapo train` for SPEED_SEC seconds from the explored
## store (read only), with the LSTM setting (the recipe's settings but the LSTM encoder and
## no TRAIN_ARGS) and with the recipe, into throwaway runs speed-lstm and speed-recipe;
## each prints its summary: samples_per_second, steps_per_second. Run it on a quiet
## machine; the original code's 31 samples/s here is the yardstick (BENCHMARKS.md).
SPEED_SEC ?= 300
bench-speed: install
	for setting in "lstm --encoder lstm" "recipe --encoder $(RECIPE_ENCODER) $(RECIPE_ARGS)"; do \
		set -- $$setting; run=$(OUT)/speed-$$1; shift; \
		rm -rf $$run; \
		echo "$$run:"; \
		$(BIN)/mapo train --train $(OUT)/wtq/random-split-1-train.jsonl \
			--dev $(OUT)/wtq/random-split-1-dev.jsonl --store $(OUT)/wtq-store \
			--read-only-store --run $$run $(WTQ_SETTING) --seed 1 $$@ \
			--steps 100000 --seconds $(SPEED_SEC) --eval-every 500 --actors 2 --json \
			|| exit 1; \
	done

## Time to accuracy (issue 39): from prepared data (out/wtq), explore with T30_SAMPLES
## samples a question, fill an empty encoder cache and train the recipe (seed 1) for what
## is left of T30_SEC seconds (T30_FILL of them kept for the cache fill and the decode),
## then decode dev with beam 5; it prints the time of each part. Quiet machine only.
T30_SAMPLES ?= 1000
T30_SEC ?= 1800
T30_FILL ?= 390
bench-t30: install
	rm -rf $(OUT)/t30-store $(OUT)/t30 $(OUT)/cache-t30
	start=$$(date +%s); \
	$(BIN)/mapo explore $(OUT)/wtq/training.jsonl --store $(OUT)/t30-store \
		--samples-per-example $(T30_SAMPLES) $(EXPLORE_ARGS) || exit 1; \
	explored=$$(date +%s); \
	MAPO_CACHE=$(abspath $(OUT))/cache-t30 $(BIN)/mapo train \
		--train $(OUT)/wtq/random-split-1-train.jsonl --dev $(OUT)/wtq/random-split-1-dev.jsonl \
		--store $(OUT)/t30-store --read-only-store --run $(OUT)/t30 $(WTQ_SETTING) --seed 1 \
		--encoder $(RECIPE_ENCODER) $(RECIPE_ARGS) --steps $(RECIPE_STEPS) --eval-every 250 \
		--seconds $$(( $(T30_SEC) - explored + start - $(T30_FILL) )) --actors 2 || exit 1; \
	trained=$$(date +%s); \
	MAPO_CACHE=$(abspath $(OUT))/cache-t30 $(BIN)/mapo decode $(OUT)/t30 \
		$(OUT)/wtq/random-split-1-dev.jsonl --beam 5 --json || exit 1; \
	done=$$(date +%s); \
	echo "explore $$((explored - start)) s, cache fill and training $$((trained - explored)) s," \
		"decode $$((done - trained)) s: $$((done - start)) s in all"

## `mapo serve` under load (BENCHMARKS.md, "mapo serve"): 200 requests, 8 at a time, on
## bench-ask's 50-row table, with the bundled model.
bench-serve: install
	$(BIN)/python benchmarks/serve_load.py --requests 200 --concurrency 8

## WikiSQL end to end on the shared sample of the real data (772 train / 228 dev
## questions, split by table): prepare, explore both splits (1,000 samples per
## question, as the paper), train with the paper's WikiSQL setting
## (benchmarks/wikisql.toml) plus what this small sample called for (the
## MiniLM encoder, fixed GloVe vectors, --used-tokens, --match-plurals,
## dropout 0.3, a moving average of the weights (decay 0.98), 200 steps or
## WIKISQL_SEC seconds), decode dev with beam 5 and check the decoded top
## programs against the gold sql (BENCHMARKS.md, "WikiSQL").
WIKISQL     ?= ../shared/datasets/wikisql
WIKISQL_SEC ?= 2400
bench-wikisql: install
	$(BIN)/mapo prepare wikisql $(WIKISQL) $(OUT)/wikisql
	$(BIN)/mapo explore $(OUT)/wikisql/train.jsonl --store $(OUT)/wikisql-store \
		--samples-per-example 1000
	$(BIN)/mapo explore $(OUT)/wikisql/dev.jsonl --store $(OUT)/wikisql-dev-store \
		--samples-per-example 1000
	$(BIN)/mapo inspect store $(OUT)/wikisql-store
	$(BIN)/mapo inspect store $(OUT)/wikisql-dev-store
	$(BIN)/mapo train --config benchmarks/wikisql.toml --train $(OUT)/wikisql/train.jsonl \
		--dev $(OUT)/wikisql/dev.jsonl --store $(OUT)/wikisql-store --run $(OUT)/wikisql-run \
		--encoder minilm --embeddings glove-6b-50d --freeze-embeddings --used-tokens \
		--match-plurals --dropout 0.3 --average-decay 0.98 --eval-every 10 --steps 200 \
		--seconds $(WIKISQL_SEC) --overwrite
	$(BIN)/mapo decode $(OUT)/wikisql-run $(OUT)/wikisql/dev.jsonl --beam 5 --json \
		--programs $(OUT)/wikisql-run/dev-beams.jsonl
	$(BIN)/mapo inspect decoded $(OUT)/wikisql-run/dev-beams.jsonl $(OUT)/wikisql/dev.jsonl
	$(BIN)/mapo inspect spurious $(OUT)/wikisql-store --run $(OUT)/wikisql-run

## The bundled model (mapo_cli/models/wtq, `mapo models`), end to end on the shared WTQ
## release: prepare, explore (resumed if out/wtq-store is there), train the recipe (seed 1;
## resumed if stopped), fit its reranker on the training questions, and bundle it
## (tools/bundle_model.py: decodes dev with and without the reranker, float16 and float32,
## and writes the weights as float16 only if that loses no dev question).
MODEL_RUN := $(OUT)/model-wtq
model: install
	start=$$(date +%s); \
	$(BIN)/mapo prepare wtq $(WTQ) $(OUT)/wtq && \
	$(BIN)/mapo explore $(OUT)/wtq/training.jsonl --store $(OUT)/wtq-store \
		--samples-per-example 10000 --relax-triggers && \
	$(BIN)/mapo train --train $(OUT)/wtq/random-split-1-train.jsonl \
		--dev $(OUT)/wtq/random-split-1-dev.jsonl --store $(OUT)/wtq-store --read-only-store \
		--run $(MODEL_RUN) $(WTQ_SETTING) --seed 1 --encoder $(RECIPE_ENCODER) $(RECIPE_ARGS) \
		--steps $(RECIPE_STEPS) --seconds 10000 --eval-every 500 --actors 2 \
		$$(test -f $(MODEL_RUN)/config.toml && echo --resume) && \
	$(BIN)/mapo rerank $(MODEL_RUN) $(OUT)/wtq/random-split-1-train.jsonl \
		--out $(OUT)/model-wtq-reranker.json && \
	$(BIN)/python tools/bundle_model.py $(MODEL_RUN) $(OUT)/model-wtq-reranker.json \
		$(OUT)/wtq/random-split-1-dev.jsonl --name wtq --out mapo_cli/models/wtq \
		--command "make model" --seconds $$(( $$(date +%s) - start ))

clean:
	rm -rf $(OUT) .pytest_cache
