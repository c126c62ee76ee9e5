"""What fine-tuning the pretrained encoder's top layer would cost a training step.

Usage: python benchmarks/finetune_cost.py DATA.jsonl [--batch 25] [--repeats 20]

The frozen encoder runs once per example (its outputs are cached); a
fine-tuned top layer would run in every step instead: forward and backward in
the learner for its batch of questions, forward in every actor for its batch.
This times exactly that on real examples, with one torch thread as the
training processes use: the top layer's input (the output of the layer below,
which would be cached) is computed once, then the top layer alone is timed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import torch

from mapo_cli.data.dataset import load_dataset
from mapo_cli.learn.contextual import MAX_PIECES, PretrainedEncoder, encoder_input


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    examples, tables = load_dataset(args.data)
    encoder = PretrainedEncoder(args.encoder)
    model, top = encoder.model, encoder.model.encoder.layer[-1]
    rng = random.Random(0)
    forward, both, pieces = [], [], []
    for _ in range(args.repeats):
        inputs = [encoder_input(e, tables[e["table"]]) for e in rng.sample(examples, args.batch)]
        batch = encoder.tokenizer(
            [list(i.question) or ["?"] for i in inputs],
            [[w for c in i.columns for w in (c.split() or ["-"]) + ["[SEP]"]] for i in inputs],
            is_split_into_words=True, truncation="only_second", max_length=MAX_PIECES,
            padding=True, return_tensors="pt")
        pieces.append(int(batch["attention_mask"].sum()) / args.batch)
        with torch.no_grad():
            below = model(**batch, output_hidden_states=True).hidden_states[-2]
        mask = model._create_attention_masks(  # as BertModel.forward builds it
            attention_mask=batch["attention_mask"], encoder_attention_mask=None,
            embedding_output=below, encoder_hidden_states=None, cache=None)
        mask = mask[0] if isinstance(mask, tuple) else mask
        start = time.perf_counter()
        with torch.no_grad():
            top(below, attention_mask=mask)
        forward.append(time.perf_counter() - start)
        tuned = below.clone().requires_grad_(False)
        start = time.perf_counter()
        out = top(tuned, attention_mask=mask)
        (out[0] if isinstance(out, tuple) else out).float().pow(2).mean().backward()
        both.append(time.perf_counter() - start)
        top.zero_grad()
    print(f"{args.batch} questions a batch, {statistics.mean(pieces):.0f} pieces a question "
          f"(question, headers and matching cells), one thread, {args.repeats} batches:")
    print(f"  top layer forward (every actor batch):           "
          f"{statistics.median(forward):.3f} s a batch")
    print(f"  top layer forward + backward (every learner step): "
          f"{statistics.median(both):.3f} s a step")


if __name__ == "__main__":
    main()
