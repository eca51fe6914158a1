"""The paths the other tests do not take: real observations through the TT agent's encode/decode, and the last step
of a collected HalfCheetah episode, each checked against an independent route to the same numbers (the training-time
tokens of the same observations; the real env replayed from the episode's recorded seed and actions)."""

from __future__ import annotations

import minari
import numpy as np
import pytest
import torch

from minirl import data, tt
from minirl.envs import get_spec, make_env


def real_episode(steps: int = 40, seed: int = 0) -> dict:
    """A real HalfCheetah-v5 episode of random actions, cut at `steps` (a time limit)."""
    env, rng = make_env("halfcheetah"), np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    observations, actions, rewards = [obs], [], []
    for _ in range(steps):
        action = rng.uniform(-1, 1, 6).astype(np.float32)
        obs, reward, *_ = env.step(action)
        observations.append(obs), actions.append(action), rewards.append(reward)
    return {
        "observations": np.array(observations, np.float32),
        "actions": np.array(actions),
        "rewards": np.array(rewards, np.float32),
        "terminations": np.zeros(steps, bool),
        "truncations": np.arange(steps) == steps - 1,
    }


def test_tt_agent_encodes_real_observations_and_decodes_actions_with_the_right_columns():
    """The agent's state tokens are the training tokens of the same observations (discretizer columns 0..16), its
    actions are the bin values of the action columns (17..22), and the reward it records goes through column 23."""
    ep = real_episode()
    cfg = tt.Config(N=8, n_layer=1, n_head=1, d_model=16, dropout=0.0, seq_len=2)
    tok = tt.make_tokenizer([ep], get_spec("halfcheetah"), cfg)
    torch.manual_seed(0)
    model = tt.Model(cfg, tok)
    agent = tt.Agent(model, tok, beam_width=2, horizon=1, n_expand=2, max_context_transitions=2)
    agent.reset(2)
    steps = [3, 7]
    training_tokens = tt.episode_tokens(ep, tok, cfg)[steps]  # (2, 25) [s, a, r, V]
    states = tok.encode_obs([ep["observations"][t] for t in steps])
    actions = agent.act(states)
    current, action_ids, _ = agent.pending
    np.testing.assert_array_equal(current, training_tokens[:, :17])
    full = training_tokens.copy()
    full[:, 17:23] = action_ids
    np.testing.assert_array_equal(actions, tok.discretizer.decode(full)[:, 17:23])
    assert actions.shape == (2, 6) and np.abs(actions).max() <= 1.0
    agent.observe(ep["rewards"][steps], np.zeros(2, bool))
    # the recorded transition: the state tokens, the plan's action ids, the reward's bin (column 23), V unknown
    np.testing.assert_array_equal(agent.context[:, -1, :17], training_tokens[:, :17])
    np.testing.assert_array_equal(agent.context[:, -1, 17:23], action_ids)
    np.testing.assert_array_equal(agent.context[:, -1, 23], training_tokens[:, 23])
    assert (agent.context[:, -1, 24] == 0).all()
    agent.act(
        tok.encode_obs([ep["observations"][t + 1] for t in steps])
    )  # plans again with that context
    assert agent.context.shape == (2, 1, 25)


def test_tt_agent_keeps_only_the_transitions_that_fit_in_its_view():
    ep = real_episode()
    cfg = tt.Config(N=8, n_layer=1, n_head=1, d_model=16, dropout=0.0, seq_len=3)
    tok = tt.make_tokenizer([ep], get_spec("halfcheetah"), cfg)
    torch.manual_seed(0)
    agent = tt.Agent(
        tt.Model(cfg, tok), tok, beam_width=2, horizon=1, n_expand=1, max_context_transitions=3
    )
    agent.reset(1)
    tokens = tt.episode_tokens(ep, tok, cfg)
    for t in range(4):
        agent.act(tok.encode_obs([ep["observations"][t]]))
        agent.observe(ep["rewards"][t : t + 1], np.zeros(1, bool))
    # a view of 3 transitions holds the 2 most recent past ones next to the current state: steps 2 and 3
    assert agent.context.shape == (1, 2, 25)
    np.testing.assert_array_equal(agent.context[0, :, :17], tokens[2:4, :17])


@pytest.fixture
def datasets_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    monkeypatch.delenv("MINIRL_POLICY_DIR", raising=False)
    return tmp_path


@pytest.mark.parametrize("level", ["random", "medium"])
def test_collected_halfcheetah_episodes_replay_to_their_last_step(datasets_root, level):
    """1003 steps: a full 1000-step episode and a 3-step remainder, collected side by side. Replaying each from its
    recorded reset seed with its recorded actions gives back every observation and reward, the last step's
    included, and each ends in a truncation (HalfCheetah never terminates)."""
    name = f"halfcheetah-{level}"
    data.collect(name, steps=1003, seed=5, progress=False)
    episodes = data.load(name)
    assert [len(ep["rewards"]) for ep in episodes] == [1000, 3]
    dataset = minari.load_dataset(f"minirl/{name}-v0")
    seeds = [int(m["seed"]) for m in dataset.storage.get_episode_metadata(range(2))]
    for ep, seed in zip(episodes, seeds):
        T = len(ep["rewards"])
        assert ep["observations"].shape == (T + 1, 17) and ep["actions"].shape == (T, 6)
        env = make_env("halfcheetah")
        obs, _ = env.reset(seed=seed)
        np.testing.assert_array_equal(ep["observations"][0], obs.astype(np.float32))
        for t in range(T):
            obs, reward, terminated, truncated, _ = env.step(ep["actions"][t])
            np.testing.assert_array_equal(ep["observations"][t + 1], obs.astype(np.float32))
            assert ep["rewards"][t] == np.float32(reward)
        assert truncated == (T == 1000)  # the env's own time limit ends the full episode
        assert ep["truncations"].tolist() == [False] * (T - 1) + [True]
        assert not ep["terminations"].any()
