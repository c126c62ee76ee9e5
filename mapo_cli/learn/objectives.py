"""Which programs the learner trains on, with which weights: MAPO's eq. (6) and the baselines.

Every objective turns one example's memory buffer B (its high-reward
programs, with their log-probabilities under the actor's stale policy) and
one on-policy sample into (program, reward, weight) triples. The learner then
follows   gradient = Σ weight · reward · ∇ log π(program)   (Algorithm 2).

MAPO, eq. (6) with the marginal-likelihood clipping of section 4.2:

    ∇O_ER ≈ Σ_{a∈B} ∇π(a) r(a)  +  (1 − π(B)) E_{a∼π⁻}[R(a) ∇log π(a)]

    inside B:   a⁺ ∼ π⁺ = π/π(B) restricted to B,   weight  w⁺ = max(π(B), α)
    outside B:  a ∼ π, kept only if a ∉ B (rejection sampling),  weight  1 − w⁺

With `top_k`, the inside term is enumerated exactly over the K most probable
programs of B (the paper's WikiSQL setting) instead of sampled.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

Program = tuple[int, ...]

OBJECTIVES = ("mapo", "reinforce", "mml", "hard-em", "iml")


@dataclass(frozen=True)
class Weighted:
    """One training sample: the learner adds weight · reward · ∇ log π(program)."""

    program: Program
    reward: float
    weight: float
    in_memory: bool


@dataclass(frozen=True)
class ExampleTerms:
    """What one example contributes, and the figures the metrics report."""

    samples: list[Weighted]
    memory_probability: float  # π(B) under the actor's policy
    clipped: bool  # π(B) < α: the clipping of section 4.2 was active


def training_samples(objective: str, memory: list[Program], memory_log_probs: list[float],
                     on_policy: Program | None, on_policy_reward: float, alpha: float,
                     rng: random.Random, top_k: int | None = None) -> ExampleTerms:
    """The weighted samples of one example for `objective` (see the module docstring)."""
    on_policy_in_memory = on_policy is not None and on_policy in set(memory)
    fresh = [] if on_policy is None or on_policy_in_memory else [
        Weighted(on_policy, on_policy_reward, 1.0, False)]
    if objective == "reinforce" or not memory:  # no buffer: eq. (6) is plain REINFORCE
        plain = [] if on_policy is None else [
            Weighted(on_policy, on_policy_reward, 1.0, on_policy_in_memory)]
        return ExampleTerms(plain if objective in ("mapo", "reinforce") else [], 0.0, False)
    probs = [math.exp(lp) for lp in memory_log_probs]
    pi_b = sum(probs)
    inside = _inside(objective, memory, probs, pi_b, rng, top_k)
    if objective != "mapo":
        return ExampleTerms([Weighted(a, 1.0, w, True) for a, w in inside], pi_b, False)
    # eq. (6): inside B weighted by w⁺ = max(π(B), α); outside by 1 − w⁺
    w_plus = max(pi_b, alpha)
    samples = [Weighted(a, 1.0, w_plus * w, True) for a, w in inside]
    samples += [Weighted(s.program, s.reward, 1.0 - w_plus, False) for s in fresh]
    return ExampleTerms(samples, pi_b, pi_b < alpha)


def _inside(objective: str, memory: list[Program], probs: list[float], pi_b: float,
            rng: random.Random, top_k: int | None) -> list[tuple[Program, float]]:
    """Programs from B and their share of the inside term (shares sum to 1)."""
    if objective == "hard-em":  # the most probable program of B
        return [(memory[max(range(len(memory)), key=probs.__getitem__)], 1.0)]
    if objective == "iml":  # every program of B alike: one drawn uniformly
        return [(memory[rng.randrange(len(memory))], 1.0)]
    if top_k is not None:  # enumerate the K most probable, renormalised among themselves
        order = sorted(range(len(memory)), key=lambda i: -probs[i])[:top_k]
        mass = sum(probs[i] for i in order)
        if mass <= 0.0:
            return [(memory[i], 1.0 / len(order)) for i in order]
        return [(memory[i], probs[i] / mass) for i in order]
    # mapo and mml: one program drawn from π⁺ (π renormalised over B)
    if pi_b <= 0.0:
        return [(memory[rng.randrange(len(memory))], 1.0)]
    return [(rng.choices(memory, weights=probs)[0], 1.0)]
