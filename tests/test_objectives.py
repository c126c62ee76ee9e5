"""MAPO's eq. (6) gives the exact gradient of the expected return on an enumerable problem."""

from __future__ import annotations

import math
import random

import torch
from tables import example, medals_table
from test_interpreter import enumerate_programs

from mapo_cli.data.scoring import TargetScorer
from mapo_cli.language.grammar import load_grammar
from mapo_cli.learn.decoding import prepare
from mapo_cli.learn.features import build_vocabulary
from mapo_cli.learn.learner import loss_of
from mapo_cli.learn.model import ModelConfig, Programmer
from mapo_cli.learn.objectives import training_samples

QUESTION = example("how many nations won 3 gold ?", [{"type": "number", "value": 3, "span": [4, 5]}],
                   ["2"])


def setup():
    """A tiny model over every program of one expression on the medals table."""
    table = medals_table()
    item = prepare(QUESTION, table, load_grammar("wtq"), build_vocabulary([QUESTION], {}), 2)
    everything = sorted(enumerate_programs(item.interpreter))
    scorer = TargetScorer(QUESTION["answer"])
    rewards = [scorer.reward(item.interpreter.answer(item.interpreter.run(p))) for p in everything]
    buffer = [p for p, r in zip(everything, rewards) if r > 0]
    torch.manual_seed(0)
    model = Programmer(ModelConfig(embedding_size=8, hidden_size=8, dropout=0.0), 64,
                       item.ctx.n_builtins).eval()
    return model, item, everything, rewards, buffer


def gradient(model: Programmer, loss: torch.Tensor) -> torch.Tensor:
    model.zero_grad()
    loss.backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def exact_expected_return_gradient(model, item, everything, rewards) -> tuple[torch.Tensor, float]:
    from mapo_cli.learn.decoding import log_probs

    logp = log_probs(model, [item] * len(everything), everything)
    assert math.isclose(float(logp.detach().exp().sum()), 1.0, rel_tol=1e-4)  # π sums to 1 over programs
    expected_return = (logp.exp() * torch.tensor(rewards)).sum()
    return gradient(model, -expected_return), float(expected_return.detach())


def mapo_gradient(model, item, buffer, alpha: float, top_k: int | None,
                  forced: tuple | None = None) -> torch.Tensor:
    from mapo_cli.learn.decoding import log_probs

    with torch.no_grad():
        memory_logp = log_probs(model, [item] * len(buffer), buffer).tolist()
    terms = training_samples("mapo", buffer, memory_logp, forced, 0.0, alpha,
                             random.Random(0), top_k)
    loss, _ = loss_of(model, [item] * len(terms.samples), [s.program for s in terms.samples],
                      [s.weight * s.reward for s in terms.samples], 1, 0.0)
    return gradient(model, loss)


def test_enumerated_eq6_equals_the_exact_gradient_of_the_expected_return() -> None:
    model, item, everything, rewards, buffer = setup()
    assert 2 <= len(buffer) < len(everything)
    exact, _ = exact_expected_return_gradient(model, item, everything, rewards)
    estimate = mapo_gradient(model, item, buffer, alpha=0.0, top_k=len(buffer))
    assert torch.allclose(estimate, exact, atol=1e-6, rtol=1e-4)


def test_clipping_scales_the_inside_term_to_alpha_over_pi_b() -> None:
    model, item, everything, rewards, buffer = setup()
    exact, pi_b = exact_expected_return_gradient(model, item, everything, rewards)
    alpha = min(0.99, 3 * pi_b)
    assert pi_b < alpha  # the clipping is active
    estimate = mapo_gradient(model, item, buffer, alpha=alpha, top_k=len(buffer))
    assert torch.allclose(estimate, exact * (alpha / pi_b), atol=1e-6, rtol=1e-4)


def test_sampling_inside_the_buffer_is_unbiased() -> None:
    """E over a⁺ ∼ π⁺ of the one-sample estimate equals the exact gradient (α = 0)."""
    from mapo_cli.learn.decoding import log_probs

    model, item, everything, rewards, buffer = setup()
    exact, pi_b = exact_expected_return_gradient(model, item, everything, rewards)
    with torch.no_grad():
        probs = log_probs(model, [item] * len(buffer), buffer).exp().tolist()
    expectation = torch.zeros_like(exact)
    for program, p in zip(buffer, probs):  # each possible draw, weighted by π⁺(a)
        loss, _ = loss_of(model, [item], [program], [max(pi_b, 0.0)], 1, 0.0)
        expectation += (p / pi_b) * gradient(model, loss)
    assert torch.allclose(expectation, exact, atol=1e-6, rtol=1e-4)


def test_objectives_weight_what_the_paper_says() -> None:
    memory = [(1,), (2,), (3,)]
    logp = [math.log(0.02), math.log(0.05), math.log(0.03)]  # π(B) = 0.1
    rng = random.Random(0)
    mapo = training_samples("mapo", memory, logp, (9,), 0.0, 0.3, rng)
    assert mapo.clipped and math.isclose(mapo.memory_probability, 0.1)
    inside, outside = mapo.samples
    assert inside.in_memory and math.isclose(inside.weight, 0.3)
    assert not outside.in_memory and math.isclose(outside.weight, 0.7)
    # rejection sampling: an on-policy sample that is in the buffer adds nothing outside it
    assert len(training_samples("mapo", memory, logp, (2,), 1.0, 0.3, rng).samples) == 1
    assert training_samples("hard-em", memory, logp, None, 0.0, 0.1, rng).samples[0].program == (2,)
    assert training_samples("reinforce", memory, logp, (9,), 0.0, 0.1, rng).samples[0].weight == 1.0
    assert training_samples("mml", [], [], (9,), 0.0, 0.1, rng).samples == []
    # an empty buffer makes MAPO plain REINFORCE
    assert training_samples("mapo", [], [], (9,), 1.0, 0.1, rng).samples[0].weight == 1.0
