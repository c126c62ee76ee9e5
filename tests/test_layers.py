"""The package's layers are contracts (pyproject.toml, `[tool.importlinter]`):
an import that climbs from a lower layer to a higher one fails the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], check=False, cwd=tree,
                          capture_output=True, text=True,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})


def tree_with(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package in which `module` (under mapo_cli/) also has `line`."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "mapo_cli", tmp_path / "mapo_cli", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    path = tmp_path / "mapo_cli" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    return tmp_path


def test_the_package_keeps_its_layers() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_import_that_climbs_a_layer_is_named(tmp_path: Path) -> None:
    result = lint_imports(tree_with(tmp_path, "language/semantics.py",
                                    "from mapo_cli.learn import model"))
    assert result.returncode != 0
    assert "mapo_cli.language is not allowed to import mapo_cli.learn" in result.stdout
    assert "mapo_cli.language.semantics -> mapo_cli.learn.model" in result.stdout


def test_library_layers_never_talk_to_the_terminal(tmp_path: Path) -> None:
    result = lint_imports(tree_with(tmp_path, "store/values.py", "import rich"))
    assert result.returncode != 0
    assert "mapo_cli.store.values -> rich" in result.stdout
