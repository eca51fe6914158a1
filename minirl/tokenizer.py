"""The shared tokenizer: how trajectories become the numbers and tokens all three models read.

Everything here is shared by DT, TT and LEAP (and the baselines); what differs between the models lives in their files.
- `returns_to_go`: R̂_t = sum_{t' >= t} gamma^(t'-t) r_t', the quantity DT conditions on and TT predicts as V.
- `Normalizer`: per-dimension mean/std, fitted on the training set and saved inside the checkpoint.
- `Discretizer`: every dimension cut into N bins (uniform, or quantile so each bin holds equal data mass, as TT does);
  encode maps a value to its bin, decode maps a bin back to a representative value (the bin's mean), so a round trip
  is off by at most one bin width.
- BabyAI observations: the 7x7x3 egocentric grid, the direction and the mission words become one int vector
  (`encode_babyai`), over a fixed vocabulary that covers every BabyAI mission word.
- `Tokenizer`: the fitted pieces for one dataset, with `states()` for a whole episode and `encode_obs()` for live envs.
- `sample_windows`: fixed-length training windows (length K) with left padding, padding mask and timesteps.

Shapes: T episode length, N items, D dimensions, B batch, K window length, S state size.
"""

from __future__ import annotations

import numpy as np

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
MISSION_LEN = 24  # words kept per mission (the local levels use at most 11)
GRID_CELLS = 7 * 7 * 3  # object type, colour, state for each cell of the egocentric view
GRID_VOCAB = 11  # minigrid's object ids 0..10; colours 0..5 and states 0..2 fit in the same range
BABYAI_STATE_SIZE = GRID_CELLS + 1 + MISSION_LEN  # grid cells, direction, mission words


def mission_ids(mission: str) -> np.ndarray:
    """'go to the red ball' -> (MISSION_LEN,) int64 word ids, right-padded with 0."""
    words = mission.lower().replace(",", " , ").split()[:MISSION_LEN]
    ids = np.zeros(MISSION_LEN, np.int64)
    ids[: len(words)] = [WORD_ID.get(w, WORD_ID["<unk>"]) for w in words]
    return ids


def encode_babyai(image: np.ndarray, direction: np.ndarray, mission: str) -> np.ndarray:
    """image (T, 7, 7, 3) uint8, direction (T,), mission str -> (T, BABYAI_STATE_SIZE) int64.

    Layout per row: [147 grid values in 0..10 | direction in 0..3 | 24 mission word ids]. Each segment keeps its own
    id range; models embed each segment with its own table.
    """
    image = np.asarray(image).reshape(len(image), GRID_CELLS).astype(np.int64)
    direction = np.asarray(direction, np.int64).reshape(-1, 1)
    words = np.broadcast_to(mission_ids(mission), (len(image), MISSION_LEN))
    return np.concatenate([image, direction, words], 1)


# ---------------------------------------------------------------------------------------------- the tokenizer


class Tokenizer:
    """The fitted, saved-with-the-checkpoint view of one dataset.

    continuous (HalfCheetah): states are normalized floats (S = obs dim); actions are floats in [-1, 1].
    discrete (BabyAI): states are int vectors from `encode_babyai` (S = 172); actions are ints in [0, 7).
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
    ):
        self.env, self.discrete, self.act_dim = env, discrete, act_dim
        self.state_norm, self.rtg_scale, self.gamma, self.discretizer = (
            state_norm,
            rtg_scale,
            gamma,
            discretizer,
        )

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
        if not discrete:
            norm = Normalizer.fit(np.concatenate([ep["observations"][:-1] for ep in episodes]))
        return cls(env, discrete, act_dim, norm, rtg_scale, gamma)

    @property
    def state_size(self) -> int:
        return BABYAI_STATE_SIZE if self.discrete else len(self.state_norm.mean)

    def states(self, episode: dict) -> np.ndarray:
        """One episode's T decision states (the final observation dropped): (T, S) float32 or int64."""
        if self.discrete:
            return encode_babyai(
                episode["image"][:-1], episode["direction"][:-1], episode["mission"]
            )
        return self.state_norm.encode(episode["observations"][:-1])

    def encode_obs(self, observations: list) -> np.ndarray:
        """Live env observations (one per env) -> (N, S), the same encoding `states` gives."""
        if self.discrete:
            return np.concatenate(
                [
                    encode_babyai(o["image"][None], np.array([o["direction"]]), o["mission"])
                    for o in observations
                ]
            )
        return self.state_norm.encode(np.stack(observations).astype(np.float32))

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
        }

    @classmethod
    def from_state_dict(cls, d: dict) -> Tokenizer:
        norm = Normalizer.from_state_dict(d["state_norm"]) if d["state_norm"] else None
        disc = Discretizer.from_state_dict(d["discretizer"]) if d["discretizer"] else None
        return cls(d["env"], d["discrete"], d["act_dim"], norm, d["rtg_scale"], d["gamma"], disc)


# ---------------------------------------------------------------------------------------------- windows


def sample_windows(arrays: list[dict], K: int, batch_size: int, rng: np.random.Generator) -> dict:
    """B windows of K consecutive steps, episodes drawn in proportion to their length (as DT does).

    A window starts at a uniform step of its episode and runs K steps or to the episode's end; short windows are
    LEFT-padded (zeros) so the newest step is always last, exactly like the context an agent holds while acting.
    Returns numpy arrays: every key of `episode_arrays` with shape (B, K, ...) and `mask` (B, K) bool, True = real.
    """
    if K < 1 or batch_size < 1:
        raise ValueError("window length and batch size must be >= 1")
    lengths = np.array([len(a["rewards"]) for a in arrays])
    episode_idx = rng.choice(len(arrays), size=batch_size, p=lengths / lengths.sum())
    starts = (rng.random(batch_size) * lengths[episode_idx]).astype(np.int64)
    out = {k: np.zeros((batch_size, K) + v.shape[1:], v.dtype) for k, v in arrays[0].items()}
    out["mask"] = np.zeros((batch_size, K), bool)
    for b, (e, s) in enumerate(zip(episode_idx, starts)):
        n = min(K, lengths[e] - s)
        for k, v in arrays[e].items():
            out[k][b, K - n :] = v[s : s + n]
        out["mask"][b, K - n :] = True
    return out
