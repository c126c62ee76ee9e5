"""The accepted values of every numeric option and `--config` key, in one table.

Commands check their options here before any work starts, and `TrainConfig`
checks its fields (flags and config files alike) here, so a bad value is one
message that names the option, the value and the range — never a run that
goes on forever (`--seconds nan`) or a setting saved into a store (`-1`).
Upper bounds cap what sizes an array or a loop; counts with no natural
limit stop at a billion, so that no absurd integer reaches torch or numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mapo_cli.core.errors import UsageError

BILLION = 10**9
PROCESSES = 256  # workers, actors, threads: more than any machine we know of


@dataclass(frozen=True)
class Range:
    """Numbers from `low` to `high` (an end excluded if open); floats must be finite."""

    low: float
    high: float
    integer: bool = True
    open_low: bool = False
    open_high: bool = False

    def __contains__(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return above and below

    def describe(self) -> str:
        """E.g. "an integer from 1 to 1000", "a finite number ≥ 0", "a number in [0, 1)"."""
        low, high = _number(self.low), _number(self.high)
        if self.integer:
            return f"an integer from {low} to {high}"
        if math.isinf(self.high):
            return f"a finite number {'>' if self.open_low else '≥'} {low}"
        return (f"a number in {'(' if self.open_low else '['}{low}, "
                f"{high}{')' if self.open_high else ']'}")


def integers(low: int, high: int = BILLION) -> Range:
    return Range(low, high)


def numbers(low: float, high: float = math.inf, *, open_low: bool = False,
            open_high: bool = False) -> Range:
    return Range(low, high, integer=False, open_low=open_low, open_high=open_high)


# Keyed by the option's Python name (`--samples-per-example` is samples_per_example); a
# name means the same thing in every command that has it. "0:" notes a special value.
RANGES: dict[str, Range] = {
    # explore
    "workers": integers(0, PROCESSES),  # 0: all cores (explore, decode)
    "samples_per_example": integers(1, 10**7),  # sizes each example's bloom filter
    "max_expressions": integers(0, 20),  # 0: the grammar's; sizes decoding loops
    "seconds": numbers(0),  # 0: no limit (explore, train)
    "seed": integers(0, 2**32 - 1),  # numpy's seed range (explore, train, inspect spurious)
    "error_rate": numbers(1e-9, 1, open_high=True),  # bits per prefix grow with -log(rate)
    "chunk": integers(0, 10**7),  # 0: a whole example
    # train: every numeric field of TrainConfig (flags and --config keys)
    "alpha": numbers(0, 1),
    "memory_top_k": integers(0),  # 0: sample instead of enumerating
    "steps": integers(1),
    "batch_examples": integers(1, 10**5),
    "learning_rate": numbers(0, 1, open_low=True),
    "entropy": numbers(0),
    "dropout": numbers(0, 1, open_high=True),
    "hidden": integers(2, 8192),
    "embedding": integers(1, 8192),
    "min_count": integers(1),
    "grad_clip": numbers(0, open_low=True),
    "average_decay": numbers(0, 1, open_high=True),  # 0: the latest weights
    "memory_limit": integers(1, 10**6),
    "eval_every": integers(1),
    "eval_examples": integers(0),  # 0: all
    "save_every_seconds": numbers(0, open_low=True),
    "keep_checkpoints": integers(1),
    "actors": integers(0, PROCESSES),  # 0: cores − 1
    "sync_every": integers(1),
    "threads": integers(1, PROCESSES),
    # decode, ask
    "beam": integers(1, 1000),
    "batch": integers(1, 10**5),
    "top": integers(1, 1000),
    "max_rows": integers(1, 10**7),
    "max_columns": integers(1, 10**4),
    # serve
    "port": integers(1, 65535),
    "max_body": integers(1, 10**10),
    "timeout": numbers(0, 3600, open_low=True),
    "concurrency": integers(1, PROCESSES),
    # inspect
    "rows": integers(0),
    "tables": integers(1, 1000),  # fictitious tables per example
    "limit": integers(0),  # 0: all
    "show": integers(0),
}


def check_range(name: str, value: object, label: str | None = None) -> None:
    """Raise UsageError unless `value` is in RANGES[name]; `label` names it (default --name)."""
    accepted = RANGES[name]
    if value not in accepted:
        label = label or "--" + name.replace("_", "-")
        raise UsageError(f"{label} must be {accepted.describe()}, got {_value(value)}")


def check_options(**values: object) -> None:
    """Check each option given (None: not given) against its range, in order."""
    for name, value in values.items():
        if value is not None:
            check_range(name, value)


def _number(x: float) -> str:
    if isinstance(x, int) or x.is_integer():
        return f"{int(x):,}" if abs(x) >= 10**5 else str(int(x))
    return f"{x:g}"


def _value(value: object) -> str:
    """The value as given, shortened if it is a huge integer."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
        return f"{value:.3e}"
    return repr(value)
