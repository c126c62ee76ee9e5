"""Checkpoints that are safe to share: tensors only, plus a JSON sidecar that rebuilds the model.

`NAME.pt` holds the model's state_dict and loads with `weights_only=True`
(reading it never runs code). `NAME.json` beside it holds the ModelConfig,
the word vocabulary, the grammar's name and content hash and a SHA-256 of
the weights, so a checkpoint used with another grammar, or a truncated or
altered file, is a clear MapoError rather than silent nonsense.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
from collections.abc import Collection
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from mapo_cli.core.atomic import write_bytes, write_text
from mapo_cli.core.errors import MapoError
from mapo_cli.core.json_fields import field_problem, shown
from mapo_cli.language.grammar import Grammar, load_grammar
from mapo_cli.learn.features import Vocabulary
from mapo_cli.learn.model import ModelConfig, Programmer

FORMAT = "mapo-checkpoint/1"


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model (in eval mode) and what it needs to read examples."""

    model: Programmer
    vocabulary: Vocabulary
    grammar: Grammar
    extra: dict[str, Any] = field(default_factory=dict)  # what training stored (settings, step)


def sidecar_path(path: Path | str) -> Path:
    """`run/best.pt` → `run/best.json`."""
    return Path(path).with_suffix(".json")


def save_checkpoint(path: Path | str, model: Programmer, vocabulary: Vocabulary, grammar: Grammar,
                    extra: dict[str, Any] | None = None) -> None:
    """Write `path` (weights) and its sidecar atomically; `extra` must be JSON-serialisable."""
    path = Path(path)
    _atomic_torch_save(model.state_dict(), path)
    sidecar = {
        "format": FORMAT,
        "model_config": model.config.to_json(),
        "vocabulary": vocabulary.to_json(),
        "grammar": {"name": grammar.name, "source": grammar.source,
                    "content_hash": grammar.content_hash,
                    "live_programs": grammar.live_programs},
        "n_builtins": model.n_builtins,
        "weights_sha256": _sha256(path),
        "extra": extra or {},
    }
    write_text(sidecar_path(path), json.dumps(sidecar, indent=1, sort_keys=True) + "\n")


def load_checkpoint(path: Path | str, grammar: Grammar | None = None) -> Checkpoint:
    """Rebuild the model; `grammar` is the one the data uses (default: the recorded one).

    Every problem (missing or corrupted file, another grammar, a grammar file
    that changed since training) is a MapoError with a one-line message.
    """
    path = Path(path)
    meta = _read_sidecar(path)
    recorded = meta["grammar"]
    if grammar is None:
        try:
            grammar = load_grammar(recorded["source"])
        except MapoError as error:  # the grammar named in the sidecar
            raise MapoError(f"{sidecar_path(path)}: {error}") from None
    if bool(recorded.get("live_programs")) != grammar.live_programs:
        trained = "with" if recorded.get("live_programs") else "without"
        raise MapoError(
            f"{path}: trained {trained} the liveness rule, but grammar {grammar.name!r} "
            f"{'asks for' if grammar.live_programs else 'has no'} live programs: its programs "
            "are not the ones this parser writes; train again on a store explored with it")
    if grammar.content_hash != recorded["content_hash"]:
        raise MapoError(
            f"{path}: trained with grammar {recorded['name']!r} (hash {recorded['content_hash']}), "
            f"but the data uses grammar {grammar.name!r} (hash {grammar.content_hash}); "
            "decode with data prepared for the checkpoint's grammar")
    if len(grammar.builtin_tokens) != meta["n_builtins"]:
        raise MapoError(f"{path}: the grammar's built-in tokens do not match the checkpoint")
    vocabulary = Vocabulary.from_json(meta["vocabulary"], f"{sidecar_path(path)}: vocabulary")
    try:
        config = ModelConfig.from_json(meta["model_config"])
    except MapoError as error:  # its checks do not know the file
        raise MapoError(f"{sidecar_path(path)}: {error}") from None
    model = Programmer(config, len(vocabulary), meta["n_builtins"])
    state = _torch_load(path, expected_sha256=meta["weights_sha256"])
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise MapoError(f"{path}: weights do not fit the recorded model ({first})") from None
    if not all(torch.isfinite(tensor).all() for tensor in state.values()
               if torch.is_tensor(tensor) and tensor.is_floating_point()):
        raise MapoError(f"{path}: its weights are not all finite numbers (NaN or infinite): "
                        "the training diverged, or the file was damaged")
    model.eval()
    return Checkpoint(model, vocabulary, grammar, dict(meta.get("extra") or {}))


def save_training_state(path: Path | str, optimizer: torch.optim.Optimizer, step: int,
                        extra: dict[str, Any] | None = None) -> None:
    """Optimizer state, step and `extra` (tensors, numbers, strings, lists, dicts: RNG states)."""
    path = Path(path)
    _atomic_torch_save({"optimizer": optimizer.state_dict(), "step": int(step),
                        "extra": extra or {}}, path)
    write_text(path.with_suffix(".sha256"), _sha256(path) + "\n")


def load_training_state(path: Path | str,
                        optimizer: torch.optim.Optimizer) -> tuple[int, dict[str, Any]]:
    """Restore the optimizer in place; return (step, extra)."""
    path = Path(path)
    digest = path.with_suffix(".sha256")
    expected = digest.read_text().strip() if digest.is_file() else None
    state = _torch_load(path, expected_sha256=expected)
    try:
        optimizer.load_state_dict(state["optimizer"])
        step, extra = state["step"], state.get("extra") or {}
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise MapoError(f"{path}: not a training state for this model ({error})") from None
    if not (isinstance(step, int) and not isinstance(step, bool) and step >= 0):
        raise MapoError(f"{path}: not a training state (its step is {step!r})")
    if not isinstance(extra, dict):
        raise MapoError(f"{path}: not a training state (its extra is {shown(extra)})")
    return step, extra


# ---------------------------------------------------------------- files


def _read_sidecar(path: Path) -> dict[str, Any]:
    sidecar = sidecar_path(path)
    if not path.is_file():
        raise MapoError(f"{path}: no such checkpoint")
    if not sidecar.is_file():
        raise MapoError(f"{sidecar}: missing (a checkpoint needs its .json sidecar)")
    try:
        meta = json.loads(sidecar.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MapoError(f"{sidecar}: not a checkpoint sidecar ({error})") from None
    problem = field_problem(meta, SIDECAR_FIELDS, optional=("extra",))
    if problem is None and meta["format"] != FORMAT:
        raise MapoError(f"{sidecar}: checkpoint format {meta['format']!r}, expected {FORMAT!r}")
    config_fields = _model_config_fields()  # all optional: older sidecars lack newer ones
    problem = (problem or _sha256_problem(meta["weights_sha256"])
               or _part_problem("grammar", meta["grammar"], GRAMMAR_FIELDS, ("live_programs",))
               or _part_problem("model_config", meta["model_config"], config_fields,
                                config_fields)
               or _part_problem("extra", meta.get("extra") or {}, EXTRA_FIELDS, EXTRA_FIELDS))
    if problem:
        raise MapoError(f"{sidecar}: not a checkpoint sidecar ({problem})")
    return meta


SIDECAR_FIELDS = {"format": "a string", "model_config": "an object", "vocabulary": "an object",
                  "grammar": "an object", "n_builtins": "an integer",
                  "weights_sha256": "a string", "extra": "an object"}
GRAMMAR_FIELDS = {"name": "a string", "source": "a string", "content_hash": "a string",
                  "live_programs": "true or false"}
EXTRA_FIELDS = {"step": "an integer", "max_expressions": "an integer or null",
                "dev_accuracy": "a number or null", "objective": "a string"}
"""What `RunCheckpoints` stores in `extra` and decode reads back; other fields are not checked."""


def _model_config_fields() -> dict[str, str]:
    """ModelConfig's fields and their JSON kinds (those of their defaults)."""
    kinds = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return {f.name: kinds[type(f.default)] for f in fields(ModelConfig)}


def _part_problem(name: str, part: object, expected: dict[str, str],
                  optional: Collection[str] = ()) -> str | None:
    problem = field_problem(part, expected, optional)
    return f"{name}: {problem}" if problem else None


def _sha256_problem(digest: str) -> str | None:
    if re.fullmatch(r"[0-9a-f]{64}", digest):
        return None
    return f"'weights_sha256' should be 64 hexadecimal digits, not {shown(digest)}"


def _torch_load(path: Path, expected_sha256: str | None) -> Any:
    if not path.is_file():
        raise MapoError(f"{path}: no such file")
    if expected_sha256 is not None and _sha256(path) != expected_sha256:
        raise MapoError(f"{path}: corrupted (its checksum does not match the one saved with it)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 -- torch raises many types for a damaged file
        raise MapoError(f"{path}: {_load_failure(error)}") from None


def _load_failure(error: Exception) -> str:
    """Why torch.load failed, in one line without torch's terminal escape codes."""
    text = str(error).strip()
    if isinstance(error, pickle.UnpicklingError) and "Weights only load failed" in text:
        # torch's message is a page of advice; ours is the reason.
        found = re.search(r"GLOBAL ([\w.]+)", text)
        return ("refused: it holds Python code or objects"
                + (f" ({found.group(1)})" if found else "")
                + " that loading could run; a checkpoint holds tensors only")
    first = re.sub(r"\x1b\[[0-9;]*m", "", text.splitlines()[0]) if text else type(error).__name__
    return f"cannot read the checkpoint ({first})"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_torch_save(obj: Any, path: Path) -> None:
    """Serialised in memory first (a checkpoint is megabytes): torch's own writer turns a
    full disk into an opaque RuntimeError."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes(path, buffer.getvalue())
