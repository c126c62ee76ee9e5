"""Shared fixtures: the bundled demo dataset, prepared once per test session."""

from __future__ import annotations

import secrets
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "datasets" / "demo"
WTQ = ROOT.parent / "shared" / "datasets" / "wtq"
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def prepared_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo dataset as `mapo prepare wtq` writes it (training, split-1 train/dev)."""
    from mapo_cli.data.prepare_wtq import prepare_wtq

    out = tmp_path_factory.mktemp("demo-prepared")
    prepare_wtq(DEMO, out)
    return out


@pytest.fixture(scope="session")
def real_training(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """WTQ's training.tsv alone (the splits are subsets of it), prepared once."""
    if not WTQ.is_dir():
        pytest.skip(f"WikiTableQuestions not found at {WTQ}")
    from mapo_cli.data.prepare_wtq import prepare_wtq

    source = tmp_path_factory.mktemp("wtq")
    (source / "data").mkdir()
    # A copy: a question file linked out of a release is refused (its folders may be links).
    shutil.copy(WTQ / "data" / "training.tsv", source / "data" / "training.tsv")
    (source / "csv").symlink_to(WTQ / "csv")
    (source / "tagged").symlink_to(WTQ / "tagged")
    report = prepare_wtq(source, source / "out")
    assert not report.problems
    return source / "out" / "training.jsonl"


def demo_subsets(prepared_demo: Path, root: Path,
                 parts: dict[str, tuple[str, int]]) -> dict[str, Path]:
    """ROOT/NAME.jsonl for each NAME: (prepared demo file, first N examples), beside the
    demo's tables; the paths by name, and ROOT as "root"."""
    (root / "tables.jsonl").write_text((prepared_demo / "tables.jsonl").read_text())
    paths = {"root": root}
    for name, (source, n) in parts.items():
        lines = (prepared_demo / f"{source}.jsonl").read_text().splitlines()[:n]
        paths[name] = root / f"{name}.jsonl"
        paths[name].write_text("\n".join(lines) + "\n")
    return paths


TINY = "hidden = 16\nembedding = 16\neval_examples = 16\nbatch_examples = 8\nmemory_limit = 50\n"


def small_training(prepared_demo: Path, root: Path,
                   parts: dict[str, tuple[str, int]]) -> dict[str, Path]:
    """`demo_subsets` with a "train" part, its store explored briefly ("store", 100 samples
    an example) and a tiny model's config ("root"/tiny.toml, `TINY`)."""
    from mapo_cli.search.driver import explore_data
    from mapo_cli.search.explore import ExploreSettings

    paths = demo_subsets(prepared_demo, root, parts)
    paths["store"] = root / "store"
    explore_data(paths["train"], paths["store"], ExploreSettings(), workers=1,
                 samples_per_example=100)
    (root / "tiny.toml").write_text(TINY)
    return paths


@pytest.fixture
def demo_training(tmp_path: Path, prepared_demo: Path, demo_store: Path) -> dict:
    """What `mapo train` needs for a tiny run on the demo: the split-1 files, a copy of the
    demo store (the run may write to it), a tiny model's config (`TINY`) and tmp_path."""
    from mapo_cli.store.store import copy_store

    store = tmp_path / "store"
    copy_store(demo_store, store)
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    return {"train": prepared_demo / "random-split-1-train.jsonl",
            "dev": prepared_demo / "random-split-1-dev.jsonl", "store": store, "config": config,
            "tmp": tmp_path}


def train_command(paths: dict, run: str, *extra: str) -> list[str]:
    """`mapo train` on `demo_training`'s files into tmp_path/RUN, then `extra`."""
    return ["train", "--train", str(paths["train"]), "--dev", str(paths["dev"]),
            "--store", str(paths["store"]), "--config", str(paths["config"]),
            "--run", str(paths["tmp"] / run), *extra]


@pytest.fixture(scope="session")
def demo_store(prepared_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's training split explored briefly (tests copy it before writing to it)."""
    from mapo_cli.search.driver import explore_data
    from mapo_cli.search.explore import ExploreSettings

    store = tmp_path_factory.mktemp("demo-store") / "store"
    explore_data(prepared_demo / "random-split-1-train.jsonl", store, ExploreSettings(),
                 workers=2, samples_per_example=300)
    return store


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy machine extra threads spin."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def cache_in_a_temporary_directory(tmp_path_factory: pytest.TempPathFactory):
    """The pretrained encoder's cache (`$MAPO_CACHE`) never lands in the user's home, nor
    does the token a new Ray instance would otherwise save in ~/.ray (a session's own)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MAPO_CACHE", str(tmp_path_factory.mktemp("mapo-cache")))
        patch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
        yield
