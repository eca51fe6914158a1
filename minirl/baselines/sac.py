"""Lesson 02 · Soft Actor-Critic: the online Bellman-backup learner behind the HalfCheetah datasets.

Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications". SAC learns a stochastic policy
pi(a|s) and two critics Q1, Q2 from its own replay buffer. Every update is one Bellman backup:

    y = r + gamma * (1 - done) * ( min_i Q_i'(s', a') - alpha * log pi(a'|s') ),   a' ~ pi(.|s')

Critics regress onto y; the actor maximises  E[ min_i Q_i(s, a) - alpha * log pi(a|s) ];  the temperature
alpha is tuned so the policy's entropy stays near -|A|. Target critics Q' trail the critics by Polyak
averaging (tau). The replay buffer this run fills is also the `halfcheetah-medium-replay` dataset.

Shapes: B batch, O observation size, A action size.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    env_id: str = "HalfCheetah-v5"
    max_episode_steps: int | None = None  # None: the env's own (1000 for HalfCheetah); tests use short episodes
    total_steps: int = 300_000  # environment steps
    learning_starts: int = 5_000  # uniform-random actions before the first update
    buffer_size: int = 1_000_000
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005  # Polyak factor for the target critics
    policy_lr: float = 3e-4
    q_lr: float = 1e-3
    hidden: int = 256
    eval_every: int = 10_000
    eval_episodes: int = 5
    num_envs: int = 1  # vectorized envs used to collect experience
    seed: int = 1


LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def mlp(inp: int, out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inp, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, out))


class Critic(nn.Module):
    """Q(s, a) -> scalar."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256):
        super().__init__()
        self.net = mlp(obs_dim + act_dim, 1, hidden)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, act], -1)).squeeze(-1)  # (B,)


class Actor(nn.Module):
    """Squashed Gaussian policy: a = tanh(mu + sigma * eps), rescaled to the action box."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256, act_low=-1.0, act_high=1.0):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, act_dim)
        self.log_std = nn.Linear(hidden, act_dim)
        low, high = torch.as_tensor(act_low, dtype=torch.float32), torch.as_tensor(act_high, dtype=torch.float32)
        self.register_buffer("act_scale", ((high - low) / 2).expand(act_dim).clone())
        self.register_buffer("act_bias", ((high + low) / 2).expand(act_dim).clone())

    def forward(self, obs: torch.Tensor):
        h = self.trunk(obs)
        log_std = self.log_std(h).clamp(LOG_STD_MIN, LOG_STD_MAX)
        return self.mu(h), log_std

    def sample(self, obs: torch.Tensor):
        """Returns (action, log_prob, deterministic_action); shapes (B, A), (B,), (B, A)."""
        mu, log_std = self(obs)
        normal = torch.distributions.Normal(mu, log_std.exp())
        u = normal.rsample()
        y = torch.tanh(u)
        # change of variables for the tanh squash: log pi(a) = log N(u) - sum log(scale * (1 - tanh(u)^2))
        log_prob = normal.log_prob(u) - torch.log(self.act_scale * (1 - y.pow(2)) + 1e-6)
        action = y * self.act_scale + self.act_bias
        return action, log_prob.sum(-1), torch.tanh(mu) * self.act_scale + self.act_bias

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """numpy (N, O) -> numpy (N, A); the behaviour policies use deterministic=False (as D4RL did)."""
        action, _, mean_action = self.sample(torch.as_tensor(obs, dtype=torch.float32))
        return (mean_action if deterministic else action).numpy()


class ReplayBuffer:
    """Flat arrays in insertion order, so the buffer itself can be saved as a dataset."""

    def __init__(self, size: int, obs_dim: int, act_dim: int):
        self.obs = np.zeros((size, obs_dim), np.float32)
        self.next_obs = np.zeros((size, obs_dim), np.float32)
        self.actions = np.zeros((size, act_dim), np.float32)
        self.rewards = np.zeros(size, np.float32)
        self.terminations = np.zeros(size, bool)
        self.truncations = np.zeros(size, bool)
        self.env_index = np.zeros(size, np.int16)  # which vectorized env the row came from
        self.n = 0

    def add(self, obs, action, reward, next_obs, terminated, truncated, env_index):
        for i in range(len(obs)):
            k = self.n % len(self.obs)
            self.obs[k], self.actions[k], self.rewards[k], self.next_obs[k] = obs[i], action[i], reward[i], next_obs[i]
            self.terminations[k], self.truncations[k], self.env_index[k] = terminated[i], truncated[i], env_index[i]
            self.n += 1

    def sample(self, batch_size: int, rng: np.random.Generator):
        idx = rng.integers(0, min(self.n, len(self.obs)), batch_size)
        as_t = lambda x: torch.as_tensor(x[idx])  # noqa: E731
        dones = as_t(self.terminations).float()
        return as_t(self.obs), as_t(self.actions), as_t(self.rewards), as_t(self.next_obs), dones


def critic_loss(batch, actor: Actor, q1, q2, q1_target, q2_target, log_alpha, gamma: float) -> torch.Tensor:
    """The soft Bellman backup: both critics regress onto y = r + gamma (1 - done) (min Q'(s', a') - alpha log pi).

    batch: obs (B, O), actions (B, A), rewards (B,), next_obs (B, O), dones (B,) (terminations only: a time-limit
    truncation is not an end of the MDP, so its value is still bootstrapped).
    """
    obs, actions, rewards, next_obs, dones = batch
    with torch.no_grad():
        next_a, next_logp, _ = actor.sample(next_obs)
        q_next = torch.min(q1_target(next_obs, next_a), q2_target(next_obs, next_a))
        target = rewards + gamma * (1 - dones) * (q_next - log_alpha.exp() * next_logp)  # the Bellman backup
    return F.mse_loss(q1(obs, actions), target) + F.mse_loss(q2(obs, actions), target)


@torch.no_grad()
def evaluate_policy(actor: Actor, env_id: str, episodes: int, seed: int, deterministic: bool = True,
                    max_episode_steps: int | None = None):
    """Runs `episodes` episodes in parallel; returns the list of undiscounted returns."""
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(env_id, max_episode_steps=max_episode_steps)
                                     for _ in range(episodes)])
    obs, _ = envs.reset(seed=seed)
    returns, done = np.zeros(episodes), np.zeros(episodes, bool)
    while not done.all():
        obs, reward, term, trunc, _ = envs.step(actor.act(obs, deterministic))
        returns += reward * ~done
        done |= term | trunc
    envs.close()
    return returns.tolist()


def save_buffer(buffer: ReplayBuffer, path: Path):
    """Writes the filled part of the buffer atomically (tmp file, then rename)."""
    n = min(buffer.n, len(buffer.obs))
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, obs=buffer.obs[:n], actions=buffer.actions[:n], rewards=buffer.rewards[:n],
                        next_obs=buffer.next_obs[:n], terminations=buffer.terminations[:n],
                        truncations=buffer.truncations[:n], env_index=buffer.env_index[:n])
    tmp.replace(path)


def train(cfg: Config, out_dir: str | Path, snapshot_every: int = 10_000, buffer_every: int = 50_000, progress=None):
    """Trains SAC; writes metrics.jsonl, policy snapshots policy_<step>.pt and the replay buffer to out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    make = lambda: gym.make(cfg.env_id, max_episode_steps=cfg.max_episode_steps)
    envs = gym.vector.SyncVectorEnv([make for _ in range(cfg.num_envs)])
    envs.action_space.seed(cfg.seed)
    obs_dim = envs.single_observation_space.shape[0]
    act_dim = envs.single_action_space.shape[0]
    low, high = envs.single_action_space.low, envs.single_action_space.high
    actor = Actor(obs_dim, act_dim, cfg.hidden, low, high)
    q1, q2 = Critic(obs_dim, act_dim, cfg.hidden), Critic(obs_dim, act_dim, cfg.hidden)
    q1_target, q2_target = Critic(obs_dim, act_dim, cfg.hidden), Critic(obs_dim, act_dim, cfg.hidden)
    q1_target.load_state_dict(q1.state_dict())
    q2_target.load_state_dict(q2.state_dict())
    q_opt = torch.optim.Adam(list(q1.parameters()) + list(q2.parameters()), lr=cfg.q_lr)
    pi_opt = torch.optim.Adam(actor.parameters(), lr=cfg.policy_lr)
    target_entropy = -float(act_dim)
    log_alpha = torch.zeros(1, requires_grad=True)
    a_opt = torch.optim.Adam([log_alpha], lr=cfg.q_lr)
    buffer = ReplayBuffer(min(cfg.buffer_size, cfg.total_steps), obs_dim, act_dim)

    obs, _ = envs.reset(seed=cfg.seed)
    ep_return, start = np.zeros(cfg.num_envs), time.time()
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    metrics = open(out / "metrics.jsonl", "a")
    step, last = 0, {}
    just_reset = np.zeros(cfg.num_envs, bool)
    while step < cfg.total_steps:
        if step < cfg.learning_starts:
            actions = envs.action_space.sample()
        else:
            actions = actor.act(obs)
        next_obs, rewards, term, trunc, _ = envs.step(actions)
        # Gymnasium's vector env resets an env on the step AFTER its episode ended (that step ignores the action and
        # returns the first observation of the next episode): such rows are not transitions, so they are skipped.
        real = ~just_reset
        buffer.add(obs[real], actions[real], rewards[real], next_obs[real], term[real], trunc[real],
                   np.flatnonzero(real))
        ep_return += rewards
        for i in np.flatnonzero(term | trunc):
            last["episode_return"] = float(ep_return[i])
            ep_return[i] = 0
        obs, just_reset = next_obs, term | trunc
        step += cfg.num_envs

        if step >= cfg.learning_starts:
            for _ in range(cfg.num_envs):  # one gradient update per environment step
                batch = buffer.sample(cfg.batch_size, rng)
                q_loss = critic_loss(batch, actor, q1, q2, q1_target, q2_target, log_alpha, cfg.gamma)
                q_opt.zero_grad()
                q_loss.backward()
                q_opt.step()
                a, logp, _ = actor.sample(batch[0])
                actor_loss = (log_alpha.exp().detach() * logp - torch.min(q1(batch[0], a), q2(batch[0], a))).mean()
                pi_opt.zero_grad()
                actor_loss.backward()
                pi_opt.step()
                alpha_loss = -(log_alpha.exp() * (logp.detach() + target_entropy)).mean()
                a_opt.zero_grad()
                alpha_loss.backward()
                a_opt.step()
                with torch.no_grad():
                    for net, target_net in ((q1, q1_target), (q2, q2_target)):
                        for p, tp in zip(net.parameters(), target_net.parameters()):
                            tp.mul_(1 - cfg.tau).add_(cfg.tau * p)
            last.update(critic_loss=q_loss.item(), actor_loss=actor_loss.item(), alpha=log_alpha.exp().item())

        if step % snapshot_every == 0:
            torch.save(actor.state_dict(), out / f"policy_{step}.pt")
        if step % cfg.eval_every == 0:
            rets = evaluate_policy(actor, cfg.env_id, cfg.eval_episodes, seed=10_000 + step,
                                   max_episode_steps=cfg.max_episode_steps)
            row = dict(step=step, eval_return_mean=float(np.mean(rets)), eval_return_std=float(np.std(rets)),
                       wall_s=time.time() - start, **last)
            metrics.write(json.dumps(row) + "\n")
            metrics.flush()
            if progress:
                progress(row)
        if step % buffer_every == 0:
            save_buffer(buffer, out / "replay_buffer.npz")
    metrics.close()
    save_buffer(buffer, out / "replay_buffer.npz")
    torch.save(actor.state_dict(), out / "policy_final.pt")
    return actor
