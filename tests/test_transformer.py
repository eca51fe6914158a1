"""The one transformer block: causality, bidirectionality, the KV cache, attention capture."""

import pytest
import torch

from minirl.transformer import KVCache, Transformer, TransformerConfig


@pytest.fixture
def model():
    torch.manual_seed(0)
    return Transformer(TransformerConfig(n_layer=2, n_head=2, d_model=16, dropout=0.0)).eval()


def test_causal_outputs_do_not_change_when_future_tokens_change(model):
    x = torch.randn(2, 10, 16)
    y = x.clone()
    y[:, 6:] = torch.randn(2, 4, 16)
    torch.testing.assert_close(model(x, causal=True)[:, :6], model(y, causal=True)[:, :6])


def test_bidirectional_outputs_see_future_tokens(model):
    x = torch.randn(2, 10, 16)
    y = x.clone()
    y[:, 9] = torch.randn(2, 16)  # (a constant shift would be erased by LayerNorm)
    assert (model(x, causal=False)[:, 0] - model(y, causal=False)[:, 0]).abs().max() > 1e-4


def test_cached_incremental_decoding_equals_full_forward(model):
    x = torch.randn(3, 12, 16)
    full = model(x, causal=True)
    cache = KVCache(2)
    steps = [model(x[:, :5], causal=True, cache=cache)] + [
        model(x[:, i : i + 1], causal=True, cache=cache) for i in range(5, 12)
    ]
    assert (torch.cat(steps, 1) - full).abs().max() < 1e-5


def test_cache_select_reorders_beams(model):
    x = torch.randn(3, 6, 16)
    cache = KVCache(2)
    model(x[:, :5], causal=True, cache=cache)
    index = torch.tensor([2, 2, 0])
    out = model(x[index, 5:6], causal=True, cache=cache.select(index))
    assert (out - model(x[index], causal=True)[:, 5:6]).abs().max() < 1e-5


def captured(model, *args, **kwargs):
    """model(*args) with attention capture on: (output, the per-layer maps); capture is off again afterwards."""
    model.capture_attention()
    try:
        return model(*args, **kwargs), model.attention_maps()
    finally:
        model.capture_attention(False)


def test_captured_attention_rows_sum_to_one_and_are_causal(model):
    _, maps = captured(model, torch.randn(2, 7, 16), causal=True)
    assert len(maps) == 2 and maps[0].shape == (2, 2, 7, 7)
    for attn in maps:
        torch.testing.assert_close(attn.sum(-1), torch.ones(2, 2, 7))
        assert attn.triu(1).abs().max() == 0


def test_capture_does_not_change_outputs(model):
    x = torch.randn(2, 7, 16)
    y, _ = captured(model, x, causal=False)
    torch.testing.assert_close(y, model(x, causal=False))


def test_capture_is_off_by_default_and_keeps_nothing(model):
    model(torch.randn(2, 7, 16), causal=True)
    assert all(not b.attn.capture and b.attn.probs is None for b in model.blocks)
    with pytest.raises(RuntimeError, match="no attention kept"):
        model.attention_maps()
    captured(model, torch.randn(2, 7, 16), causal=True)  # switched off again: the maps are dropped
    assert all(not b.attn.capture and b.attn.probs is None for b in model.blocks)


@pytest.mark.parametrize("causal", [True, False])
def test_captured_attention_equals_softmax_of_scaled_scores_plus_mask(causal):
    """One layer, two heads, fixed inputs: the kept map equals softmax(q kᵀ / √Dh + mask) recomputed in float64
    from the layer's own weights (LayerNorm, then the q and k rows of qkv), padded key 1 hidden."""
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(n_layer=1, n_head=2, d_model=8, dropout=0.0)).eval()
    block = model.blocks[0]
    with torch.no_grad():  # a non-trivial LayerNorm
        block.ln1.weight.uniform_(0.5, 1.5)
        block.ln1.bias.uniform_(-0.5, 0.5)
    x = torch.randn(1, 5, 8)
    real = torch.tensor([[True, False, True, True, True]])
    _, maps = captured(model, x, causal=causal, padding_mask=real)

    x64 = x[0].double()
    h = (x64 - x64.mean(-1, keepdim=True)) / torch.sqrt(
        x64.var(-1, unbiased=False, keepdim=True) + 1e-5
    )
    h = h * block.ln1.weight.double() + block.ln1.bias.double()  # (T, D)
    W, b = block.attn.qkv.weight.double(), block.attn.qkv.bias.double()  # (3D, D), (3D,)
    q, k = h @ W[:8].T + b[:8], h @ W[8:16].T + b[8:16]  # (T, D) each
    i, j = torch.arange(5)[:, None], torch.arange(5)[None, :]
    visible = ((j <= i) if causal else torch.ones(5, 5, dtype=torch.bool)) & real[0][None, :] | (
        i == j
    )
    mask = torch.zeros(5, 5, dtype=torch.float64).masked_fill(~visible, float("-inf"))
    for head in range(2):
        cols = slice(4 * head, 4 * head + 4)  # Dh = 4
        scores = q[:, cols] @ k[:, cols].T / 2.0 + mask  # √Dh = 2
        expected = torch.exp(scores - scores.max(-1, keepdim=True).values)
        expected = expected / expected.sum(-1, keepdim=True)
        torch.testing.assert_close(maps[0][0, head].double(), expected, atol=1e-6, rtol=1e-5)
    assert (
        maps[0][0, :, [0, 2, 3, 4], 1].abs().max() == 0
    )  # the padded key, hidden from every other query


def test_padding_mask_hides_padded_keys(model):
    x = torch.randn(1, 6, 16)
    pad = torch.tensor([[False, False, True, True, True, True]])
    _, maps = captured(model, x, causal=False, padding_mask=pad)
    assert maps[0][0, :, 2:, :2].abs().max() == 0  # real queries never look at padded keys
    y = x.clone()
    y[:, :2] = torch.randn(1, 2, 16)  # changing padded tokens leaves real outputs unchanged
    torch.testing.assert_close(model(x, False, pad)[:, 2:], model(y, False, pad)[:, 2:])
