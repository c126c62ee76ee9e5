"""What training must do: learn (MAPO better than REINFORCE), follow the paper's gradients,
version the weights its actors sample with, and bring what the actors find to the store."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import pytest
import torch

from mapo_cli.learn.config import TrainConfig
from mapo_cli.learn.evaluation import Evaluator
from mapo_cli.learn.features import build_vocabulary
from mapo_cli.learn.learner import initial_model, policy_loss
from mapo_cli.learn.objectives import training_samples
from mapo_cli.learn.runner import Progress
from mapo_cli.learn.train import train
from mapo_cli.learn.training_data import load_training_data
from mapo_cli.search.driver import explore_data
from mapo_cli.search.explore import ExploreSettings
from mapo_cli.store.store import Store

# ---------------------------------------------------------------- learning on the demo

STEPS = 20
SEED = 3


def demo_config(prepared_demo: Path, demo_store: Path, **settings) -> TrainConfig:
    """The default model on the demo's split 1, serial (deterministic), never writing the store."""
    return TrainConfig(train=str(prepared_demo / "random-split-1-train.jsonl"),
                       dev=str(prepared_demo / "random-split-1-dev.jsonl"),
                       store=str(demo_store), read_only_store=True, serial=True, seed=SEED,
                       steps=STEPS, eval_every=STEPS, **settings)


def untrained_accuracy(config: TrainConfig) -> float:
    """Greedy dev accuracy of the model a run with `config` starts from."""
    data = load_training_data(config)
    vocabulary = build_vocabulary(data.train, data.tables, config.min_count)
    evaluator = Evaluator(data.dev, data.tables, data.grammar, vocabulary,
                          data.store_settings["max_expressions"])
    return evaluator.accuracy(initial_model(config, data, vocabulary))


@pytest.mark.usefixtures("one_torch_thread")
def test_mapo_learns_and_beats_reinforce_in_as_many_steps(prepared_demo: Path, demo_store: Path,
                                                          tmp_path: Path) -> None:
    """Dev accuracy (greedy, 112 dev questions) after 20 serial steps, default model.

    Measured for seeds 1–5 (the demo store: 300 samples an example; the same
    numbers with any number of exploring workers):

        seed             1      2      3      4      5
        untrained    0.009  0.000  0.000  0.018  0.071
        REINFORCE    0.116  0.009  0.036  0.054  0.045
        MAPO         0.259  0.268  0.232  0.205  0.205

    (at 60 steps MAPO 0.26–0.39, REINFORCE 0.09–0.13). The smallest gap over
    the seeds is 0.134 to the untrained model and 0.143 to REINFORCE; the test
    asks for 0.10 and 0.07, so that a slightly different float path (another
    torch, another CPU) cannot make it fail. About 20 s on two busy cores.
    """
    mapo = demo_config(prepared_demo, demo_store)
    reinforce = demo_config(prepared_demo, demo_store, objective="reinforce")
    before = untrained_accuracy(mapo)
    after_mapo = train(mapo, tmp_path / "mapo")["dev_accuracy"]
    after_reinforce = train(reinforce, tmp_path / "reinforce")["dev_accuracy"]
    assert after_mapo >= before + 0.10, (before, after_mapo)
    assert after_mapo >= after_reinforce + 0.07, (after_reinforce, after_mapo)


# ---------------------------------------------------------------- the gradients of each objective
#
# One example with a hand-made buffer B = {a, b, c} under the actor's policy π:
# π(a) = 0.02, π(b) = 0.05, π(c) = 0.03, so π(B) = 0.1; and one on-policy sample d ∉ B
# with reward 0.5. Each objective gives weighted samples; the learner's loss then has,
# with respect to log π(x), the gradient −(the coefficient Algorithm 2 gives ∇log π(x)).

A, B, C, D = (10, 1), (11, 1), (12, 1), (13, 1)
MEMORY = [A, B, C]
PI = {A: 0.02, B: 0.05, C: 0.03}
PI_B = 0.1
R_D = 0.5


def coefficients(objective: str, alpha: float = 0.0, top_k: int | None = None,
                 on_policy: tuple[int, ...] = D, reward: float = R_D,
                 rng: random.Random | None = None) -> dict[tuple[int, ...], float]:
    """d(−loss)/d log π(x) for each program x, through the learner's own loss."""
    terms = training_samples(objective, MEMORY, [math.log(PI[a]) for a in MEMORY], on_policy,
                             reward, alpha, rng or random.Random(0), top_k)
    programs = [s.program for s in terms.samples]
    logp = torch.zeros(len(programs), dtype=torch.float64, requires_grad=True)
    policy_loss(logp, [s.weight * s.reward for s in terms.samples], 1).backward()
    found: dict[tuple[int, ...], float] = {}
    for program, gradient in zip(programs, (-logp.grad).tolist()):
        found[program] = found.get(program, 0.0) + gradient
    return found


def assert_close(found: dict, expected: dict) -> None:
    assert found.keys() == expected.keys()
    assert all(math.isclose(found[k], expected[k], rel_tol=1e-9) for k in expected), found


def test_mapo_enumerated_is_eq_6() -> None:
    """eq. (6) with K = 1, b = 0: Σ_{a∈B} π(a) r(a) ∇log π(a) + (1 − π(B)) R(d) ∇log π(d)
    (π(B) ≥ α: no clipping)."""
    assert_close(coefficients("mapo", alpha=0.05, top_k=3),
                 {A: 0.02, B: 0.05, C: 0.03, D: (1 - PI_B) * R_D})


def test_mapo_clipping_weighs_the_buffer_alpha_and_the_rest_one_minus_alpha() -> None:
    """π(B) < α: the inside term is scaled to α (w⁺ = α), the outside one to 1 − α."""
    alpha = 0.3
    assert_close(coefficients("mapo", alpha=alpha, top_k=3),
                 {A: alpha * 0.2, B: alpha * 0.5, C: alpha * 0.3, D: (1 - alpha) * R_D})


def test_mapo_sampled_inside_the_buffer_weighs_its_sample_pi_b() -> None:
    """Algorithm 2: one a⁺ ∼ π⁺ weighted max(π(B), α), and d weighted 1 − max(π(B), α)."""
    found = coefficients("mapo", alpha=0.05)
    (inside,) = found.keys() - {D}
    assert inside in MEMORY
    assert_close(found, {inside: PI_B, D: (1 - PI_B) * R_D})


def test_mapo_rejects_an_on_policy_sample_from_the_buffer() -> None:
    """Sampling outside B is rejection sampling: a sample in B adds no outside term."""
    found = coefficients("mapo", alpha=0.3, top_k=3, on_policy=B, reward=1.0)
    assert_close(found, {A: 0.3 * 0.2, B: 0.3 * 0.5, C: 0.3 * 0.3})


def test_reinforce_is_the_on_policy_sample_alone() -> None:
    """eq. (2) with one sample and no baseline: R(d) ∇log π(d); the buffer plays no part."""
    assert_close(coefficients("reinforce", alpha=0.3), {D: R_D})


def test_mml_is_the_gradient_of_the_log_of_the_buffers_probability() -> None:
    """eq. (8): ∇ log π(B) = Σ_{a∈B} π(a)/π(B) ∇log π(a); no on-policy term."""
    assert_close(coefficients("mml", top_k=3), {A: 0.2, B: 0.5, C: 0.3})
    (one,) = coefficients("mml").items()  # sampled: one a ∼ π⁺, weight 1
    assert one[0] in MEMORY and one[1] == 1.0


def test_hard_em_follows_the_most_probable_program_of_the_buffer() -> None:
    assert_close(coefficients("hard-em"), {B: 1.0})


def test_iml_follows_every_program_of_the_buffer_alike() -> None:
    """IML maximises Σ_{a∈B} log π(a): one program drawn uniformly per step, weight 1."""
    rng = random.Random(0)
    draws = Counter()
    for _ in range(3000):
        (one,) = coefficients("iml", rng=rng).items()
        assert one[1] == 1.0
        draws[one[0]] += 1
    assert draws.keys() == set(MEMORY)
    assert all(abs(count / 3000 - 1 / 3) < 0.04 for count in draws.values()), draws


# ---------------------------------------------------------------- parallel actors


@pytest.fixture(scope="module")
def parallel_run(prepared_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two actor processes train a tiny model for 24 steps (weights published every 2) from
    a store explored little (10 samples an example), writing to it."""
    from conftest import demo_subsets

    root = tmp_path_factory.mktemp("parallel")
    paths = demo_subsets(prepared_demo, root, {"train": ("random-split-1-train", 60),
                                                "dev": ("random-split-1-dev", 16)})
    store = root / "store"
    explore_data(paths["train"], store, ExploreSettings(), workers=1, samples_per_example=1)
    before = memory_of(store)
    steps: list[Progress] = []
    config = TrainConfig(train=str(paths["train"]), dev=str(paths["dev"]), store=str(store),
                         hidden=16, embedding=16, batch_examples=16, memory_limit=50,
                         steps=24, eval_every=24, sync_every=2, actors=2, seed=1)
    summary = train(config, root / "run", on_progress=steps.append)
    return {"summary": summary, "steps": steps, "before": before, "after": memory_of(store)}


def memory_of(store: Path) -> dict[str, set[tuple[int, ...]]]:
    with Store.open_readonly(store) as opened:
        return {i: {program for program, _ in opened.read_memory(i)} for i in opened.ids()}


def test_parallel_actors_sample_with_ever_newer_weights(parallel_run: dict) -> None:
    steps: list[Progress] = parallel_run["steps"]
    assert len(steps) == parallel_run["summary"]["steps"] == 24
    for actor in {p.actor for p in steps}:
        versions = [p.weights_version for p in steps if p.actor == actor]
        assert versions == sorted(versions), f"actor {actor}: {versions}"
    assert {p.actor for p in steps} <= {0, 1}
    assert max(p.weights_version for p in steps) > 0
    # a batch is never sampled with weights newer than the learner's
    assert all(p.weights_version < p.step for p in steps)


def test_programs_parallel_actors_find_reach_the_store(parallel_run: dict) -> None:
    before, after = parallel_run["before"], parallel_run["after"]
    assert after.keys() == before.keys()
    assert all(before[i] <= after[i] for i in before)  # nothing lost
    assert sum(len(after[i] - before[i]) for i in before) > 0
