"""Put a trained run and its reranker into the package as a bundled model (`make model`).

Usage: python tools/bundle_model.py RUN RERANKER DEV --name wtq --out mapo_cli/models/wtq
           [--command "make model"] [--seconds WALL]

Writes the run's best weights as float16 when that loses no dev question
against float32 (both decoded here with beam 5 by `mapo decode`, over all of
DEV), else as float32; the sidecar, the reranker, the run's config.toml (paths
made relative to the working directory) and metrics.jsonl; `model.json`
(what `mapo models` lists) and MODEL_CARD.md with the figures measured here.
Every figure is printed as it is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import tomli_w

from mapo_cli.core.atomic import write_text
from mapo_cli.learn.checkpoint import load_checkpoint, save_checkpoint
from mapo_cli.learn.run_dir import resolve_checkpoint

CARD = Path(__file__).with_name("model_card.md")  # the card's text, with {fields}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("reranker", type=Path)
    parser.add_argument("dev", type=Path)
    parser.add_argument("--name", default="wtq")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--command", default="make model")
    parser.add_argument("--seconds", type=float, default=None,
                        help="Wall time of the recipe so far, for the card.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        staging = Path(folder) / args.name
        staging.mkdir()
        float32 = _decode([args.run], args.dev, "--reranker", str(args.reranker))
        float32_beam = _decode([args.run], args.dev)
        _write_weights(args.run, staging, half=True)
        _reranker_by_name(args.reranker, staging / "reranker.json", args.name)
        float16 = _decode([staging], args.dev)  # its own reranker.json, as shipped
        float16_beam = _decode([staging], args.dev, "--beam-order")
        half = (float16["correct"] >= float32["correct"]
                and float16_beam["correct"] >= float32_beam["correct"])
        if not half:
            print("float16 loses dev questions: the weights stay float32", flush=True)
            _write_weights(args.run, staging, half=False)
            float16, float16_beam = float32, float32_beam
        _relative_config(args.run / "config.toml", staging / "config.toml")
        shutil.copyfile(args.run / "metrics.jsonl", staging / "metrics.jsonl")
        extra = load_checkpoint(staging / "best.pt").extra
        info = {
            "trained_on": "WikiTableQuestions 1.0.2, random-split-1-train",
            "license": "CC BY-SA 4.0 (the training data's)",
            "weights": "float16" if half else "float32",
            "dev_questions": float16["total"],
            "dev_accuracy": float16_beam["accuracy"],
            "dev_accuracy_reranked": float16["accuracy"],
            "dev_accuracy_float32": float32_beam["accuracy"],
            "dev_accuracy_reranked_float32": float32["accuracy"],
            "step": extra.get("step"),
            "command": args.command,
        }
        write_text(staging / "model.json", json.dumps(info, indent=1, sort_keys=True) + "\n")
        size = sum(f.stat().st_size for f in staging.iterdir())
        fields = {**info, "name": args.name, "size_mb": size / 1e6,
                  "seconds": f"{args.seconds / 60:.0f} minutes" if args.seconds else "unknown",
                  **{k: f"{100 * info[k]:.2f} %" for k in info if k.startswith("dev_accuracy")},
                  "correct": float16_beam["correct"], "correct_reranked": float16["correct"]}
        write_text(staging / "MODEL_CARD.md", CARD.read_text(encoding="utf-8").format(**fields))
        size = sum(f.stat().st_size for f in staging.iterdir())
        if args.out.exists():
            shutil.rmtree(args.out)
        shutil.copytree(staging, args.out)
    print(json.dumps({**info, "size_bytes": size, "out": str(args.out)}, indent=1), flush=True)


def _decode(runs: list[Path], data: Path, *options: str) -> dict:
    """`mapo decode RUN... DATA --beam 5 --json`, as a user runs it; printed."""
    mapo = str(Path(sys.executable).with_name("mapo"))
    command = [mapo, "decode", *map(str, runs), str(data), "--beam", "5", "--json", *options]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    summary = json.loads(result.stdout)
    print(f"{' '.join(command[1:])}: {100 * summary['accuracy']:.2f} % "
          f"({summary['correct']} of {summary['total']})", flush=True)
    return summary


def _write_weights(run: Path, out: Path, half: bool) -> None:
    checkpoint = load_checkpoint(resolve_checkpoint(run))
    model = checkpoint.model.half() if half else checkpoint.model
    save_checkpoint(out / "best.pt", model, checkpoint.vocabulary, checkpoint.grammar,
                    checkpoint.extra)


def _relative_config(source: Path, target: Path) -> None:
    """The run's settings, with no path of this machine: a path inside the working
    directory (the repository, where `make model` runs) relative to it, another one
    its file name."""
    settings = tomllib.loads(source.read_text(encoding="utf-8"))
    for key, value in settings.items():
        if isinstance(value, str) and os.path.isabs(value):
            inside = Path(value).is_relative_to(Path.cwd())
            settings[key] = str(Path(value).relative_to(Path.cwd())) if inside \
                else Path(value).name
    write_text(target, tomli_w.dumps(settings))


def _reranker_by_name(source: Path, target: Path, name: str) -> None:
    """The reranker, naming its member by the bundled model and its data by file name, not
    by this machine's paths (its features keep their order: the loader checks it)."""
    content = json.loads(source.read_text(encoding="utf-8"))
    content["members"] = [f"{name}/best.pt"]
    content["fit"]["data"] = Path(content["fit"]["data"]).name
    write_text(target, json.dumps(content, indent=1) + "\n")


if __name__ == "__main__":
    main()
