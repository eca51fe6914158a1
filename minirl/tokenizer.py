"""The shared tokenizer: how trajectories become the numbers and tokens all three models read.

Everything here is shared by DT, TT and LEAP (and the baselines); what differs between the models lives in their files.
- `returns_to_go`: R̂_t = sum_{t' >= t} gamma^(t'-t) r_t', the quantity DT conditions on and TT predicts as V.
- `Normalizer`: per-dimension mean/std, fitted on the training set and saved inside the checkpoint.
- `Discretizer`: every dimension cut into N bins (uniform, or quantile so each bin holds equal data mass, as TT does);
  encode maps a value to its bin, decode maps a bin back to a representative value (the bin's mean), so a round trip
  is off by at most one bin width.
- BabyAI observations: the grid, the direction (and in `full` mode the agent's and the goal's cells) and the mission
  words become one int vector (`encode_babyai`), laid out as `BabyAILayout` says, over a fixed vocabulary that
  covers every BabyAI mission word. The observation mode (`egocentric` 7x7 view, or the privileged `full` grid) is
  the dataset's, fitted from its episodes and saved with the tokenizer, so evaluation builds the same vector.
- `Tokenizer`: the fitted pieces for one dataset, with `states()` for a whole episode and `encode_obs()` for live envs.
- `stack_episodes` / `sample_windows`: the episodes end to end as tensors, and fixed-length training windows
  (length K) gathered from them with left padding, padding mask and timesteps.

Shapes: T episode length, N items, D dimensions, B batch, K window length, S state size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# ---------------------------------------------------------------------------------------------- returns-to-go


def returns_to_go(rewards: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    """R̂_t = r_t + gamma * R̂_{t+1}, R̂_T = 0. rewards (T,) -> (T,) float32."""
    rtg = np.zeros(len(rewards), np.float64)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = float(rewards[t]) + gamma * running
        rtg[t] = running
    return rtg.astype(np.float32)


# ---------------------------------------------------------------------------------------------- normalizer


class Normalizer:
    """x -> (x - mean) / std per dimension; std floored so constant dimensions stay finite."""

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        self.mean = np.asarray(mean, np.float32)
        self.std = np.maximum(np.asarray(std, np.float32), 1e-6)

    @classmethod
    def fit(cls, x: np.ndarray) -> Normalizer:
        return cls(x.mean(0), x.std(0))  # x (N, D)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)

    def decode(self, z: np.ndarray) -> np.ndarray:
        return (z * self.std + self.mean).astype(np.float32)

    def state_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_state_dict(cls, d: dict) -> Normalizer:
        return cls(np.array(d["mean"]), np.array(d["std"]))


# ---------------------------------------------------------------------------------------------- discretizer


class Discretizer:
    """Per-dimension bins. `edges` (D, N+1) bin boundaries; `centers` (D, N) the value decode returns.

    uniform: N equal-width bins between each dimension's min and max.
    quantile: edges at the data's quantiles, so every bin holds ~1/N of the data (TT's choice: fine resolution
    where the data is dense). A bin's representative value is the mean of the training values that fell in it.
    """

    def __init__(self, edges: np.ndarray, centers: np.ndarray, kind: str):
        self.edges = np.asarray(edges, np.float64)
        self.centers = np.asarray(centers, np.float32)
        self.kind = kind

    @property
    def n_bins(self) -> int:
        return self.centers.shape[1]

    @classmethod
    def fit(cls, x: np.ndarray, n_bins: int, kind: str = "quantile") -> Discretizer:
        """x (N, D) -> a fitted discretizer with n_bins per dimension."""
        if kind not in ("uniform", "quantile"):
            raise ValueError(f"unknown discretizer kind '{kind}'; valid: uniform, quantile")
        if n_bins < 1:
            raise ValueError("n_bins must be >= 1")
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        qs = np.linspace(0, 1, n_bins + 1)
        if kind == "quantile":
            edges = np.quantile(x, qs, axis=0).T  # (D, N+1)
        else:
            lo, hi = x.min(0), x.max(0)
            edges = lo[:, None] + qs[None, :] * (hi - lo)[:, None]
        centers = (edges[:, :-1] + edges[:, 1:]) / 2
        idx = cls._bin(edges, x)
        # mean of the data inside each bin (falls back to the midpoint if empty)
        for d in range(x.shape[1]):
            sums = np.bincount(idx[:, d], weights=x[:, d], minlength=n_bins)
            counts = np.bincount(idx[:, d], minlength=n_bins)
            filled = counts > 0
            centers[d, filled] = sums[filled] / counts[filled]
        return cls(edges, centers, kind)

    @staticmethod
    def _bin(edges: np.ndarray, x: np.ndarray) -> np.ndarray:
        n_bins = edges.shape[1] - 1
        idx = np.stack(
            [np.searchsorted(edges[d, 1:-1], x[:, d], side="right") for d in range(x.shape[1])], 1
        )
        return np.clip(idx, 0, n_bins - 1)

    def encode(self, x: np.ndarray) -> np.ndarray:
        """x (..., D) float -> (..., D) int64 bin ids in [0, N). Values outside the fitted range clip to the ends."""
        x = np.asarray(x, np.float64)
        flat = x.reshape(-1, x.shape[-1])
        return self._bin(self.edges, flat).reshape(x.shape).astype(np.int64)

    def decode(self, idx: np.ndarray) -> np.ndarray:
        """(..., D) int bin ids -> (..., D) float32 representative values."""
        idx = np.asarray(idx, np.int64)
        flat = idx.reshape(-1, idx.shape[-1])
        out = (
            np.take_along_axis(self.centers.T, flat, axis=0)
            if len(flat)
            else flat.astype(np.float32)
        )
        return out.reshape(idx.shape).astype(np.float32)

    def bin_widths(self) -> np.ndarray:
        return np.diff(self.edges, axis=1)  # (D, N)

    def state_dict(self) -> dict:
        return {"edges": self.edges.tolist(), "centers": self.centers.tolist(), "kind": self.kind}

    @classmethod
    def from_state_dict(cls, d: dict) -> Discretizer:
        return cls(np.array(d["edges"]), np.array(d["centers"]), d["kind"])


# ---------------------------------------------------------------------------------------------- BabyAI observations

# Every word BabyAI's grammar can produce (minigrid/envs/babyai/core/verifier.py), plus padding and unknown.
MISSION_VOCAB = [
    "<pad>",
    "<unk>",
    ",",
    "go",
    "to",
    "pick",
    "up",
    "open",
    "put",
    "next",
    "then",
    "after",
    "and",
    "you",
    "the",
    "a",
    "object",
    "box",
    "ball",
    "key",
    "door",
    "red",
    "green",
    "blue",
    "purple",
    "yellow",
    "grey",
    "in",
    "front",
    "of",
    "behind",
    "on",
    "your",
    "left",
    "right",
]
WORD_ID = {w: i for i, w in enumerate(MISSION_VOCAB)}
MISSION_LEN = 24  # words kept per mission (the local levels use at most 11, GoToSeq at most 24)
GRID_CELLS = 7 * 7 * 3  # object type, colour, state for each cell of the egocentric view
# minigrid's object ids 0..10 (10 is the agent, drawn in the full grid); colours 0..5 and states 0..3 (a door's
# state, or in the full grid the agent's direction) fit in the same range
GRID_VOCAB = 11
BABYAI_STATE_SIZE = GRID_CELLS + 1 + MISSION_LEN  # egocentric: grid cells, direction, mission words
OBS_MODES = ("egocentric", "full")


@dataclass(frozen=True)
class BabyAILayout:
    """Where each part of a BabyAI state vector sits, for one observation mode (chosen when the data is collected).

    egocentric: [7·7·3 view values | direction | 24 mission words]                          S = 172
    full:       [W·H·3 grid values | direction | agent x, y | goal x, y | 24 mission words]  S = 3WH + 29

    `egocentric` is what a BabyAI agent sees: the 7x7 view in front of it. `full` is the LEAP paper's input and
    PRIVILEGED: the whole W x H grid (the agent drawn in its cell), the agent's cell, and the cell of the object the
    BabyAI bot plans to reach first (minirl/envs.py, `FullObservation`), which the agent could not know by itself.
    """

    obs: str = "egocentric"
    width: int = 7  # grid cells across (x)
    height: int = 7  # grid cells down (y)

    @property
    def full(self) -> bool:
        return self.obs == "full"

    @property
    def cells(self) -> int:
        return self.width * self.height

    @property
    def grid_values(self) -> int:
        return 3 * self.cells  # the grid segment: type, colour, state per cell, cell-major

    @property
    def pose_values(self) -> int:
        return 4 if self.full else 0  # agent x, y, goal x, y

    @property
    def size(self) -> int:
        return self.grid_values + 1 + self.pose_values + MISSION_LEN  # S

    @classmethod
    def of_episode(cls, episode: dict) -> BabyAILayout:
        """The layout of a dataset's episode (or one live observation): `full` if it holds the whole grid."""
        if "grid" in episode:
            width, height = np.asarray(episode["grid"]).shape[-3:-1]
            return cls("full", int(width), int(height))
        return cls()


def mission_ids(mission: str) -> np.ndarray:
    """'go to the red ball' -> (MISSION_LEN,) int64 word ids, right-padded with 0."""
    words = mission.lower().replace(",", " , ").split()[:MISSION_LEN]
    ids = np.zeros(MISSION_LEN, np.int64)
    ids[: len(words)] = [WORD_ID.get(w, WORD_ID["<unk>"]) for w in words]
    return ids


def encode_babyai(
    image: np.ndarray,
    direction: np.ndarray,
    mission: str,
    agent_pos: np.ndarray | None = None,
    goal_pos: np.ndarray | None = None,
) -> np.ndarray:
    """T observations -> (T, S) int64 in the layout of `BabyAILayout`.

    egocentric: image (T, 7, 7, 3) the view, direction (T,), mission str.
    full: image (T, W, H, 3) the whole grid, direction (T,), agent_pos and goal_pos (T, 2) cells (x, y), mission.
    Each segment keeps its own id range; models embed each segment with its own table (minirl/encoders.py).
    """
    T = len(image)
    parts = [np.asarray(image).reshape(T, -1), np.asarray(direction).reshape(T, 1)]
    if agent_pos is not None:
        parts += [np.asarray(agent_pos).reshape(T, 2), np.asarray(goal_pos).reshape(T, 2)]
    parts.append(np.broadcast_to(mission_ids(mission), (T, MISSION_LEN)))
    return np.concatenate([p.astype(np.int64) for p in parts], 1)


def _babyai_frames(frames: dict, rows: slice) -> np.ndarray:
    """encode_babyai of the observations `rows` of an episode (or of one live observation, rows = slice(None))."""
    full = "grid" in frames
    return encode_babyai(
        np.asarray(frames["grid" if full else "image"])[rows],
        np.asarray(frames["direction"]).reshape(-1)[rows],
        str(frames["mission"]),
        np.asarray(frames["agent_pos"]).reshape(-1, 2)[rows] if full else None,
        np.asarray(frames["goal_pos"]).reshape(-1, 2)[rows] if full else None,
    )


# ---------------------------------------------------------------------------------------------- the tokenizer


class Tokenizer:
    """The fitted, saved-with-the-checkpoint view of one dataset.

    continuous (HalfCheetah): states are normalized floats (S = obs dim); actions are floats in [-1, 1].
    discrete (BabyAI): states are int vectors from `encode_babyai` (S = 172 egocentric, 3WH + 29 full); actions are
    ints in [0, 7). `layout` (BabyAI) is the dataset's observation mode and grid size, fitted from its episodes.
    `rtg_scale` divides returns-to-go (DT's 1000 for HalfCheetah). `discretizer` is optional (TT/LEAP fit one).
    """

    def __init__(
        self,
        env: str,
        discrete: bool,
        act_dim: int,
        state_norm: Normalizer | None = None,
        rtg_scale: float = 1.0,
        gamma: float = 1.0,
        discretizer: Discretizer | None = None,
        layout: BabyAILayout | None = None,
    ):
        self.env = env
        self.discrete = discrete
        self.act_dim = act_dim
        # BabyAI only; None means egocentric (a tokenizer saved before observation modes existed)
        self.layout = (layout or BabyAILayout()) if discrete else None
        self.state_norm = state_norm
        self.rtg_scale = rtg_scale
        self.gamma = gamma
        self.discretizer = discretizer

    @classmethod
    def fit(
        cls,
        episodes: list[dict],
        env: str,
        discrete: bool,
        act_dim: int,
        rtg_scale: float = 1.0,
        gamma: float = 1.0,
    ) -> Tokenizer:
        norm = None
        layout = None
        if discrete:
            layout = BabyAILayout.of_episode(episodes[0])
        else:
            norm = Normalizer.fit(np.concatenate([ep["observations"][:-1] for ep in episodes]))
        return cls(env, discrete, act_dim, norm, rtg_scale, gamma, layout=layout)

    @property
    def obs(self) -> str | None:
        """BabyAI's observation mode (`egocentric` or `full`), the one evaluation must build; None for HalfCheetah."""
        return self.layout.obs if self.discrete else None

    @property
    def state_size(self) -> int:
        return self.layout.size if self.discrete else len(self.state_norm.mean)

    def states(self, episode: dict, rows: slice = slice(None, -1)) -> np.ndarray:
        """(T, S) float32 or int64 states of an episode's observations `rows`: by default its T decision states
        (the final observation dropped); slice(1, None) gives the next states s_t+1."""
        if self.discrete:
            self._check_layout(BabyAILayout.of_episode(episode))
            return _babyai_frames(episode, rows)
        return self.state_norm.encode(episode["observations"][rows])

    def encode_obs(self, observations: list) -> np.ndarray:
        """Live env observations (one per env) -> (N, S), the same encoding `states` gives. BabyAI observations
        must be of the dataset's mode (envs.make_env(env, obs=tok.obs)); another mode raises ValueError."""
        if self.discrete:
            self._check_layout(BabyAILayout.of_episode(observations[0]))
            return np.concatenate(
                [
                    _babyai_frames(
                        {k: v if k == "mission" else np.asarray(v)[None] for k, v in o.items()},
                        slice(None),
                    )
                    for o in observations
                ]
            )
        return self.state_norm.encode(np.stack(observations).astype(np.float32))

    def _check_layout(self, seen: BabyAILayout) -> None:
        if seen != self.layout:
            raise ValueError(
                f"BabyAI observations are {seen.obs} {seen.width}x{seen.height}, but this tokenizer was fitted on "
                f"{self.layout.obs} {self.layout.width}x{self.layout.height} ones (make the env with "
                f"obs='{self.layout.obs}')"
            )

    def episode_arrays(self, episode: dict) -> dict:
        """states (T,S), actions (T,A)|(T,), rewards (T,), rtg (T,) scaled, timesteps (T,)."""
        rewards = np.asarray(episode["rewards"], np.float32)
        return {
            "states": self.states(episode),
            "actions": np.asarray(episode["actions"], np.int64 if self.discrete else np.float32),
            "rewards": rewards,
            "rtg": returns_to_go(rewards, self.gamma) / self.rtg_scale,
            "timesteps": np.arange(len(rewards), dtype=np.int64),
        }

    def state_dict(self) -> dict:
        return {
            "env": self.env,
            "discrete": self.discrete,
            "act_dim": self.act_dim,
            "rtg_scale": self.rtg_scale,
            "gamma": self.gamma,
            "state_norm": self.state_norm.state_dict() if self.state_norm else None,
            "discretizer": self.discretizer.state_dict() if self.discretizer else None,
            "babyai_layout": [self.layout.obs, self.layout.width, self.layout.height]
            if self.discrete
            else None,
        }

    @classmethod
    def from_state_dict(cls, d: dict) -> Tokenizer:
        norm = Normalizer.from_state_dict(d["state_norm"]) if d["state_norm"] else None
        disc = Discretizer.from_state_dict(d["discretizer"]) if d["discretizer"] else None
        # saved before observation modes existed: egocentric
        layout = BabyAILayout(*d["babyai_layout"]) if d.get("babyai_layout") else None
        return cls(
            d["env"], d["discrete"], d["act_dim"], norm, d["rtg_scale"], d["gamma"], disc, layout
        )


# ---------------------------------------------------------------------------------------------- windows


def stack_episodes(arrays: list[dict]) -> dict:
    """Episodes' per-step arrays (`episode_arrays`) end to end as tensors, so a batch of windows is one gather, on
    whatever device the tensors are moved to (minirl/train.py moves them once): `steps` {key: (N, ...)} over all N
    steps, and numpy `first` (E,), the row where each episode begins, and `lengths` (E,), for the sampler's draws."""
    lengths = np.array([len(a["rewards"]) for a in arrays])
    return {
        "steps": {k: torch.from_numpy(np.concatenate([a[k] for a in arrays])) for k in arrays[0]},
        "first": np.cumsum(lengths) - lengths,
        "lengths": lengths,
    }


def sample_windows(data: dict, K: int, batch_size: int, rng: np.random.Generator) -> dict:
    """B windows of K consecutive steps of `stack_episodes` data, episodes drawn in proportion to their length (as DT
    does).

    A window starts at a uniform step of its episode and runs K steps or to the episode's end; short windows are
    LEFT-padded (zeros) so the newest step is always last, exactly like the context an agent holds while acting.
    Returns tensors on the data's device: every key of `steps` with shape (B, K, ...) and `mask` (B, K) bool, True =
    real.
    """
    if K < 1 or batch_size < 1:
        raise ValueError("window length and batch size must be >= 1")
    lengths = data["lengths"]
    episode = rng.choice(len(lengths), size=batch_size, p=lengths / lengths.sum())  # (B,)
    # (B,) a uniform step of that episode, and K minus the real steps the window holds from there
    start = (rng.random(batch_size) * lengths[episode]).astype(np.int64)
    pad = K - np.minimum(K, lengths[episode] - start)
    # window slot j holds the episode's step start + j - pad: real where j >= pad (padding reads row 0, then zeroed)
    real = np.arange(K) >= pad[:, None]  # (B, K)
    rows = np.where(real, (data["first"][episode] + start - pad)[:, None] + np.arange(K), 0)
    device = next(iter(data["steps"].values())).device
    rows, real = torch.from_numpy(rows).to(device), torch.from_numpy(real).to(device)
    out = {k: v[rows] for k, v in data["steps"].items()}  # (B, K, ...) each
    for window in out.values():
        window[~real] = 0
    return dict(out, mask=real)
