"""A BERT encoder's forward pass in plain torch, read from a safetensors file.

The frozen encoder only ever runs forward, and `mapo ask` pays for every
import at process start: `transformers` takes about 4 s to import and build
all-MiniLM-L6-v2, this module and the `tokenizers` library a fraction of a
second. The arithmetic is BERT's (post-norm layers, exact GELU, absolute
positions), so the outputs equal `transformers.BertModel`'s
(tests/test_bert.py compares them); the weight names are the ones BERT
checkpoints use.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional


@dataclass(frozen=True)
class BertConfig:
    """What `config.json` of a BERT checkpoint says about the shapes."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def read(cls, path: Path) -> BertConfig:
        settings = json.loads(path.read_text(encoding="utf-8"))
        if settings.get("hidden_act", "gelu") != "gelu" or settings.get(
                "position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: not a BERT with GELU and absolute positions")
        return cls(**{name: settings[name] for name in cls.__dataclass_fields__})


class _Layer(nn.Module):
    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        width, eps = config.hidden_size, config.layer_norm_eps
        self.heads = config.num_attention_heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.attention_out = nn.Linear(width, width)
        self.attention_norm = nn.LayerNorm(width, eps=eps)
        self.intermediate = nn.Linear(width, config.intermediate_size)
        self.out = nn.Linear(config.intermediate_size, width)
        self.out_norm = nn.LayerNorm(width, eps=eps)

    def forward(self, hidden: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        batch, length, width = hidden.shape

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, length, self.heads, width // self.heads).transpose(1, 2)

        q, k, v = split(self.query(hidden)), split(self.key(hidden)), split(self.value(hidden))
        scores = q @ k.transpose(-1, -2) / math.sqrt(width // self.heads) + bias
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, length, width)
        hidden = self.attention_norm(hidden + self.attention_out(context))
        return self.out_norm(hidden + self.out(functional.gelu(self.intermediate(hidden))))


class Bert(nn.Module):
    """BERT's embeddings and layers (no pooler): the last hidden state per position."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        width = config.hidden_size
        self.words = nn.Embedding(config.vocab_size, width)
        self.positions = nn.Embedding(config.max_position_embeddings, width)
        self.types = nn.Embedding(config.type_vocab_size, width)
        self.norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(_Layer(config) for _ in range(config.num_hidden_layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
        hidden = self.norm(self.words(input_ids) + self.positions(positions)
                           + self.types(token_type_ids))
        bias = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(hidden.dtype).min
        for layer in self.layers:
            hidden = layer(hidden, bias)
        return hidden

    @classmethod
    def load(cls, root: Path) -> Bert:
        """The model in `root` (`config.json`, `model.safetensors`), in eval mode."""
        from safetensors.torch import load_file

        model = cls(BertConfig.read(root / "config.json"))
        weights = load_file(str(root / "model.safetensors"))
        model.load_state_dict({ours: weights[theirs] for ours, theirs in _names(model)})
        return model.eval()


def _names(model: Bert) -> list[tuple[str, str]]:
    """Our parameter names and the BERT checkpoint's."""
    pairs = [("words", "embeddings.word_embeddings"),
             ("positions", "embeddings.position_embeddings"),
             ("types", "embeddings.token_type_embeddings"), ("norm", "embeddings.LayerNorm")]
    for i in range(len(model.layers)):
        theirs = f"encoder.layer.{i}."
        pairs += [(f"layers.{i}.query", theirs + "attention.self.query"),
                  (f"layers.{i}.key", theirs + "attention.self.key"),
                  (f"layers.{i}.value", theirs + "attention.self.value"),
                  (f"layers.{i}.attention_out", theirs + "attention.output.dense"),
                  (f"layers.{i}.attention_norm", theirs + "attention.output.LayerNorm"),
                  (f"layers.{i}.intermediate", theirs + "intermediate.dense"),
                  (f"layers.{i}.out", theirs + "output.dense"),
                  (f"layers.{i}.out_norm", theirs + "output.LayerNorm")]
    return [(f"{ours}.{kind}", f"{theirs}.{kind}") for ours, theirs in pairs
            for kind in ("weight", "bias") if not (kind == "bias" and ours in (
                "words", "positions", "types"))]
