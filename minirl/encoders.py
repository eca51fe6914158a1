"""The one BabyAI observation encoder, shared by every method (DT, TT, LEAP, BC, CQL, IQL).

A BabyAI state reaches a model as the tokenizer's int vector (`tokenizer.encode_babyai`, laid out as
`tokenizer.BabyAILayout` says, in either observation mode); `BabyAIEncoder` turns it into one D-wide vector. Every
method embeds its BabyAI states with this module and nothing else, so in a BabyAI table the methods differ only in
their algorithm (issue 14), never in how well they see the grid. HalfCheetah and PointMaze states are already
floats, and each method keeps its own linear map or MLP for them.

The design is the BabyAI baseline's and the LEAP paper's (Chevalier-Boisvert et al. 2019; Perez et al. 2018):
- grid: each cell's object type, colour and state get a vector each from one table, summed into the cell's vector;
- mission: the word vectors in order, concatenated and projected to D. The official models run the words through a
  GRU; with missions padded to a fixed MISSION_LEN words, the ordered concatenation sees the same words in the same
  places ("put the red ball next to the blue key" is not a bag of words) and costs one matrix product instead of
  24 recurrent steps per state, which matters on a CPU that embeds B·K states per batch;
- FiLM: the mission scales and shifts every cell's vector, cell' = GELU(cell · (1 + γ(m)) + β(m)), so "is this
  the red ball I was asked for?" is one product away (without FiLM, 8000 GoToLocal demos gave DT 89% success after
  3000 updates instead of 99%);
- the cells are concatenated in grid order (where a cell is, is half its meaning) and projected to D, and the
  mission's own vector and a direction vector are added. In `full` mode (privileged: the whole grid, the agent's
  cell and the BabyAI bot's goal cell) the agent's cell and the goal's cell get a vector each too.

TT uses it as well: TT's own discretized tokens carry actions, rewards and values, and a BabyAI state is one
[OBSERVED] slot token whose embedding gets this encoder's output added (tt.py), since a BabyAI observation is not a
few numbers TT could cut into bins but a grid and a sentence.

Shapes: S the state vector's size (172 egocentric, 3WH + 29 full), C grid cells (49, or W·H), E per-value width
(d_cell / d_word), D output width; `...` any leading dimensions (B, or B, K).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from minirl.tokenizer import GRID_VOCAB, MISSION_LEN, MISSION_VOCAB, BabyAILayout


class BabyAIEncoder(nn.Module):
    """BabyAI state (..., S) int64 -> (..., D) float: the grid read in the light of the mission, plus the pose.

    layout: the dataset's `tokenizer.BabyAILayout` (egocentric 7x7, or full W x H); the encoder is built for that
    one layout, so a checkpoint of another mode or grid size does not load into it.
    """

    def __init__(self, layout: BabyAILayout, d_model: int, d_cell: int = 16, d_word: int = 16):
        super().__init__()
        self.layout = layout
        # object types, colours and states each get rows of their own: value v of channel c is row c·11 + v
        self.cell = nn.Embedding(3 * GRID_VOCAB, d_cell)
        self.word = nn.Embedding(len(MISSION_VOCAB), d_word)
        self.mission = nn.Linear(MISSION_LEN * d_word, d_model)
        self.film = nn.Linear(d_model, 2 * d_cell)  # γ and β from the mission
        self.grid = nn.Linear(layout.cells * d_cell, d_model)
        self.direction = nn.Embedding(4, d_model)
        if layout.full:  # cell x, y is index x·H + y, the grid segment's own cell order
            self.agent_cell = nn.Embedding(layout.cells, d_model)
            self.goal_cell = nn.Embedding(layout.cells, d_model)
        self.register_buffer("channel_offset", torch.arange(3) * GRID_VOCAB, persistent=False)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        L = self.layout
        grid = states[..., : L.grid_values].unflatten(-1, (L.cells, 3))  # (..., C, 3)
        direction = states[..., L.grid_values]  # (...,)
        words = states[..., -MISSION_LEN:]  # (..., 24)
        cells = self.cell(grid + self.channel_offset).sum(-2)  # (..., C, E)
        mission = self.mission(self.word(words).flatten(-2))  # (..., D)
        scale, shift = self.film(mission).unsqueeze(-2).chunk(2, -1)  # (..., 1, E) each
        cells = F.gelu(cells * (1 + scale) + shift)  # (..., C, E)
        out = self.grid(cells.flatten(-2)) + mission + self.direction(direction)  # (..., D)
        if L.full:
            # (..., 4): agent x, y, goal x, y
            pose = states[..., L.grid_values + 1 : L.grid_values + 5]
            agent = pose[..., 0] * L.height + pose[..., 1]
            goal = pose[..., 2] * L.height + pose[..., 3]
            out = out + self.agent_cell(agent) + self.goal_cell(goal)
        return out  # (..., D)


ENCODERS = ("minirl", "paper")  # the `encoder` Config field of every method


class FiLMBlock(nn.Module):
    """conv 3x3, BatchNorm, ReLU, conv 3x3, then FiLM from a conditioning vector, BatchNorm, ReLU (the BabyAI
    baseline's block, Perez et al. 2018): x (N, C_in, W, H), y (N, D) -> (N, C_out, W, H)."""

    def __init__(self, c_in: int, c_out: int, d_cond: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.gamma = nn.Linear(d_cond, c_out)
        self.beta = nn.Linear(d_cond, c_out)

    def reset_film(self) -> None:
        """The official FiLM init: each output row of γ and β a random unit vector, zero biases."""
        for lin in (self.gamma, self.beta):
            w = torch.randn_like(lin.weight)
            lin.weight.data.copy_(w / w.norm(dim=1, keepdim=True))
            nn.init.zeros_(lin.bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = self.conv2(F.relu(self.bn1(self.conv1(x))))  # (N, C_out, W, H)
        # plain γ·x + β (the official FiLM; minirl's BabyAIEncoder scales by 1 + γ)
        x = x * self.gamma(y)[..., None, None] + self.beta(y)[..., None, None]
        return F.relu(self.bn2(x))


class PaperEncoder(nn.Module):
    """The official LEAP BabyAI state encoder (github.com/hychen-naza/LEAP, mingpt/leap_model_babyai.py, LEAP_GPT),
    written anew for the `full` layout: (..., S) int64 -> (..., D) float. An experiment (issue 14), not the default.

    - grid: the W x H x 3 codes (type, colour, state) as 3 float channels (not embedded) through a small CNN with
      BatchNorm: conv 2x2 (pad 1), BN, ReLU, max-pool 2; conv 3x3, BN, ReLU, max-pool 2 (7x7 -> 8x8 -> 4x4 -> 2x2);
    - mission: word vectors through a GRU, its last hidden state (the official code left-pads the words; here the
      GRU's output after each mission's last real word is read, the same thing without the leading pads);
    - pose: agent x, y, direction, goal x, y each a vector (x and y share one table), concatenated and sent through
      an MLP (5D -> 2D -> 2D -> D, tanh);
    - two FiLM blocks conditioned on the mission, then two conditioned on the pose, then flatten, linear to D, ReLU.
    Initialization is the official one: PyTorch's defaults (the official model applies its N(0, 0.02) init before it
    builds these modules) and the FiLM layers' unit-row init; a model that runs `init_weights` over everything must
    call `reset_parameters()` afterwards.
    BatchNorm: in training mode the statistics are those of the batch of states passed in, so callers should pass
    each distinct state once (LEAP's `repeats`).
    """

    def __init__(self, layout: BabyAILayout, d_model: int, channels: int = 128):
        super().__init__()
        if not layout.full:
            raise ValueError(
                "encoder 'paper' needs --obs full: it reads the agent's and goal's cells"
            )
        self.layout = layout
        D, C = d_model, channels
        self.stem = nn.Sequential(
            nn.Conv2d(3, C, 2, padding=1),
            nn.BatchNorm2d(C),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(C, C, 3, padding=1),
            nn.BatchNorm2d(C),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        # the stem's output size: the 2x2 conv adds a row and a column, each pool halves (7x7 -> 2x2)
        w, h = (layout.width + 1) // 4, (layout.height + 1) // 4
        self.word = nn.Embedding(len(MISSION_VOCAB), D)
        self.gru = nn.GRU(D, D, batch_first=True)
        self.coord = nn.Embedding(max(layout.width, layout.height), D)
        self.direction = nn.Embedding(4, D)
        self.pose = nn.Sequential(
            nn.Linear(5 * D, 2 * D),
            nn.Tanh(),
            nn.Linear(2 * D, 2 * D),
            nn.Tanh(),
            nn.Linear(2 * D, D),
        )
        self.film_mission = nn.ModuleList([FiLMBlock(C, C, D), FiLMBlock(C, D, D)])
        self.film_pose = nn.ModuleList([FiLMBlock(D, C, D), FiLMBlock(C, D, D)])
        self.out = nn.Linear(D * w * h, D)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default init for every layer, then the official FiLM init."""
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        for block in [*self.film_mission, *self.film_pose]:
            block.reset_film()

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        L = self.layout
        lead = states.shape[:-1]
        states = states.reshape(-1, states.shape[-1])  # (N, S)
        N = len(states)
        # (N, 3, W, H): channel c of cell x, y (cells are x-major, as the grid segment stores them)
        image = states[:, : L.grid_values].view(N, L.width, L.height, 3).permute(0, 3, 1, 2).float()
        x = self.stem(image)  # (N, C, w, h)
        words = states[:, -MISSION_LEN:]  # (N, 24), right-padded with 0
        n_words = (words != 0).sum(1).clamp(min=1)  # (N,)
        longest = int(n_words.max())
        out, _ = self.gru(self.word(words[:, :longest]))  # (N, longest, D)
        # (N, D): the output after each mission's last real word
        mission = out[torch.arange(N, device=states.device), n_words - 1]
        direction = states[:, L.grid_values]  # (N,)
        cells = states[:, L.grid_values + 1 : L.grid_values + 5]  # (N, 4): agent x, y, goal x, y
        # (N, 5, D): agent x, agent y, direction, goal x, goal y
        parts = torch.cat(
            [
                self.coord(cells[:, :2]),
                self.direction(direction)[:, None],
                self.coord(cells[:, 2:]),
            ],
            1,
        )
        pose = self.pose(parts.flatten(1))  # (N, D)
        for block in self.film_mission:
            x = block(x, mission)
        for block in self.film_pose:
            x = block(x, pose)  # (N, D, w, h)
        return F.relu(self.out(x.flatten(1))).view(*lead, -1)  # (..., D)


def babyai_encoder(layout: BabyAILayout, d_model: int, kind: str = "minirl") -> nn.Module:
    """The BabyAI state encoder a model's `encoder` field names: "minirl" (BabyAIEncoder, the default) or "paper"
    (PaperEncoder, the official LEAP model's)."""
    if kind == "minirl":
        return BabyAIEncoder(layout, d_model)
    if kind == "paper":
        return PaperEncoder(layout, d_model)
    raise ValueError(f"unknown encoder '{kind}'; valid: {', '.join(ENCODERS)}")
