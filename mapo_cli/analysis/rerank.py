"""A learned ranking of an ensemble's pooled programs (`mapo rerank`, `decode --reranker`).

The members' mean probability leaves points behind: their pool holds a
program with the right answer far more often than the top of the ranking
does, and when the members agree on a wrong program it stays on top. A
linear scorer over a few features of each pooled program (the members'
log-probabilities, how much of the pool and how many members back its
answer, the program's length and the functions it calls) ranks the pool
instead. It is fit with a listwise loss, the log of the probability mass the
scorer puts on the programs with the right answer, on the same runs' pools
for questions of another file (their training questions): no answer of the
file being decoded is seen.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from mapo_cli.analysis.decode import Decoded, DecodeReport, data_grammar
from mapo_cli.analysis.ensemble import ensemble_file
from mapo_cli.core.atomic import write_text
from mapo_cli.core.cluster import RayCluster
from mapo_cli.core.errors import MapoError
from mapo_cli.core.json_fields import field_problem, is_finite, shown
from mapo_cli.data.dataset import load_dataset
from mapo_cli.language.grammar import Grammar

FORMAT = "mapo-reranker-1"
SCALAR_FEATURES = (
    "log mean probability",
    "mean member log probability",
    "lowest member log probability",
    "highest member log probability",
    "log probability of its answer",  # the pool's mean probability summed over the answer
    "members whose top program gives its answer",
    "members whose top program it is",
    "expressions",
    "numeric answer",
    "several answers",
    "empty answer",
)
L2 = 1e-3  # on the standardised weights: keeps rare function features from running off
LOG_FLOOR = math.log(1e-12)  # log-probabilities below it are this (-inf is no feature)


def feature_names(functions: Sequence[str]) -> tuple[str, ...]:
    """The scalar features, then how many times the program calls each of `functions`."""
    return SCALAR_FEATURES + tuple(f"calls {name}" for name in functions)


def pool_features(pool: Sequence[Decoded], functions: Sequence[str]) -> list[list[float]]:
    """One row of `feature_names(functions)` for each program of an ensemble's pool."""
    members = len(pool[0].members)
    tops = [max(range(len(pool)), key=lambda j, m=m: pool[j].members[m]) for m in range(members)]
    mass: dict[tuple[str, ...], float] = {}
    votes: dict[tuple[str, ...], int] = {}
    for decoded in pool:
        answer = tuple(decoded.answer)
        mass[answer] = mass.get(answer, 0.0) + decoded.probability
    for j in tops:
        answer = tuple(pool[j].answer)
        votes[answer] = votes.get(answer, 0) + 1
    rows = []
    for j, decoded in enumerate(pool):
        answer, program = tuple(decoded.answer), decoded.program
        log_probs = [max(v, LOG_FLOOR) for v in decoded.members]
        rows.append([
            max(decoded.log_probability, LOG_FLOOR), sum(log_probs) / members,
            min(log_probs), max(log_probs), _log(mass[answer]),
            votes.get(answer, 0) / members, tops.count(j) / members, program.count("("),
            float(bool(answer) and all(_is_number(a) for a in answer)),
            float(len(answer) > 1), float(not answer),
        ] + [float(program.count(f"({name} ")) for name in functions])
    return rows


def _log(probability: float) -> float:
    return math.log(probability) if probability > math.exp(LOG_FLOOR) else LOG_FLOOR


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Reranker:
    """A fitted scorer: standardise each feature by `mean` and `spread`, weigh by `weights`."""

    grammar: str
    functions: tuple[str, ...]
    mean: tuple[float, ...]
    spread: tuple[float, ...]
    weights: tuple[float, ...]
    members: tuple[str, ...]  # the checkpoints of the runs it was fit for, in run order
    fit: dict[str, Any]  # what it was fit on, and how it ranks there against the mean

    def scores(self, pool: Sequence[Decoded]) -> list[float]:
        scale = [w / s for w, s in zip(self.weights, self.spread, strict=True)]
        shift = sum(m * c for m, c in zip(self.mean, scale, strict=True))
        return [sum(x * c for x, c in zip(row, scale, strict=True)) - shift
                for row in pool_features(pool, self.functions)]

    def order(self, pool: Sequence[Decoded]) -> list[int]:
        """The pool's indices, best first; ties keep the pool's order (the mean
        probability's)."""
        if not pool:
            return []
        scores = self.scores(pool)
        return sorted(range(len(pool)), key=lambda j: -scores[j])

    def rank(self, pool: Sequence[Decoded]) -> list[Decoded]:
        return [pool[j] for j in self.order(pool)]

    def check_fits(self, grammar: Grammar, runs: int) -> None:
        """MapoError unless this reranker was fit for `runs` runs on data of `grammar`."""
        functions = tuple(f.name for f in grammar.functions)
        if (self.grammar, self.functions) != (grammar.name, functions):
            raise MapoError(f"the reranker was fit for the grammar {self.grammar!r} with the "
                            f"functions {', '.join(self.functions)}; this data's grammar is "
                            f"{grammar.name!r} with {', '.join(functions)}")
        if len(self.members) != runs:
            raise MapoError(f"the reranker was fit for an ensemble of {len(self.members)} runs "
                            f"({', '.join(self.members)}); give it the same runs, not {runs}")

    def to_json(self) -> dict[str, Any]:
        names = feature_names(self.functions)
        return {"format": FORMAT, "grammar": self.grammar, "members": list(self.members),
                "fit": self.fit, "weights": dict(zip(names, self.weights, strict=True)),
                "mean": dict(zip(names, self.mean, strict=True)),
                "spread": dict(zip(names, self.spread, strict=True))}


def fit_on_file(models: list[Path], data: Path, beam_size: int = 5, workers: int = 0,
                batch: int = 32, on_progress: Callable[[int, int], None] | None = None,
                on_encoding: Callable[[int, int], None] | None = None,
                cluster: RayCluster | None = None) -> tuple[Reranker, DecodeReport]:
    """Decode `data` (questions with answers, not the ones to report on) with the ensemble of
    `models` and fit a reranker on its pools; also the decode's report."""
    examples, _ = load_dataset(data)
    if not examples:
        raise MapoError(f"{data}: no examples")
    grammar = data_grammar(examples, Path(data))
    report = ensemble_file(models, data, beam_size, workers, batch, on_progress, on_encoding,
                           cluster)
    reranker = fit_reranker([r.beam for r in report.results], grammar,
                            [m["checkpoint"] for m in report.members],
                            {"data": str(data), "beam": beam_size})
    return reranker, report


def fit_reranker(pools: Sequence[Sequence[Decoded]], grammar: Grammar, members: Sequence[str],
                 about: dict[str, Any] | None = None) -> Reranker:
    """Fit on the pools (each ranked by the mean probability) of questions with their rewards;
    `about` (what was decoded) goes into the reranker's record with the fit's figures."""
    functions = tuple(f.name for f in grammar.functions)
    useful = [pool for pool in pools if any(d.reward == 1.0 for d in pool)]
    if not useful:
        raise MapoError("no question's pool holds a program with the right answer: "
                        "there is nothing to learn a ranking from")
    mean, spread, weights = fit_weights(*padded_features(useful, functions))
    reranker = Reranker(grammar.name, functions, tuple(mean.tolist()), tuple(spread.tolist()),
                        tuple(weights.tolist()), tuple(members), {})
    fit = {**(about or {}), "questions": len(pools), "with_a_right_program": len(useful),
           "mean_probability_correct": sum(bool(p) and p[0].reward == 1.0 for p in pools),
           "reranked_correct": sum(bool(p) and reranker.rank(p)[0].reward == 1.0
                                   for p in pools)}
    return replace(reranker, fit=fit)


def fit_weights(features: torch.Tensor, valid: torch.Tensor, right: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The mean and spread that standardise each feature and the weights of the scorer, fit
    with the listwise loss (the log of the mass put on the right programs) and L2, on
    [questions, widest pool, features] with the masks of `padded_features`."""
    rows = features[valid]
    mean, spread = rows.mean(0), rows.std(0, unbiased=False) + 1e-6
    standard = (features - mean) / spread
    weights = torch.zeros(len(mean), dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([weights], max_iter=200)

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        scores = standard @ weights
        every = torch.logsumexp(scores.masked_fill(~valid, -math.inf), 1)
        on_right = torch.logsumexp(scores.masked_fill(~right, -math.inf), 1)
        value = (every - on_right).mean() + L2 * (weights * weights).sum()
        value.backward()
        return value

    optimiser.step(loss)
    return mean, spread, weights.detach()


def padded_features(pools: Sequence[Sequence[Decoded]], functions: tuple[str, ...]
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pools' (none empty) features as one [questions, widest pool, features] tensor,
    with masks of the real programs and of those with the right answer."""
    width = max(len(pool) for pool in pools)
    features = torch.zeros(len(pools), width, len(feature_names(functions)), dtype=torch.float64)
    valid = torch.zeros(len(pools), width, dtype=torch.bool)
    right = torch.zeros(len(pools), width, dtype=torch.bool)
    for q, pool in enumerate(pools):
        features[q, :len(pool)] = torch.tensor(pool_features(pool, functions), dtype=torch.float64)
        valid[q, :len(pool)] = True
        right[q, :len(pool)] = torch.tensor([d.reward == 1.0 for d in pool])
    return features, valid, right


def save_reranker(reranker: Reranker, path: Path) -> None:
    write_text(path, json.dumps(reranker.to_json(), indent=2) + "\n")


RECORD_FIELDS = {"grammar": "a string", "members": "a list", "fit": "an object",
                 "weights": "an object", "mean": "an object", "spread": "an object"}


def load_reranker(path: Path) -> Reranker:
    """MapoError for a file that is not a reranker `mapo rerank` wrote."""
    try:
        record = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise MapoError(f"{path}: no such reranker file (`mapo rerank` writes one)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MapoError(f"{path}: not a reranker file: {error}") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise MapoError(f"{path}: not a reranker file of this mapo ({FORMAT}; "
                        "`mapo rerank` writes one)")
    problem = field_problem(record, RECORD_FIELDS) or _numbers_problem(record)
    if problem is None and not all(isinstance(m, str) for m in record["members"]):
        problem = f"'members' should be checkpoint paths, not {shown(record['members'])}"
    if problem:
        raise MapoError(f"{path}: a damaged reranker file: {problem}")
    names = list(record["weights"])
    return Reranker(record["grammar"], tuple(n.removeprefix("calls ")
                                             for n in names[len(SCALAR_FEATURES):]),
                    *(tuple(float(record[k][n]) for n in names)
                      for k in ("mean", "spread", "weights")),
                    tuple(record["members"]), record["fit"])


def _numbers_problem(record: dict[str, Any]) -> str | None:
    """Weights, means and spreads: one finite number per feature mapo computes, in its
    order, and every spread positive (scores divide by it)."""
    names = list(record["weights"])
    functions = tuple(n.removeprefix("calls ") for n in names[len(SCALAR_FEATURES):])
    if tuple(names) != feature_names(functions) or list(record["mean"]) != names \
            or list(record["spread"]) != names:
        return "its features are not the ones mapo computes"
    for part in ("weights", "mean", "spread"):
        for name, value in record[part].items():
            if not is_finite(value):
                return f"the {part} of {name!r} should be a finite number, not {shown(value)}"
            if part == "spread" and value <= 0:
                return f"the spread of {name!r} is {value}: it must be positive"
    return None
