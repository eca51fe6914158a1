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
