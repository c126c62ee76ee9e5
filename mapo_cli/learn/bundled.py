"""Trained parsers that ship inside the package, named where a run directory is expected.

    mapo_cli/models/NAME/best.pt, best.json   the weights (float16) and their sidecar
    mapo_cli/models/NAME/reranker.json        its own reranker (`mapo rerank`)
    mapo_cli/models/NAME/model.json           what `mapo models` lists: data, accuracy
    mapo_cli/models/NAME/MODEL_CARD.md        how it was made, its limits, how to remake it
    mapo_cli/models/NAME/config.toml, metrics.jsonl   its training run (`mapo inspect run`)

A model's name works wherever a command takes RUN. A path that exists wins
over a name, so a directory `wtq` in the working directory is that
directory; one that is not a run is an error that says how to reach the
bundled model. A run directory's own `reranker.json` (a bundled model ships
one) ranks its programs when it is used alone (`own_reranker`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mapo_cli.core.errors import MapoError, UsageError

MODELS = Path(__file__).resolve().parent.parent / "models"
DEFAULT = "wtq"  # what `mapo ask TABLE QUESTION` and `Parser.load()` use
OWN_RERANKER = "reranker.json"
MODEL_INFO = "model.json"


@dataclass(frozen=True)
class BundledModel:
    """One model in the package, as `model.json` describes it."""

    name: str
    path: Path
    info: dict[str, Any]

    @property
    def default(self) -> bool:
        return self.name == DEFAULT

    @property
    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "size_bytes": self.size_bytes,
                "default": self.default, **self.info}


def bundled_models(root: Path | None = None) -> list[BundledModel]:
    """The models in the package (or `root`), by name; a folder without weights or
    description is not one."""
    root = root or MODELS
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if (folder / "best.pt").is_file() and (folder / MODEL_INFO).is_file():
            try:
                info = json.loads((folder / MODEL_INFO).read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise MapoError(f"{folder / MODEL_INFO}: not a model description ({error})"
                                ) from None
            found.append(BundledModel(folder.name, folder, info if isinstance(info, dict)
                                      else {}))
    return found


def named(path: Path | str, root: Path | None = None) -> Path:
    """What a command's RUN argument names, before any check: the bundled model's
    directory where no such path exists and a bundled model has that name, else the path
    as given (what is wrong with it is said where it is read, after the cheaper checks)."""
    path = Path(path)
    if path.exists():
        return path
    return _bundled(root).get(str(path), path)


def find_run(path: Path | str, root: Path | None = None) -> Path:
    """`named(path)`, checked: a run directory or checkpoint file, or a bundled model."""
    path, bundled = Path(path), _bundled(root)
    if path.exists():
        if str(path) in bundled and not _is_run(path):
            raise MapoError(f"{path} here is not a run and hides the bundled model {path}: "
                            f"use its path, {bundled[str(path)]}")
        return path
    if str(path) in bundled:
        return bundled[str(path)]
    known = ", ".join(sorted(bundled)) or "none installed"
    raise MapoError(f"{path}: no such checkpoint or run directory, nor a bundled model "
                    f"(bundled: {known})")


def _bundled(root: Path | None) -> dict[str, Path]:
    return {model.name: model.path for model in bundled_models(root)}


def _is_run(path: Path) -> bool:
    if path.is_dir():
        return (path / "best.pt").is_file() or (path / "checkpoints").is_dir()
    return path.suffix == ".pt"


def default_model(root: Path | None = None) -> Path:
    """The bundled model that answers when no run is named."""
    root = root or MODELS
    for model in bundled_models(root):
        if model.name == DEFAULT:
            return model.path
    raise MapoError(f"no bundled model {DEFAULT!r} in this install ({root}): name a run "
                    "directory (`mapo train --run`), or reinstall mapo")


def own_reranker(run: Path) -> Path | None:
    """The reranker a run directory holds for itself (`RUN/reranker.json`), if any."""
    candidate = run / OWN_RERANKER
    return candidate if run.is_dir() and candidate.is_file() else None


def ranking(runs: list[Path], reranker: Path | None, beam_order: bool) -> Path | None:
    """The reranker that ranks `runs`' programs: the one given, else a lone run's own,
    else none (the beam's order, or an ensemble's mean probability)."""
    if reranker is not None and beam_order:
        raise UsageError("--reranker and --beam-order exclude each other")
    if reranker is None and not beam_order and len(runs) == 1:
        return own_reranker(runs[0])
    return reranker
