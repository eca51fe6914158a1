"""The attention analyses (the source's sections 7.b and 7.c), on windows of the run's own dataset.

    attention          heatmaps of attention (mean over heads), one panel per layer, token types marked on the axes
    attention-by-type  over an episode, the share of each decision's attention on return/state/action/... tokens
                       and on the current, recent (1-3 steps back), old (>= 4 back) and future steps
    horizon            attention mass against the distance in timesteps between query and key, per layer and model
    entropy            attention entropy per head and layer; specialized (low-entropy) and generalist heads
    sparsity           share of keys that hold 90% of a query's attention, and the Gini coefficient, per model

The decision query is the token whose output gives the action: DT's s_t, TT's last state token before a_t, LEAP's
(masked) a_t. The metrics (entropy, share90, Gini, distance) are defined in minirl/analysis/metrics.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from minirl.analysis.common import (
    Run,
    Window,
    capture,
    context_steps,
    decision_view,
    decision_views,
    figure,
    run_info,
    runs_line,
    save,
    suptitle,
    windows_for,
)
from minirl.analysis.metrics import (
    GENERALIST,
    RECENT,
    SPECIALIZED,
    age_groups,
    distance_mass,
    gini,
    group_shares,
    head_class,
    head_entropy_summary,
    keys_for_mass,
)

TYPE_COLORS = {
    "return": "#d62728",
    "state": "#1f77b4",
    "action": "#2ca02c",
    "reward": "#ff7f0e",
    "value": "#9467bd",
    "mask": "#7f7f7f",
    "plan": "#17becf",
}


# ---------------------------------------------------------------------------------------------- heatmaps


def mark_token_types(ax, w: Window) -> list:
    """Colour strips along the top and right edges of a heatmap naming each token's type; ticks at step starts.
    Returns legend handles (one per type)."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    names = list(dict.fromkeys(w.types.tolist()))
    ids = np.array([names.index(t) for t in w.types])
    cmap = ListedColormap([TYPE_COLORS.get(n, "#000000") for n in names])
    T = len(ids)
    top = ax.inset_axes([0, 1.01, 1, 0.035], sharex=ax)
    right = ax.inset_axes([1.01, 0, 0.035, 1], sharey=ax)
    top.imshow(
        ids[None, :],
        aspect="auto",
        cmap=cmap,
        vmin=-0.5,
        vmax=len(names) - 0.5,
        extent=(-0.5, T - 0.5, 0, 1),
    )
    right.imshow(
        ids[:, None],
        aspect="auto",
        cmap=cmap,
        vmin=-0.5,
        vmax=len(names) - 0.5,
        extent=(0, 1, T - 0.5, -0.5),
    )
    for a in (top, right):
        a.set_axis_off()
    starts = np.flatnonzero(np.r_[True, np.diff(w.steps) != 0])
    every = max(1, len(starts) // 10)
    ax.set_xticks(starts[::every], [str(s) for s in w.steps[starts][::every]])
    ax.set_yticks(starts[::every], [str(s) for s in w.steps[starts][::every]])
    return [Patch(color=TYPE_COLORS.get(n, "#000000"), label=f"{n} token") for n in names]


# ---------------------------------------------------------------------------------------------- 1. attention


def attention(run: Run, out: Path) -> list[Path]:
    """Heatmaps of the head-averaged attention, one panel per layer, on a real window of the run's dataset."""
    arrays = run.arrays()
    # the longest episode
    index = max(range(len(arrays)), key=lambda i: (len(arrays[i]["rewards"]), -i))
    end = min(context_steps(run), len(arrays[index]["rewards"]))
    w = capture(run, arrays[index], 0, end)
    L = len(w.maps)
    fig, axes = figure(1, L, width=4.6, height=5.0)
    layers = []
    for i, m in enumerate(w.maps):
        mean = m.mean(0)  # (T, T) over heads
        ax = axes[0, i]
        image = ax.imshow(mean, cmap="viridis", vmin=0, interpolation="nearest")
        ax.set_title(f"layer {i}", pad=14)
        ax.set_xlabel("key token (labelled by timestep)")
        ax.set_ylabel("query token (labelled by timestep)")
        handles = mark_token_types(ax, w)
        fig.colorbar(image, ax=ax, shrink=0.7, pad=0.06, label="attention weight (probability)")
        layers.append(
            {
                "mean_over_heads": mean,
                "mass_above_diagonal": float(np.triu(mean, 1).sum() / len(mean)),
            }
        )
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=len(handles),
        fontsize=8,
        title="token type (strips on the top and right edges)",
        title_fontsize=8,
    )
    suptitle(
        fig,
        run.title(
            f"Attention (mean over {w.maps[0].shape[0]} head(s)), dataset episode {index}, "
            f"steps 0-{end - 1}"
        ),
    )
    numbers = dict(
        run_info(run),
        episode=index,
        steps=[0, end],
        token_types=w.types,
        token_steps=w.steps,
        causal=w.causal,
        layers=layers,
    )
    return save(fig, numbers, out, f"attention-{run.path.name}")


# ---------------------------------------------------------------------------------------------- 2. by type


def attention_by_type(run: Run, out: Path, max_steps: int = 300) -> list[Path]:
    """Over the longest dataset episode: each decision's attention shares per token type and per step age; and per
    layer, the type shares over the decisions of the 8 longest episodes, with uniform attention's for reference."""
    arrays = run.arrays()
    index = max(range(len(arrays)), key=lambda i: (len(arrays[i]["rewards"]), -i))
    T = min(max_steps, len(arrays[index]["rewards"]))
    views = [decision_view(run, arrays[index], t) for t in range(T)]
    type_names = list(dict.fromkeys(t for w, _ in views for t in w.types.tolist()))
    age_names = ["current", "recent", "old", "future"]
    L = len(views[0][0].maps)
    by_type = np.zeros((L, T, len(type_names)))
    by_age = np.zeros((L, T, len(age_names)))
    for t, (w, row) in enumerate(views):
        ages = age_groups(w.steps[row], w.steps)
        for layer, m in enumerate(w.maps):
            p = m.mean(0)[row]  # (T_keys,) this decision's attention, mean over heads
            by_type[layer, t] = group_shares(p, w.types, type_names)
            by_age[layer, t] = group_shares(p, ages, age_names)
    if not (by_age[..., 3] > 0).any():
        age_names, by_age = age_names[:3], by_age[..., :3]
    fig, axes = figure(1, 3, width=4.8, height=3.8)
    steps = np.arange(T)
    for ax, shares, names, what in (
        (axes[0, 0], by_type, type_names, "token type"),
        (axes[0, 1], by_age, age_names, "step age"),
    ):
        mean = shares.mean(0)  # (T, groups) mean over layers
        colors = [TYPE_COLORS.get(n) for n in names] if what == "token type" else None
        if T > 1:
            ax.stackplot(steps, mean.T, labels=names, colors=colors, alpha=0.85)
        else:
            ax.bar(steps, mean[:, 0], label=names[0])
        ax.set_xlabel("episode timestep t (decision)")
        ax.set_ylabel("share of the decision's attention (0-1)")
        ax.set_ylim(0, 1)
        ax.set_title(f"by {what} (mean over layers and heads)")
        ax.legend(fontsize=7, loc="upper right")
    # per layer over many decisions (those of `horizon`), against attention spread uniformly over the visible keys
    many = decision_views(run)
    per_layer = np.array(
        [
            [group_shares(w.maps[layer].mean(0)[row], w.types, type_names) for w, row in many]
            for layer in range(L)
        ]
    ).mean(1)  # (L, types)
    uniform = np.mean(
        [
            group_shares(w.allowed[row] / w.allowed[row].sum(), w.types, type_names)
            for w, row in many
        ],
        0,
    )  # (types,)
    ax = axes[0, 2]
    width = 0.8 / len(type_names)
    for j, name in enumerate(type_names):
        x = np.arange(L) + j * width
        ax.bar(x, per_layer[:, j], width, label=name, color=TYPE_COLORS.get(name))
        ax.scatter(
            x,
            np.full(L, uniform[j]),
            marker="_",
            s=150,
            color="k",
            zorder=3,
            label="uniform over visible keys" if j == 0 else None,
        )
    ax.set_xticks(np.arange(L) + 0.4 - width / 2, [f"layer {i}" for i in range(L)])
    ax.set_ylabel("mean share of decision attention (0-1)")
    ax.set_title(
        f"per layer, mean over {len(many)} decisions ({min(8, len(arrays))} longest episodes)",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    suptitle(
        fig,
        run.title(
            f"Where each decision looks (left, middle: dataset episode {index}, {T} steps; "
            f"recent = 1-{RECENT} steps back, old = more)"
        ),
    )
    numbers = dict(
        run_info(run),
        episode=index,
        type_names=type_names,
        age_names=age_names,
        by_type_per_layer=by_type,
        by_age_per_layer=by_age,
        type_share_per_layer_this_episode=by_type.mean(1),
        age_share_per_layer=by_age.mean(1),
        decisions=len(many),
        type_share_per_layer=per_layer,
        type_share_uniform=uniform,
    )
    return save(fig, numbers, out, f"attention-by-type-{run.path.name}")


# ---------------------------------------------------------------------------------------------- 3. horizon


def _mass_by_distance(
    views: list[tuple[Window, int]], attention_of
) -> tuple[np.ndarray, np.ndarray]:
    """Mean over decisions of distance_mass for the attention row attention_of(window, row) -> (distances, mass)."""
    total: dict[int, float] = {}
    for w, row in views:
        full = np.zeros((len(w.steps), len(w.steps)))
        full[row] = attention_of(w, row)
        for d, mass in distance_mass(full, w.steps, w.steps, [row], w.allowed).items():
            total[d] = total.get(d, 0.0) + mass / len(views)
    distances = np.array(sorted(total))
    return distances, np.array([total[d] for d in distances])


def horizon(runs: list[Run], out: Path) -> list[Path]:
    """Attention mass of the decision queries against timestep distance, per layer, one panel per model.

    The dashed grey line is what attention spread uniformly over the visible keys would give: a step with more
    visible tokens draws more mass under uniform attention too, so locality means "above the grey line"."""
    fig, axes = figure(1, len(runs), width=4.8, height=3.8, sharey=True)
    numbers = {"runs": []}
    for ax, run in zip(axes[0], runs):
        views = decision_views(run)
        layers = []
        for layer in range(len(views[0][0].maps)):
            distances, mass = _mass_by_distance(views, lambda w, row: w.maps[layer].mean(0)[row])
            ax.plot(distances, mass, marker="o", ms=3, label=f"layer {layer}")
            layers.append(
                {
                    "distance": distances,
                    "mass": mass,
                    "mean_distance": float((distances * mass).sum()),
                    "mass_at_0": float(mass[distances == 0].sum()),
                    "mass_within_recent": float(mass[np.abs(distances) <= RECENT].sum()),
                    "mass_in_future": float(mass[distances < 0].sum()),
                }
            )
        distances, uniform = _mass_by_distance(
            views, lambda w, row: w.allowed[row] / w.allowed[row].sum()
        )
        ax.plot(distances, uniform, "--", color="grey", lw=1, label="uniform over visible keys")
        ax.set_xlabel("query step − key step (timesteps; < 0 = future)")
        ax.set_ylabel("mean attention mass (fraction)")
        ax.set_title(f"{run.algo.upper()} · {run.dataset} · {run.path.name}", fontsize=9)
        ax.legend(fontsize=7)
        numbers["runs"].append(
            dict(
                run_info(run),
                decisions=len(views),
                layers=layers,
                uniform={
                    "distance": distances,
                    "mass": uniform,
                    "mean_distance": float((distances * uniform).sum()),
                    "mass_within_recent": float(uniform[np.abs(distances) <= RECENT].sum()),
                },
            )
        )
    suptitle(
        fig,
        "How far back (or ahead) each decision looks: attention mass by timestep distance, mean over "
        "heads and decisions\n" + runs_line(runs),
    )
    return save(fig, numbers, out, "horizon")


# ---------------------------------------------------------------------------------------------- 4. entropy


def entropy(run: Run, out: Path) -> list[Path]:
    """Mean attention entropy of every head in every layer over real dataset windows (all queries with >= 2 keys)."""
    windows = windows_for(run)
    L = len(windows[0].maps)
    summary = {"layers": [[] for _ in range(L)]}
    for layer in range(L):
        # windows can differ in length, so each is summarised alone and the heads' numbers are pooled
        per_window = [
            head_entropy_summary([w.maps[layer]], w.allowed)["layers"][0] for w in windows
        ]
        H = len(per_window[0])
        for h in range(H):
            e = np.array([pw[h]["entropy"] for pw in per_window])
            u = np.array([pw[h]["uniform"] for pw in per_window])
            ratio = float(np.nanmean(e) / np.nanmean(u)) if np.nanmean(u) > 0 else float("nan")
            summary["layers"][layer].append(
                {
                    "entropy": float(np.nanmean(e)),
                    "uniform": float(np.nanmean(u)),
                    "ratio": ratio,
                    "class": head_class(ratio),
                }
            )
    fig, axes = figure(1, L, width=3.6, height=3.6, sharey=True)
    colors = {"specialized": "#d62728", "mixed": "#bcbd22", "generalist": "#1f77b4"}
    for layer, heads in enumerate(summary["layers"]):
        ax = axes[0, layer]
        for h, head in enumerate(heads):
            ax.bar(
                h,
                head["entropy"],
                color=colors[head["class"]],
                label=head["class"]
                if head["class"] not in [x["class"] for x in heads[:h]]
                else None,
            )
        ax.axhline(
            np.mean([head["uniform"] for head in heads]),
            ls="--",
            c="k",
            lw=1,
            label="uniform (log n)",
        )
        ax.set_xticks(range(len(heads)), [f"H{h}" for h in range(len(heads))])
        ax.set_xlabel("attention head")
        ax.set_ylabel("mean entropy (nats)")
        ax.set_title(f"layer {layer}")
        ax.legend(fontsize=7)
    suptitle(
        fig,
        run.title(
            f"Attention entropy per head, {len(windows)} dataset windows (specialized: < "
            f"{SPECIALIZED:.0%} of uniform, generalist: > {GENERALIST:.0%})"
        ),
    )
    numbers = dict(
        run_info(run),
        windows=len(windows),
        specialized_below=SPECIALIZED,
        generalist_above=GENERALIST,
        **summary,
    )
    return save(fig, numbers, out, f"entropy-{run.path.name}")


# ---------------------------------------------------------------------------------------------- 5. sparsity


def sparsity(runs: list[Run], out: Path) -> list[Path]:
    """Per model: share of visible keys holding 90% of a query's attention, and the Gini coefficient."""
    numbers = {"runs": []}
    metrics = ("share90", "gini")
    for run in runs:
        values = {m: [] for m in metrics}
        per_layer = []
        windows = windows_for(run)
        for layer in range(len(windows[0].maps)):
            layer_values = {m: [] for m in metrics}
            for w in windows:
                keep = w.allowed.sum(-1) >= 2  # queries that have a choice
                layer_values["share90"].append(
                    keys_for_mass(w.maps[layer], 0.9, w.allowed)[:, keep].ravel()
                )
                layer_values["gini"].append(gini(w.maps[layer], w.allowed)[:, keep].ravel())
            row = {}
            for m in metrics:
                v = np.concatenate(layer_values[m])
                values[m].append(v)
                row[m] = {"mean": float(v.mean()), "var": float(v.var())}
            per_layer.append(row)
        overall = {
            m: {
                "mean": float(np.concatenate(values[m]).mean()),
                "var": float(np.concatenate(values[m]).var()),
                "n": int(sum(len(v) for v in values[m])),
            }
            for m in metrics
        }
        numbers["runs"].append(dict(run_info(run), overall=overall, per_layer=per_layer))
    fig, axes = figure(1, 2, width=4.6, height=3.8)
    width = 0.8 / len(runs)
    labels = ["keys holding 90% of mass\n(share of visible keys)", "Gini coefficient"]
    for j, (run, r) in enumerate(zip(runs, numbers["runs"])):
        means = [r["overall"][m]["mean"] for m in metrics]
        stds = [np.sqrt(r["overall"][m]["var"]) for m in metrics]
        axes[0, 0].bar(
            np.arange(2) + j * width, means, width, yerr=stds, capsize=3, label=run.label
        )
        variances = [r["overall"][m]["var"] for m in metrics]
        axes[0, 1].bar(np.arange(2) + j * width, variances, width, label=run.label)
    for ax, what in (
        (axes[0, 0], "mean (bar) ± std (whisker) over queries, heads, layers"),
        (axes[0, 1], "variance over queries, heads, layers"),
    ):
        ax.set_xticks(np.arange(2) + 0.4 - width / 2, labels, fontsize=8)
        ax.set_ylabel("value (dimensionless, 0-1)")
        ax.set_title(what, fontsize=9)
    fig.legend(
        *axes[0, 1].get_legend_handles_labels(),
        loc="outside lower center",
        ncol=len(runs),
        fontsize=7,
    )
    suptitle(
        fig,
        "Attention sparsity on dataset windows (lower share90 / higher Gini = more focused)\n"
        + runs_line(runs),
    )
    return save(fig, numbers, out, "sparsity")
