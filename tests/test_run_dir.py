"""The run directory's checkpoint files: pruning keeps the newest and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

from mapo_cli.learn.run_dir import CHECKPOINTS, checkpoint_path, prune_checkpoints, state_path


def _fake_checkpoint(run: Path, step: int) -> None:
    path = checkpoint_path(run, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = state_path(path)
    for file in (path, path.with_suffix(".json"), state, state.with_suffix(".sha256")):
        file.write_text("x")


def test_pruning_removes_every_file_of_old_checkpoints(tmp_path: Path) -> None:
    for step in (250, 500, 750, 1000):
        _fake_checkpoint(tmp_path, step)
    prune_checkpoints(tmp_path, keep=2)
    left = sorted(p.name for p in (tmp_path / CHECKPOINTS).iterdir())
    assert left == ["step-0000750.json", "step-0000750.pt", "step-0000750.state.pt",
                    "step-0000750.state.sha256", "step-0001000.json", "step-0001000.pt",
                    "step-0001000.state.pt", "step-0001000.state.sha256"]
