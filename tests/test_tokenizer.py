"""The shared tokenizer: return-to-go, discretizer round trips, BabyAI encoding, windows."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from minirl.tokenizer import (
    BABYAI_STATE_SIZE,
    MISSION_LEN,
    MISSION_VOCAB,
    Discretizer,
    Normalizer,
    Tokenizer,
    encode_babyai,
    mission_ids,
    returns_to_go,
    sample_windows,
    stack_episodes,
)

finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@given(arrays(np.float32, st.integers(1, 50), elements=finite), st.sampled_from([1.0, 0.99, 0.5]))
def test_returns_to_go_satisfies_the_backward_recursion(rewards, gamma):
    rtg = returns_to_go(rewards, gamma)
    assert rtg.shape == rewards.shape
    assert np.isclose(rtg[-1], rewards[-1], atol=1e-3)
    np.testing.assert_allclose(rtg[:-1], rewards[:-1] + gamma * rtg[1:], rtol=1e-4, atol=1e-2)


def test_returns_to_go_undiscounted_is_the_reverse_cumulative_sum():
    np.testing.assert_array_equal(returns_to_go(np.array([1.0, 2.0, 3.0])), [6.0, 5.0, 3.0])


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(20, 200), st.integers(1, 4)), elements=finite),
    st.integers(2, 64),
    st.sampled_from(["uniform", "quantile"]),
)
def test_discretizer_round_trip_error_is_at_most_one_bin_width(x, n_bins, kind):
    d = Discretizer.fit(x, n_bins, kind)
    idx = d.encode(x)
    assert idx.min() >= 0 and idx.max() < n_bins
    err = np.abs(d.decode(idx) - x)  # (N, D)
    width = np.take_along_axis(d.bin_widths().T, idx, axis=0)  # width of the bin each value fell in
    assert np.all(err <= width + 1e-4 * (1 + np.abs(x)))


def test_quantile_bins_hold_equal_mass():
    x = np.random.default_rng(0).exponential(size=(10_000, 1))
    counts = np.bincount(Discretizer.fit(x, 10, "quantile").encode(x)[:, 0], minlength=10)
    assert counts.min() > 900 and counts.max() < 1100


def test_discretizer_clips_values_outside_the_fitted_range():
    d = Discretizer.fit(np.linspace(0, 1, 100)[:, None], 10, "uniform")
    assert d.encode(np.array([[-5.0], [5.0]])).ravel().tolist() == [0, 9]


def test_discretizer_state_dict_round_trip():
    d = Discretizer.fit(np.random.default_rng(1).normal(size=(300, 3)), 7)
    e = Discretizer.from_state_dict(d.state_dict())
    x = np.random.default_rng(2).normal(size=(50, 3))
    np.testing.assert_array_equal(d.encode(x), e.encode(x))
    np.testing.assert_array_equal(d.decode(d.encode(x)), e.decode(e.encode(x)))


@given(arrays(np.float32, st.tuples(st.integers(2, 50), st.integers(1, 5)), elements=finite))
def test_normalizer_round_trip(x):
    n = Normalizer.fit(x)
    np.testing.assert_allclose(n.decode(n.encode(x)), x, rtol=1e-3, atol=1e-2)


def test_every_babyai_mission_word_is_in_the_vocabulary():
    missions = [
        "go to the red ball",
        "pick up a green key in front of you",
        "put the grey box next to the yellow door on your left, then open the blue door",
        "go to a purple ball behind you and pick up the object on your right after you open a door",
    ]
    for m in missions:
        assert MISSION_VOCAB.index("<unk>") not in mission_ids(m).tolist(), m


def test_babyai_encoding_layout():
    image = np.random.default_rng(0).integers(0, 11, (5, 7, 7, 3))
    enc = encode_babyai(image, np.array([0, 1, 2, 3, 0]), "go to the red ball")
    assert enc.shape == (5, BABYAI_STATE_SIZE) and enc.dtype == np.int64
    np.testing.assert_array_equal(enc[:, :147], image.reshape(5, -1))
    np.testing.assert_array_equal(enc[:, 147], [0, 1, 2, 3, 0])
    assert (enc[:, -MISSION_LEN:] == mission_ids("go to the red ball")).all()


def _episode(T, obs_dim=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "observations": rng.normal(size=(T + 1, obs_dim)).astype(np.float32),
        "actions": rng.uniform(-1, 1, (T, 2)).astype(np.float32),
        "rewards": rng.normal(size=T).astype(np.float32),
    }


def test_windows_are_left_padded_and_end_on_real_steps():
    # a single-step episode included
    episodes = [_episode(1, seed=0), _episode(30, seed=1), _episode(5, seed=2)]
    tok = Tokenizer.fit(episodes, "halfcheetah", False, 2, rtg_scale=10.0)
    arrays_ = [tok.episode_arrays(ep) for ep in episodes]
    batch = sample_windows(
        stack_episodes(arrays_), K=8, batch_size=64, rng=np.random.default_rng(0)
    )
    assert batch["states"].shape == (64, 8, 3) and batch["mask"].shape == (64, 8)
    assert batch["mask"][:, -1].all()  # the newest step is always real
    for b in range(64):  # the mask is a suffix: padding only on the left
        m = batch["mask"][b].numpy()
        assert (np.diff(m.astype(int)) >= 0).all()
        assert (batch["states"][b].numpy()[~m] == 0).all()
        t = batch["timesteps"][b].numpy()[m]
        assert (np.diff(t) == 1).all()


def test_windows_sample_episodes_in_proportion_to_length():
    episodes = [_episode(10, seed=0), _episode(90, seed=1)]
    tok = Tokenizer.fit(episodes, "halfcheetah", False, 2)
    arrays_ = [tok.episode_arrays(ep) for ep in episodes]
    batch = sample_windows(
        stack_episodes(arrays_), K=1, batch_size=4000, rng=np.random.default_rng(0)
    )
    from_long = np.isin(batch["states"][:, 0, 0], arrays_[1]["states"][:, 0]).mean()
    assert 0.87 < from_long < 0.93


def test_rtg_in_episode_arrays_is_scaled():
    ep = _episode(4)
    tok = Tokenizer.fit([ep], "halfcheetah", False, 2, rtg_scale=1000.0)
    np.testing.assert_allclose(
        tok.episode_arrays(ep)["rtg"] * 1000.0, returns_to_go(ep["rewards"]), rtol=1e-5
    )


def test_tokenizer_state_dict_round_trip():
    ep = _episode(6)
    tok = Tokenizer.fit([ep], "halfcheetah", False, 2, rtg_scale=1000.0)
    tok.discretizer = Discretizer.fit(ep["observations"], 5)
    again = Tokenizer.from_state_dict(tok.state_dict())
    np.testing.assert_array_equal(again.states(ep), tok.states(ep))
    obs = ep["observations"]
    np.testing.assert_array_equal(again.discretizer.encode(obs), tok.discretizer.encode(obs))
