"""The neural programmer: a seq2seq model with a key-variable memory (Neural Symbolic Machines).

The encoder reads the question; the decoder writes program tokens. Every
token an example's program may use has a *key*: built-ins have learned keys,
`all_rows` a learned key, columns a key from their name's words, question
entities a key from the encoder outputs over their span, and `v<i>` the
decoder output at the step that closed expression i. With `used_tokens`,
a token the program has already used adds a learned key of its kind
(function, `all_rows`, column, entity, variable) to its own: the decoder can
tell the column it filtered on from the one it should read. With a pretrained
encoder (`ModelConfig.encoder`, `contextual.py`) its frozen vectors join the
LSTM's input per question token and the key of every column. A step's
logits are the decoder's query dotted with every key; tokens the
interpreter does not offer get -inf, so the model never puts probability
on an invalid program.

Everything is batched: `encode` runs once per batch of examples,
`decode_step` / `feed` advance all sequences together. Which tokens are
valid, and which slot a closed expression fills, come from the caller
(`mapo_cli.learn.decoding`, which asks the interpreters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mapo_cli.core.errors import MapoError
from mapo_cli.core.ranges import RANGES
from mapo_cli.learn.batch import Batch
from mapo_cli.learn.contextual import WIDTHS, check_encoder
from mapo_cli.learn.features import ENTITY_TYPES, PAD_ID, VIEW_KINDS


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the programmer; saved with every checkpoint (section 5.1 of the paper)."""

    embedding_size: int = 200
    """Width of the trainable word embeddings (question words and column-name words)."""
    hidden_size: int = 200
    """LSTM width of the decoder and of the encoder (both directions together); also the key width."""
    layers: int = 2
    """LSTM layers in the encoder and in the decoder, with skip connections between layers."""
    dropout: float = 0.2
    """Dropout on embeddings, between LSTM layers and on the decoder output (training mode only)."""
    encoder: str = "lstm"
    """`lstm` alone, or a pretrained encoder (`contextual.py`) whose outputs it also reads."""
    used_tokens: bool = False
    """A used token's key gains a learned key of its kind (checkpoints before it: off)."""

    def __post_init__(self) -> None:
        """Sizes within what `mapo train` accepts (core/ranges.py), whoever wrote them: a
        hand-edited sidecar must not ask torch for terabytes."""
        if self.hidden_size not in RANGES["hidden"] or self.hidden_size % 2:
            raise MapoError(f"hidden_size must be {RANGES['hidden'].describe()} and even, "
                            f"not {self.hidden_size}")
        if self.embedding_size not in RANGES["embedding"]:
            raise MapoError(f"embedding_size must be {RANGES['embedding'].describe()}, "
                            f"not {self.embedding_size}")
        if not 1 <= self.layers <= 8 or self.dropout not in RANGES["dropout"]:
            raise MapoError(f"invalid model config {self}")
        check_encoder(self.encoder)

    @property
    def context_width(self) -> int:
        """The width of the pretrained encoder's vectors (0: none)."""
        return WIDTHS.get(self.encoder, 0)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> ModelConfig:
        names = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or set(data) - names:
            raise MapoError(f"not a model config: {data!r}")
        try:
            types = {"dropout": float, "encoder": str, "used_tokens": bool}
            return cls(**{k: types.get(k, int)(v) for k, v in data.items()})
        except (TypeError, ValueError) as error:
            raise MapoError(f"not a model config: {error}") from None


@dataclass
class DecoderState:
    """Everything the next decoder step needs.

    Per example (B rows, shared by all its sequences): encoder outputs and
    fixed keys. Per sequence (N rows): recurrent state, bound variable keys,
    and which example it belongs to. Products between per-example and
    per-sequence tensors are batched matrix products over examples (see
    `Programmer._grouped`), so many programs of one example cost little more
    than one.
    """

    encoded: Tensor  # (B, L, H) encoder outputs
    question_mask: Tensor  # (B, L) bool
    keys: Tensor  # (B, V, H) key of every fixed token; zero at the `v<i>` slots
    first_variable: Tensor  # (B,) token id of v0
    example: Tensor  # (N,) which example each sequence belongs to
    slot: Tensor  # (N,) the sequence's position among its example's sequences
    group_size: int  # the largest number of sequences of one example
    variable_keys: Tensor  # (N, M, H) key of `v<i>` once bound
    h: list[Tensor]  # per decoder layer (N, H)
    c: list[Tensor]
    inputs: Tensor  # (N, H) the key of the previous token (or the start vector)
    kinds: Tensor | None = None  # (B, V) each token's TOKEN_KINDS index (with used_tokens)
    used: Tensor | None = None  # (N, V) bool: tokens the sequence has fed (with used_tokens)

    @property
    def width(self) -> int:
        """Token ids run from 0 to width - 1 (the largest vocabulary in the batch)."""
        return self.keys.shape[1]

    def select(self, index: Tensor | Sequence[int]) -> DecoderState:
        """Sequences `index` (repeats allowed): programs of one example, beams, survivors."""
        index = torch.as_tensor(index, dtype=torch.long, device=self.example.device)
        example = self.example[index]
        slot, group_size = _positions_in_groups(example)
        return dataclasses.replace(
            self, example=example, slot=slot, group_size=group_size,
            variable_keys=self.variable_keys[index], h=[h[index] for h in self.h],
            c=[c[index] for c in self.c], inputs=self.inputs[index],
            used=None if self.used is None else self.used[index])


@dataclass(frozen=True)
class _Groups:
    """Where each sequence sits in `Programmer._grouped`'s batched product: in which copy
    of its example's vectors, and in which column of that copy."""

    owner: Tensor | None  # (copies,) the example of each copy; None: each example once
    copy: Tensor  # (N,) each sequence's copy
    column: Tensor  # (N,)
    copies: int
    width: int  # columns of a copy

    @classmethod
    def of(cls, state: DecoderState) -> _Groups:
        """Each example once, as wide as its largest group; but where that would pad the
        product to over twice the sequences there are (one large memory buffer pads every
        example of a batch to its size), groups are cut into chunks as wide as the mean
        group, each with its own copy of its example's vectors."""
        examples, sequences = state.encoded.shape[0], len(state.example)
        chunk = max(1, -(-sequences // examples))
        if state.group_size <= 2 * chunk:
            return cls(None, state.example, state.slot, examples, state.group_size)
        chunks = -(-state.group_size // chunk)  # at most, per example
        keys, copy = torch.unique(state.example * chunks + state.slot // chunk,
                                  return_inverse=True)
        return cls(keys // chunks, copy, state.slot % chunk, len(keys), chunk)


def _positions_in_groups(example: Tensor) -> tuple[Tensor, int]:
    """For each row, its rank among the rows of the same example; and the largest group."""
    if len(example) == 0:
        return example.clone(), 1
    order = torch.argsort(example, stable=True)
    ordered = example[order]
    first = torch.searchsorted(ordered, ordered)  # index of each group's first row
    slot = torch.empty_like(example)
    slot[order] = torch.arange(len(example), device=example.device) - first
    return slot, int(slot.max()) + 1


@dataclass
class StepOutput:
    log_probs: Tensor  # (N, V): log π(token | prefix), -inf where invalid
    output: Tensor  # (N, H) the decoder output (becomes v<i>'s key when the token is `)`)
    state: DecoderState  # recurrent state advanced; inputs not yet fed


TOKEN_KINDS = ("function", "all_rows", "column", "entity", "variable")
"""What a token is, for the key a used token adds (built-ins are all `function`)."""


class Programmer(nn.Module):
    """Seq2seq with key-variable memory; see the module docstring for the data flow."""

    def __init__(self, config: ModelConfig, n_words: int, n_builtins: int) -> None:
        super().__init__()
        self.config = config
        self.n_words = n_words
        self.n_builtins = n_builtins
        e, h = config.embedding_size, config.hidden_size
        self.drop = nn.Dropout(config.dropout)
        self.word_embedding = nn.Embedding(n_words, e, padding_idx=PAD_ID)
        d = config.context_width
        self.encoder = nn.ModuleList(
            nn.LSTM(e + 1 + (e if d else 0) if layer == 0 else h, h // 2, batch_first=True,
                    bidirectional=True)
            for layer in range(config.layers))
        if d:  # the pretrained vectors, projected beside the word embedding and the column key
            self.context_input = nn.Linear(d, e)
            self.column_context = nn.Linear(d, h)
        self.decoder = nn.ModuleList(nn.LSTMCell(h, h) for _ in range(config.layers))
        self.start_input = nn.Parameter(torch.randn(h) * 0.1)
        self.builtin_keys = nn.Parameter(torch.randn(n_builtins, h) * 0.1)
        self.all_rows_key = nn.Parameter(torch.randn(h) * 0.1)
        self.column_key = nn.Linear(e + 1, h)  # mean name-word embedding + question-word count
        self.column_kind = nn.Embedding(len(VIEW_KINDS), h)
        self.entity_key = nn.Linear(h, h)  # mean encoder output over the span
        self.entity_type = nn.Embedding(len(ENTITY_TYPES), h)
        self.variable_key = nn.Linear(h, h)  # decoder output at the `)` of the expression
        if config.used_tokens:
            self.used_key = nn.Embedding(len(TOKEN_KINDS), h)
        self.attention = nn.Linear(h, h, bias=False)
        self.combine = nn.Linear(2 * h, h)
        self.query = nn.Linear(h, h)
        for table in (self.word_embedding, self.column_kind, self.entity_type,
                      *([self.used_key] if config.used_tokens else [])):
            nn.init.normal_(table.weight, std=0.1)
        with torch.no_grad():
            self.word_embedding.weight[PAD_ID].zero_()

    # ---------------------------------------------------------------- encoder and memory

    @property
    def device(self) -> torch.device:
        """Where the weights are (`device.py`): tensors the model makes are made there."""
        return self.start_input.device

    def encode(self, batch: Batch) -> DecoderState:
        """Run the encoder and build every token's key: one row per example (the batch,
        built on the CPU, moves to the model's device first)."""
        batch = batch.to(self.device)
        parts = [self.word_embedding(batch.words), batch.in_table.unsqueeze(-1)]
        if self.config.context_width:
            parts.append(self.context_input(self._context(batch).context))
        x = torch.cat(parts, dim=-1)
        below: Tensor | None = None
        finals_h, finals_c = [], []
        length = batch.words.shape[1]
        lengths = batch.lengths.cpu()  # packing wants them on the CPU
        for layer in self.encoder:
            packed = pack_padded_sequence(self.drop(x), lengths, batch_first=True,
                                          enforce_sorted=False)
            out, (h, c) = layer(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=length)
            finals_h.append(torch.cat([h[0], h[1]], dim=-1))
            finals_c.append(torch.cat([c[0], c[1]], dim=-1))
            below = out if below is None else out + below  # skip connection
            x = below
        assert below is not None
        device = below.device
        mask = torch.arange(length, device=device).unsqueeze(0) < batch.lengths.unsqueeze(1)
        b = len(batch.lengths)
        variables = max(1, int((batch.vocab_sizes - batch.first_variable).max()))
        keys = self._keys(batch, below)
        used = ({"kinds": self._token_kinds(batch, keys.shape[1]),
                 "used": torch.zeros(b, keys.shape[1], dtype=torch.bool, device=device)}
                if self.config.used_tokens else {})
        return DecoderState(
            encoded=below, question_mask=mask, keys=keys,
            first_variable=batch.first_variable, example=torch.arange(b, device=device),
            slot=torch.zeros(b, dtype=torch.long, device=device), group_size=1,
            variable_keys=below.new_zeros(b, variables, self.config.hidden_size),
            h=finals_h, c=finals_c, inputs=self.start_input.unsqueeze(0).expand(b, -1), **used)

    def _keys(self, batch: Batch, encoded: Tensor) -> Tensor:
        """(B, V, H): built-ins, all_rows, columns, entities; `v<i>` slots start at zero."""
        b, h = encoded.shape[0], self.config.hidden_size
        width = int(batch.vocab_sizes.max())
        rows = torch.arange(b, device=encoded.device)
        positions = [(rows.unsqueeze(1) * width
                      + torch.arange(self.n_builtins, device=encoded.device)).reshape(-1),
                     rows * width + self.n_builtins]
        values = [self.builtin_keys.repeat(b, 1), self.all_rows_key.expand(b, h)]
        if len(batch.column_rows):
            words = batch.column_words
            present = (words != PAD_ID).float().unsqueeze(-1)
            mean = (self.word_embedding(words) * present).sum(1) / present.sum(1).clamp(min=1)
            column = self.column_key(torch.cat([self.drop(mean),
                                                batch.column_counts.unsqueeze(1)], dim=-1))
            if self.config.context_width:
                column = column + self.column_context(self.drop(self._context(batch).column_context))
            positions.append(batch.column_rows * width + batch.column_slots)
            values.append(column + self.column_kind(batch.column_kinds))
        if len(batch.entity_rows):
            steps = torch.arange(encoded.shape[1], device=encoded.device).unsqueeze(0)
            spans = batch.entity_spans
            inside = ((steps >= spans[:, :1]) & (steps < spans[:, 1:])).float()
            weights = inside / inside.sum(1, keepdim=True).clamp(min=1)
            mean = torch.bmm(weights.unsqueeze(1), encoded[batch.entity_rows]).squeeze(1)
            positions.append(batch.entity_rows * width + batch.entity_slots)
            values.append(self.entity_key(mean) + self.entity_type(batch.entity_types))
        keys = encoded.new_zeros(b * width, h).index_put((torch.cat(positions),),
                                                         torch.cat(values))
        return keys.view(b, width, h)

    def _token_kinds(self, batch: Batch, width: int) -> Tensor:
        """(B, V) TOKEN_KINDS index of every token id, in ProgramContext's slot order."""
        ids = torch.arange(width, device=batch.lengths.device).unsqueeze(0)
        kinds = torch.where(ids < self.n_builtins, 0, 4).repeat(len(batch.lengths), 1)
        kinds[:, self.n_builtins] = TOKEN_KINDS.index("all_rows")
        flat = kinds.view(-1)
        flat[batch.column_rows * width + batch.column_slots] = TOKEN_KINDS.index("column")
        flat[batch.entity_rows * width + batch.entity_slots] = TOKEN_KINDS.index("entity")
        return kinds

    def _context(self, batch: Batch) -> Batch:
        if batch.context is None or batch.column_context is None:
            raise MapoError(f"this model reads the {self.config.encoder} encoder's vectors, "
                            "but the batch has none (prepare its examples with a ContextCache)")
        return batch

    # ---------------------------------------------------------------- decoder

    def decode_step(self, state: DecoderState, valid: Tensor) -> StepOutput:
        """One step for all N sequences; `valid` (N, V) bool is the interpreter's offer."""
        x = state.inputs
        below: Tensor | None = None
        hs, cs = [], []
        for layer, cell in enumerate(self.decoder):
            h, c = cell(self.drop(x), (state.h[layer], state.c[layer]))
            hs.append(h)
            cs.append(c)
            below = h if below is None else h + below  # skip connection
            x = below
        assert below is not None
        groups = _Groups.of(state)
        scores = self._grouped(groups, state.encoded, self.attention(below))
        scores = scores.masked_fill(~state.question_mask[state.example], float("-inf"))
        context = self._grouped(groups, state.encoded, torch.softmax(scores, 1), transposed=True)
        output = torch.tanh(self.combine(torch.cat([below, context], dim=-1)))
        query = self.query(self.drop(output))
        logits = self._grouped(groups, state.keys, query)
        variable_logits = torch.bmm(state.variable_keys, query.unsqueeze(2)).squeeze(2)
        logits = logits.scatter_add(1, self._variable_positions(state), variable_logits)
        if state.used is not None and state.kinds is not None:
            # query · (key + used_key[kind]) for the tokens already used
            by_kind = query @ self.used_key.weight.T  # (N, kinds)
            logits = logits + by_kind.gather(1, state.kinds[state.example]) * state.used
        log_probs = torch.log_softmax(logits.masked_fill(~valid, float("-inf")), dim=-1)
        return StepOutput(log_probs, output, dataclasses.replace(state, h=hs, c=cs))

    @staticmethod
    def _grouped(groups: _Groups, per_example: Tensor, vectors: Tensor,
                 transposed: bool = False) -> Tensor:
        """(N, X): per_example[example[n]] @ vectors[n] for every sequence n, or with
        `transposed` per_example[example[n]].T @ vectors[n].

        One batched matrix product over examples (sequences of one example
        side by side, as `groups` lays them out), instead of N matrix-vector
        products on copies. Copies are transposed after they are made, so the
        product sees the same layout, and sums in the same order, either way.
        """
        grouped = vectors.new_zeros(groups.copies, groups.width, vectors.shape[1])
        grouped = grouped.index_put((groups.copy, groups.column), vectors)
        source = per_example if groups.owner is None else per_example[groups.owner]
        if transposed:
            source = source.transpose(1, 2)
        return torch.bmm(source, grouped.transpose(1, 2))[groups.copy, :, groups.column]

    @staticmethod
    def _variable_positions(state: DecoderState) -> Tensor:
        """(N, M) token id of each v<i>; slots past an example's vocabulary hold a zero key,
        so clamping them onto some column adds nothing there."""
        offsets = torch.arange(state.variable_keys.shape[1],
                               device=state.example.device).unsqueeze(0)
        first = state.first_variable[state.example].unsqueeze(1)
        return (first + offsets).clamp(max=state.width - 1)

    def feed(self, state: DecoderState, tokens: Tensor, output: Tensor,
             variable_slots: Tensor) -> DecoderState:
        """Feed the chosen tokens; a `)` stores the step's output as key of slot `v<i>`.

        `variable_slots` (N,) holds the token id of the variable a `)` binds, -1 elsewhere.
        """
        variable_keys = state.variable_keys
        count = variable_keys.shape[1]
        first = state.first_variable[state.example]
        if bool((variable_slots >= 0).any()):
            bind = (torch.arange(count, device=first.device).unsqueeze(0)
                    == (variable_slots - first).unsqueeze(1)) & (
                variable_slots >= 0).unsqueeze(1)
            variable_keys = torch.where(bind.unsqueeze(-1), self.variable_key(output).unsqueeze(1),
                                        variable_keys)
        # A fixed token's key, or (its fixed key being zero) a bound variable's key.
        fixed = state.keys.reshape(-1, state.keys.shape[2])
        index = tokens - first
        is_variable = ((index >= 0) & (index < count)).unsqueeze(1)
        rows = torch.arange(len(tokens), device=first.device)
        bound = variable_keys[rows, index.clamp(0, count - 1)]
        inputs = fixed.index_select(0, state.example * state.width + tokens) + torch.where(
            is_variable, bound, torch.zeros_like(bound))
        used = state.used
        if used is not None:
            used = used.clone()
            used[rows, tokens] = True
        return dataclasses.replace(state, variable_keys=variable_keys, inputs=inputs, used=used)
