"""Word embeddings started from GloVe vectors that a registry package ships."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mapo_cli.core.errors import MapoError
from mapo_cli.learn.features import SPECIALS, Vocabulary
from mapo_cli.learn.pretrained import (
    INIT_STD,
    WordVectors,
    fixed_entries,
    freeze,
    initialise_embeddings,
    load_vectors,
    vectors_root,
    with_known_words,
)


@pytest.fixture(scope="module")
def glove() -> WordVectors:
    return load_vectors(vectors_root("glove-6b-50d"))


def test_known_words_get_their_glove_vectors(glove: WordVectors) -> None:
    found, vectors = glove.lookup(["<PAD>", "gold", "silver", "zzqxnotaword"])
    assert found.tolist() == [False, True, True, False]
    assert vectors.shape == (4, 50)
    gold, silver = vectors[1], vectors[2]
    cosine = gold @ silver / np.linalg.norm(gold) / np.linalg.norm(silver)
    assert cosine > 0.8  # neighbours in GloVe


def test_the_vocabulary_takes_in_dev_words_glove_knows(glove: WordVectors) -> None:
    train = Vocabulary(SPECIALS + ("gold", "nation"))
    extended = with_known_words(train, ("silver", "gold", "zzqxnotaword", "country"), glove)
    assert extended.words == SPECIALS + ("gold", "nation", "silver", "country")


def test_initialisation_rescales_known_rows_and_leaves_the_rest() -> None:
    torch.manual_seed(0)
    weight = torch.randn(3, 200) * INIT_STD
    untouched = weight[0].clone()
    found = np.array([False, True, True])
    vectors = np.random.default_rng(0).normal(0, 3.0, (3, 50)).astype(np.float32)
    assert initialise_embeddings(weight, found, vectors, clear=found) == 2
    assert torch.equal(weight[0], untouched)
    assert torch.count_nonzero(weight[1:, 50:]) == 0
    assert weight[1:, :50].std().item() == pytest.approx(INIT_STD, rel=0.05)
    assert torch.allclose(weight[1, :50] / weight[2, :50],
                          torch.from_numpy(vectors[1] / vectors[2]), rtol=1e-4)


def test_unknown_source_is_a_clear_error() -> None:
    with pytest.raises(MapoError, match="unknown embeddings"):
        vectors_root("word2vec")


def test_frozen_rows_stay_put_under_adam_while_the_others_learn() -> None:
    torch.manual_seed(0)
    embedding = torch.nn.Embedding(4, 8)
    before = embedding.weight.detach().clone()
    rows = np.array([False, True, True, False])
    freeze(embedding.weight, np.repeat(rows[:, None], 8, axis=1))
    optimizer = torch.optim.Adam(embedding.parameters(), lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        embedding(torch.tensor([0, 1, 2, 3])).pow(2).sum().backward()
        optimizer.step()
    after = embedding.weight.detach()
    assert torch.equal(after[1:3], before[1:3])
    assert not torch.equal(after[0], before[0]) and not torch.equal(after[3], before[3])


def test_frozen_glove_words_learn_only_if_frequent() -> None:
    found = np.array([True, True, False])  # frequent known, rare known, unknown
    frequent = np.array([True, False, True])
    fixed = fixed_entries(found, frequent, dimensions=4, vector_width=2)
    assert fixed.tolist() == [[True, True, False, False], [True, True, True, True],
                              [False, False, False, False]]
    weight = torch.ones(3, 4)
    initialise_embeddings(weight, found, np.full((3, 2), 5.0, dtype=np.float32),
                          clear=found & ~frequent)
    assert weight[1, 2:].tolist() == [0.0, 0.0] and weight[0, 2:].tolist() == [1.0, 1.0]
