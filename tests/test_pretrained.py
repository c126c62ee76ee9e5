"""Word embeddings started from GloVe vectors that a registry package ships."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mapo_cli.errors import MapoError
from mapo_cli.pretrained import INIT_STD, initialise_embeddings, load_vectors, vectors_root


def test_known_words_get_their_glove_vectors() -> None:
    found, vectors = load_vectors(vectors_root("glove-6b-50d"),
                                  ["<PAD>", "gold", "silver", "zzqxnotaword"])
    assert found.tolist() == [False, True, True, False]
    assert vectors.shape == (4, 50)
    gold, silver = vectors[1], vectors[2]
    cosine = gold @ silver / np.linalg.norm(gold) / np.linalg.norm(silver)
    assert cosine > 0.8  # neighbours in GloVe


def test_initialisation_rescales_known_rows_and_leaves_the_rest() -> None:
    weight = torch.zeros(3, 200)
    found = np.array([False, True, True])
    vectors = np.random.default_rng(0).normal(0, 3.0, (3, 50)).astype(np.float32)
    assert initialise_embeddings(weight, found, vectors) == 2
    assert torch.count_nonzero(weight[0]) == 0
    assert torch.count_nonzero(weight[1:, 50:]) == 0
    assert weight[1:, :50].std().item() == pytest.approx(INIT_STD, rel=0.05)
    assert torch.allclose(weight[1, :50] / weight[2, :50],
                          torch.from_numpy(vectors[1] / vectors[2]), rtol=1e-4)


def test_unknown_source_is_a_clear_error() -> None:
    with pytest.raises(MapoError, match="unknown embeddings"):
        vectors_root("word2vec")
