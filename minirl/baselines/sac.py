"""Lesson 02 · Soft Actor-Critic: the online Bellman-backup learner behind the HalfCheetah datasets.

Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications". SAC learns a stochastic policy
pi(a|s) and two critics Q1, Q2 from its own replay buffer. Every update is one Bellman backup:

    y = r + gamma * (1 - done) * ( min_i Q_i'(s', a') - alpha * log pi(a'|s') ),   a' ~ pi(.|s')

Critics regress onto y; the actor maximises  E[ min_i Q_i(s, a) - alpha * log pi(a|s) ];  the temperature
alpha is tuned so the policy's entropy stays near -|A|. Target critics Q' trail the critics by Polyak
averaging (tau). The replay buffer this run fills is also the `halfcheetah-medium-replay` dataset.

Speed (one CPU core): the target's actor pass runs without autograd, the critics' weights are frozen (not just
detached) during the actor loss so no weight gradients are computed, Adam is the fused kernel and
the Polyak step one multi-tensor `lerp_`. A run resumes exactly:
`checkpoint/` holds networks, optimizers, temperature, replay buffer, every RNG and every environment's MuJoCo
state, written atomically every 10k steps.

Shapes: B batch, O observation size, A action size.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np
import torch
import torch.nn as nn

from minirl.envs import quiet
from minirl.evaluate import EnvLoop, PolicyAgent
from minirl.runs import truncate_metrics


@dataclass
class Config:
    env_id: str = "HalfCheetah-v5"
    # None: the env's own (1000 for HalfCheetah); tests use short episodes
    max_episode_steps: int | None = None
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
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def mlp(inp: int, out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inp, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, out),
    )


class Critic(nn.Module):
    """Q(s, a) -> scalar (one critic; CQL uses a pair of these)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256):
        super().__init__()
        self.net = mlp(obs_dim + act_dim, 1, hidden)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, act], -1)).squeeze(-1)  # (B,)


class Actor(nn.Module):
    """Squashed Gaussian policy: a = tanh(mu + sigma * eps), rescaled to the action box."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256, act_low=-1.0, act_high=1.0):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.mu = nn.Linear(hidden, act_dim)
        self.log_std = nn.Linear(hidden, act_dim)
        low, high = (
            torch.as_tensor(act_low, dtype=torch.float32),
            torch.as_tensor(act_high, dtype=torch.float32),
        )
        self.register_buffer("act_scale", ((high - low) / 2).expand(act_dim).clone())
        self.register_buffer("act_bias", ((high + low) / 2).expand(act_dim).clone())

    def forward(self, obs: torch.Tensor):
        h = self.trunk(obs)
        log_std = self.log_std(h).clamp(LOG_STD_MIN, LOG_STD_MAX)
        return self.mu(h), log_std

    def sample(self, obs: torch.Tensor):
        """Returns (action, log_prob, deterministic_action); shapes (B, A), (B,), (B, A)."""
        mu, log_std = self(obs)
        eps = torch.randn_like(mu)
        u = mu + log_std.exp() * eps  # reparameterised: gradients reach mu and log_std
        y = torch.tanh(u)
        # log N(u; mu, sigma) written out, then the tanh squash's change of variables: - sum log(scale (1 - tanh^2))
        log_prob = (
            -0.5 * eps.pow(2)
            - log_std
            - HALF_LOG_2PI
            - torch.log(self.act_scale * (1 - y.pow(2)) + 1e-6)
        )
        action = y * self.act_scale + self.act_bias
        return action, log_prob.sum(-1), torch.tanh(mu) * self.act_scale + self.act_bias

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """numpy (N, O) -> numpy (N, A); the behaviour policies use deterministic=False (as D4RL did).

        deterministic=True is tanh(mu) and draws no random numbers, so evaluating never moves torch's generator.
        """
        obs = torch.as_tensor(obs, dtype=torch.float32)
        if deterministic:
            return (torch.tanh(self(obs)[0]) * self.act_scale + self.act_bias).numpy()
        return self.sample(obs)[0].numpy()


class ReplayBuffer:
    """Flat arrays in insertion order, so the buffer itself can be saved as a dataset."""

    FIELDS = ("obs", "actions", "rewards", "next_obs", "terminations", "truncations", "env_index")

    def __init__(self, size: int, obs_dim: int, act_dim: int):
        self.obs = np.zeros((size, obs_dim), np.float32)
        self.next_obs = np.zeros((size, obs_dim), np.float32)
        self.actions = np.zeros((size, act_dim), np.float32)
        self.rewards = np.zeros(size, np.float32)
        self.terminations = np.zeros(size, bool)
        self.truncations = np.zeros(size, bool)
        self.env_index = np.zeros(size, np.int16)  # which vectorized env the row came from
        self.n = 0  # rows ever added (the buffer overwrites its oldest rows once n > size)

    def add(self, obs, action, reward, next_obs, terminated, truncated, env_index):
        k = (self.n + np.arange(len(obs))) % len(self.obs)
        for name, value in zip(
            self.FIELDS, (obs, action, reward, next_obs, terminated, truncated, env_index)
        ):
            getattr(self, name)[k] = value
        self.n += len(obs)

    def sample(self, batch_size: int, rng: np.random.Generator):
        idx = rng.integers(0, min(self.n, len(self.obs)), batch_size)
        as_t = lambda x: torch.from_numpy(x[idx])  # noqa: E731
        dones = as_t(self.terminations).float()
        return as_t(self.obs), as_t(self.actions), as_t(self.rewards), as_t(self.next_obs), dones

    def arrays(self) -> dict[str, np.ndarray]:
        n = min(self.n, len(self.obs))
        return {name: getattr(self, name)[:n] for name in self.FIELDS}


def critic_loss(
    batch, next_a, next_logp, critics: nn.ModuleList, targets: nn.ModuleList, alpha, gamma: float
):
    """The soft Bellman backup: both critics regress onto y = r + gamma (1 - done) (min Q'(s', a') - alpha log pi).

    batch: obs (B, O), actions (B, A), rewards (B,), next_obs (B, O), dones (B,) (terminations only: a time-limit
    truncation is not an end of the MDP, so its value is still bootstrapped).
    next_a (B, A), next_logp (B,): a' ~ pi(.|s') and its log-probability. Returns MSE(Q1, y) + MSE(Q2, y).
    """
    obs, actions, rewards, next_obs, dones = batch
    with torch.no_grad():
        q_next = torch.min(targets[0](next_obs, next_a), targets[1](next_obs, next_a))  # (B,)
        target = rewards + gamma * (1 - dones) * (q_next - alpha * next_logp)  # the Bellman backup
    return sum((q(obs, actions) - target).pow(2).mean() for q in critics)


class SAC:
    """The learner's state: actor, two critics and their targets, temperature, three optimizers."""

    def __init__(self, cfg: Config, obs_dim: int, act_dim: int, low, high):
        self.cfg = cfg
        self.actor = Actor(obs_dim, act_dim, cfg.hidden, low, high)
        # Q1, Q2
        self.critic = nn.ModuleList([Critic(obs_dim, act_dim, cfg.hidden) for _ in range(2)])
        self.critic_target = nn.ModuleList([Critic(obs_dim, act_dim, cfg.hidden) for _ in range(2)])
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.log_alpha = torch.zeros(1, requires_grad=True)
        self.target_entropy = -float(act_dim)
        adam = dict(fused=True)  # one fused kernel per step, not a Python loop over parameters
        self.q_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.q_lr, **adam)
        self.pi_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.policy_lr, **adam)
        self.a_opt = torch.optim.Adam([self.log_alpha], lr=cfg.q_lr, **adam)

    def update(self, batch) -> dict[str, float]:
        """One gradient step on critics, actor and temperature. Returns the three losses (as tensors)."""
        obs, next_obs = batch[0], batch[3]
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            # a' ~ pi(.|s') for the Bellman target
            next_a, next_logp, _ = self.actor.sample(next_obs)
        q_loss = critic_loss(
            batch, next_a, next_logp, self.critic, self.critic_target, alpha, self.cfg.gamma
        )
        self.q_opt.zero_grad(set_to_none=True)
        q_loss.backward()
        self.q_opt.step()

        # the actor loss moves only the actor: no weight gradients for Q
        self.critic.requires_grad_(False)
        a_pi, logp_pi, _ = self.actor.sample(obs)  # reparameterised, so gradients reach the actor
        actor_loss = (
            alpha * logp_pi - torch.min(self.critic[0](obs, a_pi), self.critic[1](obs, a_pi))
        ).mean()
        self.pi_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.pi_opt.step()
        self.critic.requires_grad_(True)

        alpha_loss = -(self.log_alpha.exp() * (logp_pi.detach() + self.target_entropy)).mean()
        self.a_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.a_opt.step()

        with torch.no_grad():  # Polyak: target <- target + tau (online - target)
            torch._foreach_lerp_(
                list(self.critic_target.parameters()), list(self.critic.parameters()), self.cfg.tau
            )
        return dict(critic_loss=q_loss, actor_loss=actor_loss, alpha=alpha)

    def state_dict(self) -> dict:
        return dict(
            actor=self.actor.state_dict(),
            critic=self.critic.state_dict(),
            critic_target=self.critic_target.state_dict(),
            log_alpha=self.log_alpha.detach().clone(),
            q_opt=self.q_opt.state_dict(),
            pi_opt=self.pi_opt.state_dict(),
            a_opt=self.a_opt.state_dict(),
        )

    def load_state_dict(self, state: dict):
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        for name in ("q_opt", "pi_opt", "a_opt"):
            getattr(self, name).load_state_dict(state[name])


@torch.no_grad()
def evaluate_policy(
    actor: Actor,
    env_id: str,
    episodes: int,
    seed: int,
    deterministic: bool = True,
    max_episode_steps: int | None = None,
):
    """Runs `episodes` episodes side by side (env i resets with seed + i; evaluate.EnvLoop) and returns the list of
    undiscounted returns. Every step asks the actor for all envs' actions, finished ones included, so a stochastic
    evaluation draws the same random numbers from torch's generator whichever envs are still running."""
    with quiet():
        envs = [gym.make(env_id, max_episode_steps=max_episode_steps) for _ in range(episodes)]
    loop = EnvLoop(PolicyAgent(lambda obs: actor.act(obs, deterministic)), envs, seed)
    while not loop.done.all():
        loop.step()
    loop.close()
    return loop.returns.tolist()


def save_buffer(buffer: ReplayBuffer, path: Path, compressed: bool = True, **extra):
    """Writes the filled part of the buffer atomically (tmp file, then rename)."""
    tmp = path.with_name(path.stem + ".tmp.npz")
    (np.savez_compressed if compressed else np.savez)(tmp, **buffer.arrays(), **extra)
    tmp.replace(path)


# ---- exact resume: every piece of state the next step depends on ----------------------------------------------


def _rng_state(generator: np.random.Generator) -> dict:
    return generator.bit_generator.state  # plain dict of ints and strings


def env_states(envs: gym.vector.SyncVectorEnv) -> list[dict]:
    """Per env: MuJoCo's full integration state, the env's reset generator and the time limit's step count."""
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    states = []
    for env in envs.envs:
        base = env.unwrapped
        sim = np.empty(mujoco.mj_stateSize(base.model, spec))
        mujoco.mj_getState(base.model, base.data, sim, spec)
        states.append(
            dict(
                sim=torch.from_numpy(sim),
                np_random=_rng_state(base.np_random),
                elapsed=getattr(env, "_elapsed_steps", None),
            )
        )
    return states


def set_env_states(envs: gym.vector.SyncVectorEnv, states: list[dict]):
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    for env, state in zip(envs.envs, states):
        base = env.unwrapped
        mujoco.mj_setState(base.model, base.data, state["sim"].numpy(), spec)
        mujoco.mj_forward(base.model, base.data)
        base.np_random.bit_generator.state = state["np_random"]
        if state["elapsed"] is not None:
            env._elapsed_steps = state["elapsed"]


def save_checkpoint(
    ckpt: Path, learner: SAC, buffer: ReplayBuffer, envs, loop: dict, rng: np.random.Generator
):
    """Buffer first, then state.pt (each atomically): a crash between the two leaves a buffer with extra rows,
    which resume cuts back to the state's row count."""
    ckpt.mkdir(exist_ok=True)
    save_buffer(buffer, ckpt / "buffer.npz", compressed=False, n=np.array(buffer.n))
    state = dict(
        learner=learner.state_dict(),
        torch_rng=torch.get_rng_state(),
        numpy_rng=_rng_state(rng),
        action_space_rng=_rng_state(envs.action_space.np_random),
        envs=env_states(envs),
        autoreset=torch.from_numpy(np.array(envs._autoreset_envs)),
        buffer_n=buffer.n,
        **loop,
    )
    tmp = ckpt / "state.tmp.pt"
    torch.save(state, tmp)
    tmp.replace(ckpt / "state.pt")


def load_checkpoint(
    ckpt: Path, learner: SAC, buffer: ReplayBuffer, envs, rng: np.random.Generator
) -> dict:
    state = torch.load(ckpt / "state.pt", weights_only=True)
    learner.load_state_dict(state.pop("learner"))
    torch.set_rng_state(state.pop("torch_rng"))
    rng.bit_generator.state = state.pop("numpy_rng")
    envs.action_space.np_random.bit_generator.state = state.pop("action_space_rng")
    set_env_states(envs, state.pop("envs"))
    envs._autoreset_envs = state.pop("autoreset").numpy().copy()
    n = state.pop("buffer_n")
    with np.load(ckpt / "buffer.npz") as saved:
        stored, rows = int(saved["n"]), len(saved["obs"])
        if stored < n or (stored > n and stored > len(buffer.obs)):
            raise ValueError(
                f"{ckpt}: the replay buffer ({stored} rows) does not match the state ({n} rows)"
            )
        keep = min(n, len(buffer.obs))
        if rows < keep:
            raise ValueError(f"{ckpt}/buffer.npz holds {rows} rows, the state needs {keep}")
        for name in ReplayBuffer.FIELDS:
            getattr(buffer, name)[:keep] = saved[name][:keep]
    buffer.n = n
    return state


def train(
    cfg: Config,
    out_dir: str | Path,
    snapshot_every: int = 10_000,
    buffer_every: int = 50_000,
    checkpoint_every: int = 10_000,
    resume: bool = False,
    progress=None,
    stop_after: int | None = None,
):
    """Trains SAC; writes metrics.jsonl, policy snapshots policy_<step>.pt, the replay buffer and checkpoint/.

    resume=True continues the run in out_dir from checkpoint/ exactly (the same numbers as never stopping).
    stop_after: return once this many env steps are done (a pause; resume continues).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # small matmuls: one thread is fastest, and runs stay reproducible
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    with quiet():
        envs = gym.vector.SyncVectorEnv(
            [
                lambda: gym.make(cfg.env_id, max_episode_steps=cfg.max_episode_steps)
                for _ in range(cfg.num_envs)
            ]
        )
    envs.action_space.seed(cfg.seed)
    obs_dim = envs.single_observation_space.shape[0]
    act_dim = envs.single_action_space.shape[0]
    learner = SAC(
        cfg, obs_dim, act_dim, envs.single_action_space.low, envs.single_action_space.high
    )
    buffer = ReplayBuffer(min(cfg.buffer_size, cfg.total_steps), obs_dim, act_dim)

    obs, _ = envs.reset(seed=cfg.seed)
    loop = dict(
        step=0,
        obs=torch.from_numpy(obs),
        just_reset=torch.zeros(cfg.num_envs, dtype=torch.bool),
        ep_return=torch.zeros(cfg.num_envs, dtype=torch.float64),
        last={},
        wall_s=0.0,
    )
    if resume:
        loop = load_checkpoint(out / "checkpoint", learner, buffer, envs, rng)
        # rows past the checkpoint are written again
        truncate_metrics(out / "metrics.jsonl", loop["step"])
    else:
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
        (out / "metrics.jsonl").write_text("")
    step, last, wall0 = loop["step"], loop["last"], loop["wall_s"]
    obs, just_reset, ep_return = (
        loop["obs"].numpy(),
        loop["just_reset"].numpy(),
        loop["ep_return"].numpy(),
    )
    start = time.time()
    metrics = open(out / "metrics.jsonl", "a")
    actor = learner.actor
    while step < cfg.total_steps and (stop_after is None or step < stop_after):
        if step < cfg.learning_starts:
            actions = envs.action_space.sample()
        else:
            actions = actor.act(obs)
        next_obs, rewards, term, trunc, _ = envs.step(actions)
        # Gymnasium's vector env resets an env on the step AFTER its episode ended (that step ignores the action and
        # returns the first observation of the next episode): such rows are not transitions, so they are skipped.
        real = ~just_reset
        buffer.add(
            obs[real],
            actions[real],
            rewards[real],
            next_obs[real],
            term[real],
            trunc[real],
            np.flatnonzero(real),
        )
        ep_return += rewards
        for i in np.flatnonzero(term | trunc):
            last["episode_return"] = float(ep_return[i])
            ep_return[i] = 0
        obs, just_reset = next_obs, term | trunc
        step += cfg.num_envs

        if step >= cfg.learning_starts:
            for _ in range(cfg.num_envs):  # one gradient update per environment step
                losses = learner.update(buffer.sample(cfg.batch_size, rng))
            last.update({k: float(v.detach()) for k, v in losses.items()})

        if step % snapshot_every == 0:
            torch.save(actor.state_dict(), out / f"policy_{step}.pt")
        if step % cfg.eval_every == 0:
            rets = evaluate_policy(
                actor,
                cfg.env_id,
                cfg.eval_episodes,
                seed=10_000 + step,
                max_episode_steps=cfg.max_episode_steps,
            )
            row = dict(
                step=step,
                eval_return_mean=float(np.mean(rets)),
                eval_return_std=float(np.std(rets)),
                wall_s=wall0 + time.time() - start,
                **last,
            )
            metrics.write(json.dumps(row) + "\n")
            metrics.flush()
            if progress:
                progress(row)
        if step % buffer_every == 0:
            save_buffer(buffer, out / "replay_buffer.npz")
        if step % checkpoint_every == 0 or step == stop_after:
            loop = dict(
                step=step,
                obs=torch.from_numpy(obs.copy()),
                just_reset=torch.from_numpy(just_reset.copy()),
                ep_return=torch.from_numpy(ep_return.copy()),
                last=dict(last),
                wall_s=wall0 + time.time() - start,
            )
            save_checkpoint(out / "checkpoint", learner, buffer, envs, loop, rng)
    metrics.close()
    if step >= cfg.total_steps:
        save_buffer(buffer, out / "replay_buffer.npz")
        torch.save(actor.state_dict(), out / "policy_final.pt")
    envs.close()
    return actor
