"""The score scale of the PointMaze evaluation envs, measured (issue 15): the noiseless planner + waypoint
controller ("expert") and uniform random actions, 50 episodes each (env seeds 0-49, as `minirl eval`), on each
task, next to D4RL's maze2d reference returns (envs.py). Usage: python docs/scripts/pointmaze_references.py
"""

import numpy as np

from minirl import pointmaze
from minirl.envs import get_spec, normalized_score

print(
    "| task | expert return (normalized) | random return (normalized) | D4RL refs (random / expert) |"
)
print("|---|---|---|---|")
for maze in ("umaze", "medium", "large"):
    for name in (f"pointmaze-{maze}", f"pointmaze-{maze}-maze2d"):
        refs = pointmaze.reference_returns(name, episodes=50)
        cells = []
        for kind in ("expert", "random"):
            r = np.array(refs[kind])
            cells.append(f"{r.mean():.1f} ± {r.std():.1f} ({normalized_score(name, r.mean()):.1f})")
        spec = get_spec(name)
        print(f"| {name} | {cells[0]} | {cells[1]} | {spec.ref_min_score} / {spec.ref_max_score} |")
