"""Our BERT forward pass and tokenizer set-up give what transformers gives for MiniLM."""

from __future__ import annotations

import pytest
import torch

from mapo_cli.learn.bert import Bert
from mapo_cli.learn.contextual import EncoderInput, PretrainedEncoder, package_root

transformers = pytest.importorskip("transformers", reason="transformers is the reference")

INPUTS = [
    EncoderInput(("which", "nation", "won", "the", "most", "gold", "?"),
                 ("nation : Norway (NOR)", "gold : 12", "rank : 1")),
    # unusual words, a literal [SEP], a long word, and columns past the 512 pieces
    EncoderInput(("how", "many", "–", "3–2", "Ökö", "[SEP]", "x" * 30),
                 tuple(f"col{i} : value {i} with some words" for i in range(200))),
]


def test_the_forward_pass_equals_transformers_bert_model() -> None:
    root = package_root("minilm")
    reference = transformers.AutoModel.from_pretrained(root, local_files_only=True).eval()
    ours = Bert.load(root)
    ids = torch.tensor([[101, 2029, 3842, 2180, 102, 3842, 1024, 4634, 102, 0, 0],
                        [101, 2129, 2116, 102, 4010, 1024, 1015, 102, 2751, 1024, 102]])
    mask = (ids != 0).long()
    types = torch.tensor([[0] * 5 + [1] * 6, [0] * 4 + [1] * 7])
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask,
                             token_type_ids=types).last_hidden_state
        got = ours(ids, mask, types)
    assert torch.allclose(got[mask.bool()], expected[mask.bool()], atol=1e-4)


def test_the_encoder_reads_words_as_transformers_tokenizer_does() -> None:
    """Same word pieces, types and word positions, truncated in the columns."""
    reference = transformers.AutoTokenizer.from_pretrained(package_root("minilm"),
                                                           local_files_only=True)
    encoder = PretrainedEncoder("minilm")
    first = [list(i.question) for i in INPUTS]
    second = [[w for c in i.columns for w in [*c.split(), "[SEP]"]] for i in INPUTS]
    expected = reference(first, second, is_split_into_words=True, truncation="only_second",
                         max_length=512)
    got = encoder.tokenizer.encode_batch(list(zip(first, second, strict=True)),
                                         is_pretokenized=True)
    assert len(got[1].ids) == 512
    for b, encoding in enumerate(got):
        assert encoding.ids == expected["input_ids"][b]
        assert encoding.type_ids == expected["token_type_ids"][b]
        assert encoding.word_ids == expected.word_ids(b)
        assert encoding.sequence_ids == expected.sequence_ids(b)


def test_encoded_vectors_do_not_depend_on_the_batch() -> None:
    """Padding in a batch changes nothing: an example's vectors are the same alone."""
    encoder = PretrainedEncoder("minilm")
    together = encoder.encode(INPUTS)
    alone = encoder.encode(INPUTS[:1])
    assert together[0].tokens.shape == (7, 384) and together[0].columns.shape == (3, 384)
    assert abs(together[0].tokens.astype(float) - alone[0].tokens.astype(float)).max() < 2e-3
