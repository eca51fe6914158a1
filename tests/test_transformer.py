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


def test_captured_attention_rows_sum_to_one_and_are_causal(model):
    _, maps = model(torch.randn(2, 7, 16), causal=True, capture_attention=True)
    assert len(maps) == 2 and maps[0].shape == (2, 2, 7, 7)
    for attn in maps:
        torch.testing.assert_close(attn.sum(-1), torch.ones(2, 2, 7))
        assert attn.triu(1).abs().max() == 0


def test_capture_does_not_change_outputs(model):
    x = torch.randn(2, 7, 16)
    y, _ = model(x, causal=False, capture_attention=True)
    torch.testing.assert_close(y, model(x, causal=False))


def test_padding_mask_hides_padded_keys(model):
    x = torch.randn(1, 6, 16)
    pad = torch.tensor([[False, False, True, True, True, True]])
    _, maps = model(x, causal=False, padding_mask=pad, capture_attention=True)
    assert maps[0][0, :, 2:, :2].abs().max() == 0  # real queries never look at padded keys
    y = x.clone()
    y[:, :2] = torch.randn(1, 2, 16)  # changing padded tokens leaves real outputs unchanged
    torch.testing.assert_close(model(x, False, pad)[:, 2:], model(y, False, pad)[:, 2:])
