"""The shared optimizer setup and learning-rate schedule (minirl/train.py), tested directly: which parameters get
weight decay, that the gradient norm is clipped to cfg.grad_clip, and the lr multiplier at the steps that matter
(0, the end of warmup, the step after it, the middle and the end of a cosine), each against a hand-computed value."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from minirl import dt, tt
from minirl.baselines import iql
from minirl.tokenizer import Discretizer, Normalizer, Tokenizer
from minirl.train import fit, lr_factor, make_optimizer, train_step

# ---------------------------------------------------------------------------------------------- weight decay


def cheetah_tok(discretizer=False):
    tok = Tokenizer("halfcheetah", False, 2, Normalizer(np.zeros(3), np.ones(3)))
    if discretizer:
        tok.discretizer = Discretizer.fit(np.random.default_rng(0).normal(size=(50, 3 + 2 + 2)), 4)
    return tok


def decay_groups(model, weight_decay=0.1):
    opt = make_optimizer(model, 1e-3, weight_decay)
    groups = {g["weight_decay"]: {id(p) for p in g["params"]} for g in opt.param_groups}
    return groups, opt


def names(model, ids):
    return sorted(n for n, p in model.named_parameters() if id(p) in ids)


@pytest.mark.parametrize("algo", ["dt", "tt"])
def test_only_linear_weight_matrices_are_decayed(algo):
    if algo == "dt":
        model = dt.Model(dt.Config(n_layer=1, n_head=1, d_model=8), cheetah_tok())
    else:
        model = tt.Model(
            tt.Config(N=4, n_layer=1, n_head=1, d_model=8, seq_len=2), cheetah_tok(True)
        )
    groups, _ = decay_groups(model, 0.1)
    assert set(groups) == {0.1, 0.0}
    linear_weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    assert groups[0.1] == linear_weights
    every = {id(p) for p in model.parameters()}
    assert (
        groups[0.0] == every - linear_weights
    )  # biases, LayerNorms, embeddings, TT's pos_emb and heads
    no_decay = names(model, groups[0.0])
    assert any(n.endswith(".bias") for n in no_decay)
    assert any("ln" in n and n.endswith(".weight") for n in no_decay)  # LayerNorm gains
    assert any(n.startswith(("embed_timestep", "tok_emb")) for n in no_decay)  # embeddings
    if algo == "tt":
        assert {"pos_emb", "head"} <= set(
            no_decay
        )  # bare parameters are not weight matrices of a Linear
    # by name, for a reader: e.g. DT's attention projection decays, its bias does not
    assert "transformer.blocks.0.attn.qkv.weight" in names(model, groups[0.1])
    assert "transformer.blocks.0.attn.qkv.bias" in no_decay


def test_frozen_target_networks_are_not_given_to_the_optimizer():
    model = iql.Model(iql.Config(hidden=4), cheetah_tok())
    groups, _ = decay_groups(model, 0.1)
    given = set().union(*groups.values())
    frozen = {id(p) for n, p in model.named_parameters() if "target" in n}
    assert frozen and not (given & frozen)
    assert given == {id(p) for p in model.parameters() if p.requires_grad}


def test_weight_decay_shrinks_a_decayed_weight_and_leaves_a_bias():
    """AdamW's decoupled decay: with zero gradient one step multiplies a decayed weight by (1 - lr · wd) exactly and
    leaves an undecayed bias as it was."""
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.fill_(1.0), layer.bias.fill_(1.0)
    opt = make_optimizer(layer, 0.1, 0.5)
    layer.weight.grad, layer.bias.grad = torch.zeros(2, 2), torch.zeros(2)
    opt.step()
    torch.testing.assert_close(layer.weight, torch.full((2, 2), 1 - 0.1 * 0.5))
    torch.testing.assert_close(layer.bias, torch.ones(2))


# ---------------------------------------------------------------------------------------------- clipping


class Quadratic(nn.Module):
    """loss = scale · Σ w: its gradient is `scale` in every entry, norm scale · sqrt(n)."""

    def __init__(self, n=4, scale=1000.0):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(n))
        self.scale, self.after = scale, 0

    def loss(self, batch):
        return self.scale * self.w.sum()

    def after_step(self):
        self.after += 1


@dataclasses.dataclass
class Cfg:
    grad_clip: float


@pytest.mark.parametrize("clip", [1.0, 0.25])
def test_train_step_clips_the_gradient_norm_to_grad_clip(clip):
    model = Quadratic()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    loss = train_step(model, {}, opt, Cfg(clip))
    assert loss.item() == 0.0
    # an SGD step of lr 1 moves w by the clipped gradient: norm `clip` (not 1000 · 2), every entry -clip / 2
    assert model.w.norm().item() == pytest.approx(clip, rel=1e-5)
    torch.testing.assert_close(model.w, torch.full((4,), -clip / 2))
    assert model.after == 1  # the after_step hook (targets' Polyak average) ran once


def test_train_step_leaves_a_gradient_below_the_clip_alone():
    model = Quadratic(scale=0.01)
    train_step(model, {}, torch.optim.SGD(model.parameters(), lr=1.0), Cfg(1.0))
    torch.testing.assert_close(model.w, torch.full((4,), -0.01))


def test_a_non_finite_loss_changes_no_weight():
    model = Quadratic(scale=float("nan"))
    loss = train_step(model, {}, torch.optim.SGD(model.parameters(), lr=1.0), Cfg(1.0))
    assert math.isnan(loss.item()) and (model.w == 0).all() and model.after == 0


# ---------------------------------------------------------------------------------------------- the schedule


@pytest.mark.parametrize(
    "step, factor",
    [
        (0, 0.1),  # warmup 10: (0 + 1) / 10, never 0
        (4, 0.5),
        (9, 1.0),  # the last warmup step reaches the full lr
        (10, 1.0),  # cosine progress 0
        # progress 1/90: 0.1 + 0.45 (1 + cos(pi / 90))
        (11, 0.1 + 0.45 * (1 + math.cos(math.pi / 90))),
        (55, 0.55),  # progress 1/2: 0.1 + 0.45
        (100, 0.1),  # the end: 10% of the lr
    ],
)
def test_cosine_schedule_by_hand(step, factor):
    assert lr_factor(step, 10, 100, "cosine") == pytest.approx(factor, abs=1e-12)


@pytest.mark.parametrize("step, factor", [(0, 0.25), (3, 1.0), (4, 1.0), (5, 1.0), (99, 1.0)])
def test_constant_schedule_by_hand(step, factor):
    assert lr_factor(step, 4, 100, "constant") == pytest.approx(factor, abs=1e-12)


def test_no_warmup_starts_at_the_full_lr():
    assert lr_factor(0, 0, 100, "constant") == 1.0
    assert lr_factor(0, 0, 100, "cosine") == 1.0
    assert lr_factor(50, 0, 100, "cosine") == pytest.approx(0.55)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(1, 1)

    def loss(self, batch):
        return self.layer(batch["x"]).pow(2).mean()


def test_fit_trains_each_step_at_the_scheduled_lr(tmp_path):
    """The lr logged for step k (after k updates) is the one update k used: base lr × lr_factor(k - 1)."""
    cfg = type(
        "Cfg",
        (),
        dict(
            steps=6,
            batch_size=1,
            lr=0.01,
            weight_decay=0.0,
            warmup_steps=2,
            lr_schedule="cosine",
            grad_clip=1.0,
        ),
    )()
    fit(
        Tiny(),
        lambda rng: {"x": torch.ones(1, 1)},
        cfg,
        tmp_path,
        {"algo": "tiny"},
        progress=False,
        log_every=1,
    )
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    # warmup 2 of 6: 0.5, 1; then cosine progress 0, 1/4, 1/2, 3/4 -> 1, 0.1 + 0.45 (1 + cos(pi/4)), 0.55, ...
    expected = [
        0.5,
        1.0,
        1.0,
        0.1 + 0.45 * (1 + math.sqrt(0.5)),
        0.55,
        0.1 + 0.45 * (1 - math.sqrt(0.5)),
    ]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose([r["lr"] for r in rows], [0.01 * f for f in expected], rtol=1e-12)
