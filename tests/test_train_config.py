"""The training settings: declared once (TrainConfig), written to config.toml and read back
exactly, whatever a path holds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mapo_cli.learn.config import TrainConfig, merge, read_config_file

TEXT = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(train=TEXT, dev=TEXT, store=TEXT, ray_address=TEXT)
def test_a_config_file_reads_back_exactly_whatever_its_strings_hold(
        tmp_path_factory, train: str, dev: str, store: str, ray_address: str) -> None:
    config = TrainConfig(train=train, dev=dev, store=store, ray_address=ray_address)
    path = tmp_path_factory.mktemp("config") / "config.toml"
    path.write_text(config.to_toml(), encoding="utf-8")
    assert merge(read_config_file(path), {}) == config


def test_every_setting_is_written_and_read_back(tmp_path: Path) -> None:
    changed = {}
    for declared in dataclasses.fields(TrainConfig):
        default = declared.default
        changed[declared.name] = (not default if isinstance(default, bool)
                                  else default + 1 if isinstance(default, int)
                                  else (default / 2 or 0.5) if isinstance(default, float)
                                  else default + "x")
    config = TrainConfig(**changed)
    (tmp_path / "config.toml").write_text(config.to_toml(), encoding="utf-8")
    assert read_config_file(tmp_path / "config.toml").keys() == changed.keys()
    assert merge(read_config_file(tmp_path / "config.toml"), {}) == config
