"""Hugging Face checkpoints as minirl runs: a `transformers` DecisionTransformerModel becomes a minirl DT run.

`minirl import hf-dt PATH_OR_ID --out runs/NAME --state-mean ... --state-std ...` reads the checkpoint's config and
weights and writes the run folder `minirl train dt` writes (config.json, checkpoint.pt with the tokenizer), so
`minirl eval` and `minirl analyze` take it as it is. The two models are the same DT; where the code differs:

- GPT-2's Conv1D layers store a weight as (in, out), nn.Linear as (out, in): each one is transposed.
- Hugging Face's DT gives its GPT-2 position id 0 at every token, so GPT-2's position table adds one learned
  vector, its row 0 (`wpe[0]`), to every token right after embed_ln. A constant added after a LayerNorm is a
  change of that LayerNorm's bias, so it goes into embed_ln's bias: minirl's DT needs no switch for it.
- the MLP's activation (Hugging Face's DT default is ReLU): `Config.activation` ("gelu" is exact GELU, "gelu_new"
  and "gelu_pytorch_tanh" the tanh approximation, "relu").
- not in the checkpoint, so the user gives them: the state mean/std the model was trained with (its model card
  lists them), the return scale (1000 for the gym checkpoints) and the context length K (20 in the paper).
- what minirl's DT has no switch for (a LayerNorm eps other than 1e-5, actions without tanh, an MLP width other
  than 4D, per-layer attention scaling, cross-attention) is refused in one line, never approximated. The heads that
  predict states and returns are not used to act (the paper trains and acts on actions only) and are dropped.

There is no Trajectory Transformer importer: transformers 5 removed `TrajectoryTransformerModel` (it was deprecated
in 4.x), so no current `transformers` can load such a checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import torch

from minirl import dt, validate
from minirl.envs import get_spec
from minirl.runs import CHECKPOINT_VERSION, atomic_save, atomic_write_text, check_out_folder
from minirl.tokenizer import Normalizer, Tokenizer
from minirl.train import make_optimizer

# Hugging Face's activation_function -> minirl's Config.activation
ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "relu": "relu",
}
# minirl dt.Model parameter -> Hugging Face DecisionTransformerModel parameter, for one Block (i = layer)
BLOCK_NAMES = {
    "ln1": "ln_1",
    "ln2": "ln_2",
    "attn.qkv": "attn.c_attn",
    "attn.proj": "attn.c_proj",
    "mlp.0": "mlp.c_fc",
    "mlp.2": "mlp.c_proj",
}
UNUSED = ("encoder.wte.", "predict_state.", "predict_return.")  # weights minirl's DT does not read
# GPT-2 Conv1D in Hugging Face: weight (in, out)
CONV1D = ("attn.qkv", "attn.proj", "mlp.0", "mlp.2")
SAME_NAMES = (
    "embed_timestep.weight",
    "embed_return.weight",
    "embed_return.bias",
    "embed_state.weight",
    "embed_state.bias",
    "embed_action.weight",
    "embed_action.bias",
    "embed_ln.weight",
    "embed_ln.bias",
    "predict_action.0.weight",
    "predict_action.0.bias",
)


def load_decision_transformer(source: str):
    """The transformers DecisionTransformerModel at `source` (a local folder or a Hub id), in eval mode. A checkpoint
    of another model, or one that lacks weights (transformers would fill them in at random), is refused."""
    try:
        from transformers import AutoConfig, DecisionTransformerModel
    except ImportError:
        raise RuntimeError(
            "importing a Hugging Face checkpoint needs transformers: pip install 'minirl[hf]'"
        ) from None
    model_type = AutoConfig.from_pretrained(source).model_type
    if model_type != "decision_transformer":
        raise ValueError(f"'{source}' holds a {model_type} model, not a DecisionTransformerModel")
    model, info = DecisionTransformerModel.from_pretrained(source, output_loading_info=True)
    missing = sorted(k for k in info["missing_keys"] if not k.startswith(UNUSED))
    if missing:
        raise ValueError(
            f"'{source}' lacks {len(missing)} of the model's weights ({', '.join(missing[:3])}, ...)"
        )
    return model.eval()


def dt_config(hf_config, context_len: int, rtg_scale: float) -> dt.Config:
    """minirl's DT Config for a Hugging Face DecisionTransformerConfig; ValueError for what minirl cannot run."""
    c = hf_config
    unsupported = [
        (
            c.activation_function not in ACTIVATIONS,
            f"activation_function '{c.activation_function}' (minirl has {', '.join(ACTIVATIONS)})",
        ),
        (
            c.layer_norm_epsilon != 1e-5,
            f"layer_norm_epsilon {c.layer_norm_epsilon} (minirl's LayerNorms use 1e-5)",
        ),
        (not c.action_tanh, "action_tanh=False (minirl's continuous actions end in tanh)"),
        (
            c.n_inner not in (None, 4 * c.hidden_size),
            f"n_inner {c.n_inner} (minirl's MLP is 4 x hidden_size)",
        ),
        (
            not c.scale_attn_weights or c.scale_attn_by_inverse_layer_idx,
            "attention scaling other than 1/sqrt(d)",
        ),
        (c.add_cross_attention, "cross-attention"),
    ]
    for refused, what in unsupported:
        if refused:
            raise ValueError(
                f"this DecisionTransformerModel uses {what}; minirl's DT cannot run it"
            )
    values = {
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "d_model": c.hidden_size,
        "dropout": c.resid_pdrop,
        "context_len": context_len,
        "max_timestep": c.max_ep_len,
        "rtg_scale": rtg_scale,
        "activation": ACTIVATIONS[c.activation_function],
    }
    return dt.Config(**validate.config_values(dt.Config, values, "dt", label="checkpoint config "))


def dt_state_dict(hf_state: dict[str, torch.Tensor], n_layer: int) -> dict[str, torch.Tensor]:
    """Hugging Face DecisionTransformerModel weights -> minirl dt.Model weights (Conv1D weights transposed)."""
    out = {name: hf_state[name] for name in SAME_NAMES}
    # LN(x) + wpe[0] = (x - mean) / std * weight + (bias + wpe[0]): the position-0 row, added at every token
    out["embed_ln.bias"] = hf_state["embed_ln.bias"] + hf_state["encoder.wpe.weight"][0]  # (D,)
    for i in range(n_layer):
        for mine, theirs in BLOCK_NAMES.items():
            weight = hf_state[f"encoder.h.{i}.{theirs}.weight"]
            # (out, in)
            out[f"transformer.blocks.{i}.{mine}.weight"] = weight.T if mine in CONV1D else weight
            out[f"transformer.blocks.{i}.{mine}.bias"] = hf_state[f"encoder.h.{i}.{theirs}.bias"]
    out["transformer.ln_f.weight"] = hf_state["encoder.ln_f.weight"]
    out["transformer.ln_f.bias"] = hf_state["encoder.ln_f.bias"]
    return out


def import_decision_transformer(
    source: str,
    out: str | Path,
    state_mean: list[float],
    state_std: list[float],
    rtg_scale: float = 1000.0,
    env: str = "halfcheetah",
    dataset: str | None = None,
    context_len: int = 20,
    overwrite: bool = False,
) -> Path:
    """`minirl import hf-dt`: writes `out`/{config.json, checkpoint.pt}, a DT run of step 0 that load_run reads.

    state_mean/state_std: the observation statistics the checkpoint was trained with (S numbers each); rtg_scale
    divides R̂ before it is embedded; dataset: what `minirl analyze` reads episodes from (default `<env>-medium`).
    """
    from minirl import data

    spec = get_spec(env)
    dataset = dataset or f"{spec.name}-medium"
    if spec.discrete:
        raise ValueError(
            f"Hugging Face's DecisionTransformerModel takes continuous states; '{env}' is not one"
        )
    if data.env_of(dataset) != spec.name:
        raise ValueError(f"--dataset {dataset} is not a dataset of {spec.name}")
    for name, values in (("--state-mean", state_mean), ("--state-std", state_std)):
        if len(values) != spec.obs_dim:
            raise ValueError(
                f"{name} must list {spec.obs_dim} numbers (one per {spec.name} state dimension), "
                f"got {len(values)}"
            )
    if min(state_std) <= 0:
        raise ValueError("--state-std must be positive in every dimension")
    run_dir = Path(out)
    check_out_folder(run_dir, overwrite)
    hf = load_decision_transformer(source)
    c = hf.config
    if (c.state_dim, c.act_dim) != (spec.obs_dim, spec.act_dim):
        raise ValueError(
            f"the checkpoint has state_dim {c.state_dim} and act_dim {c.act_dim}; {spec.name} has "
            f"{spec.obs_dim} and {spec.act_dim}"
        )
    cfg = dt_config(c, context_len, rtg_scale)
    tok = Tokenizer(
        spec.name,
        False,
        spec.act_dim,
        Normalizer(np.array(state_mean), np.array(state_std)),
        rtg_scale=rtg_scale,
        gamma=1.0,
    )
    model = dt.Model(cfg, tok)
    # strict: every minirl weight is given
    model.load_state_dict(dt_state_dict(hf.state_dict(), cfg.n_layer))

    # the keys train.fit writes (with a fresh optimizer at step 0), so everything that reads a run reads this one
    meta = {
        "algo": "dt",
        "dataset": dataset,
        "env": spec.name,
        "seed": 0,
        "config": dataclasses.asdict(cfg),
        "tokenizer": tok.state_dict(),
        "source": f"huggingface:{source}",
    }
    rng = {
        "numpy": np.random.default_rng(0).bit_generator.state,
        "torch": torch.Generator().manual_seed(0).get_state(),
        "python": random.Random(0).getstate(),
    }
    checkpoint = dict(
        meta,
        version=CHECKPOINT_VERSION,
        model=model.state_dict(),
        optimizer=make_optimizer(model, cfg.lr, cfg.weight_decay).state_dict(),
        step=0,
        finished=True,
        train_seconds=0.0,
        rng=rng,
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        run_dir / "config.json",
        json.dumps({k: v for k, v in meta.items() if k != "tokenizer"}, indent=2),
    )
    atomic_save(checkpoint, run_dir / "checkpoint.pt")
    return run_dir
