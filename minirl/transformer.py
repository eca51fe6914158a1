"""The one transformer all three sequence models share: a pre-norm GPT block, causal or bidirectional.

DT and TT run it causally (token t sees tokens <= t); LEAP runs it bidirectionally (every token sees every token).
Two extras the rest of minirl relies on:
- a key/value cache (`KVCache`) so a causal model can decode one token at a time without recomputing the past
  (TT's beam search): feeding tokens one by one through the cache gives the same outputs as one full forward pass;
- attention capture: `capture_attention()` makes every layer keep its last attention probabilities (B, H, T, P+T)
  and the keys its queries could see (as labml's annotated mha.py keeps `self.attn`); `attention_maps()` and
  `attention_mask()` read them. It is off by default: training keeps the fused kernel and keeps nothing.
  `minirl analyze` reads these maps, and each model's `token_layout` (a `TokenLayout`) says which token is which.
  The analyses never recompute attention.

Shapes: B batch, T tokens in this call, P tokens already in the cache, H heads, D width, Dh = D / H.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class TransformerConfig:
    n_layer: int = 3
    n_head: int = 1
    d_model: int = 128
    dropout: float = 0.1
    max_tokens: int = 1024  # longest sequence (for the models' position embeddings)
    # the MLP's: "gelu" (exact), "gelu_tanh" (the approximation GPT-2's code used), "relu"
    activation: str = "gelu"


ACTIVATIONS = {"gelu": nn.GELU, "gelu_tanh": lambda: nn.GELU(approximate="tanh"), "relu": nn.ReLU}


class KVCache:
    """Per-layer keys and values of the tokens seen so far: lists of (B, H, P, Dh) tensors."""

    def __init__(self, n_layer: int):
        self.keys: list[torch.Tensor | None] = [None] * n_layer
        self.values: list[torch.Tensor | None] = [None] * n_layer

    @property
    def length(self) -> int:
        return 0 if self.keys[0] is None else self.keys[0].shape[2]

    def select(self, index: torch.Tensor) -> KVCache:
        """Keeps/reorders/repeats batch rows (beam search: surviving beams, expanded candidates)."""
        out = KVCache(len(self.keys))
        out.keys = [None if k is None else k[index] for k in self.keys]
        out.values = [None if v is None else v[index] for v in self.values]
        return out


@dataclass
class TokenLayout:
    """What each position of a model's token sequence holds, as the model's own `token_layout` exports it.

    types: (T,) the kind of each token: "return", "state", "action", "reward", "value", "mask" (LEAP's [MASK]) or
    "plan" (LEAP's plan tokens that hold an action); steps: (T,) the timestep each token belongs to, counted from
    the sequence's first step; reads: the positions whose outputs give each step's action (its first token), in
    step order."""

    types: list[str]
    steps: list[int]
    reads: list[int]


class SelfAttention(nn.Module):
    """Multi-head self-attention. With `capture` on (off by default) it keeps its last call's attention
    probabilities in `probs` (B, H, T, P+T) and the mask it used in `allowed`; with it off it keeps nothing."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        assert cfg.d_model % cfg.n_head == 0, "d_model must be divisible by n_head"
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.attn_drop = nn.Dropout(cfg.dropout)
        self.resid_drop = nn.Dropout(cfg.dropout)
        self.capture = False
        self.probs: torch.Tensor | None = None
        self.allowed: torch.Tensor | None = None

    def forward(self, x, allowed, cache: KVCache | None = None, layer: int = 0):
        """x (B, T, D); allowed (B|1, 1, T, P+T) bool, True where query may attend key. Returns y (B, T, D)."""
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=2)
        # (B, H, T, Dh)
        q, k, v = (z.view(B, T, self.n_head, D // self.n_head).transpose(1, 2) for z in (q, k, v))
        if cache is not None:
            if cache.keys[layer] is not None:
                k = torch.cat([cache.keys[layer], k], 2)  # (B, H, P+T, Dh)
                v = torch.cat([cache.values[layer], v], 2)
            cache.keys[layer], cache.values[layer] = k, v
        if self.capture:  # explicit softmax so the probabilities can be kept
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (B, H, T, P+T)
            attn = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
            self.probs = attn.detach()
            self.allowed = allowed
            y = self.attn_drop(attn) @ v
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=allowed, dropout_p=self.attn_drop.p if self.training else 0.0
            )
        y = y.transpose(1, 2).reshape(B, T, D)
        return self.resid_drop(self.proj(y))


class Block(nn.Module):
    """x + attn(ln(x)), then x + mlp(ln(x)) (pre-norm, as GPT-2 and nanoGPT)."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.d_model, 4 * cfg.d_model),
            ACTIVATIONS[cfg.activation](),
            nn.Linear(4 * cfg.d_model, cfg.d_model),
            nn.Dropout(cfg.dropout),
        )

    def forward(self, x, allowed, cache=None, layer=0):
        x = x + self.attn(self.ln1(x), allowed, cache, layer)
        return x + self.mlp(self.ln2(x))


class Transformer(nn.Module):
    """A stack of Blocks and a final LayerNorm over already-embedded tokens (the models add their own embeddings)."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.d_model)

    def forward(
        self,
        x: torch.Tensor,
        causal: bool,
        padding_mask: torch.Tensor | None = None,
        cache: KVCache | None = None,
    ):
        """x (B, T, D) -> (B, T, D).

        causal: query i sees keys j <= P + i. padding_mask (B, P+T) bool, True = real token; padded keys are hidden.
        A query always sees itself, so a fully padded row stays finite (its output is ignored by every loss).
        """
        B, T, _ = x.shape
        P = 0 if cache is None else cache.length
        q_pos = torch.arange(P, P + T, device=x.device)[:, None]  # (T, 1) absolute positions
        k_pos = torch.arange(P + T, device=x.device)[None, :]  # (1, P+T)
        allowed = (
            (k_pos <= q_pos) if causal else torch.ones(T, P + T, dtype=torch.bool, device=x.device)
        )
        allowed = allowed[None, None]  # (1, 1, T, P+T)
        if padding_mask is not None:
            allowed = allowed & padding_mask[:, None, None, :]  # (B, 1, T, P+T)
        allowed = allowed | (k_pos == q_pos)[None, None]
        for i, block in enumerate(self.blocks):
            x = block(x, allowed, cache, i)
        return self.ln_f(x)

    def capture_attention(self, on: bool = True) -> None:
        """Every layer keeps (on) or stops keeping and drops (off, the default) its last attention probabilities."""
        for block in self.blocks:
            block.attn.capture = on
            if not on:
                block.attn.probs = block.attn.allowed = None

    def attention_maps(self) -> list[torch.Tensor]:
        """The last forward's attention probabilities, one (B, H, T, P+T) map per layer (row = query, column = key;
        a row sums to 1 over the keys it may see, the others are 0). Needs capture_attention() before that forward."""
        if any(block.attn.probs is None for block in self.blocks):
            raise RuntimeError(
                "no attention kept: call capture_attention() before the forward pass"
            )
        return [block.attn.probs for block in self.blocks]

    def attention_mask(self) -> torch.Tensor:
        """(B|1, 1, T, P+T) bool of the last captured forward: True where a query could attend a key."""
        if self.blocks[0].attn.allowed is None:
            raise RuntimeError(
                "no attention kept: call capture_attention() before the forward pass"
            )
        return self.blocks[0].attn.allowed


def init_weights(module: nn.Module) -> None:
    """GPT-2 style init: normal(0, 0.02) for linear and embedding weights, zero biases, unit LayerNorm."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
