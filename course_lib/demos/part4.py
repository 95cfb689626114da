"""04_successor_representations: the SR of the Dyna maze, and GPI over successor features.

The SR demo's data is the exact SR for every discount of its slider (``sr_demo_data()``). The
GPI demo is drawn by the student's functions: ``gpi_demo_data(gpi_action, psi, base)`` runs
their GPI on the successor features their TD update learned, once, before the demo is built
(the notebook wraps the call in ``precomputed.run_or_load``), so a slider move only looks
results up. The static images use the data saved from the instructor's solution.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm, TwoSlopeNorm

from course_lib import gridworld, precomputed, successor
from course_lib.widgets import LiveDemo, Slider

__all__ = ["SR_EPSILON", "SR_GAMMAS", "sr_demo_data", "SRDemo", "GPI_GAMMA", "GPI_WEIGHTS",
           "gpi_demo_data", "GPIDemo", "plot_future_densities"]

SR_EPSILON = 0.3
"""Exploration of the SR demo's policy (the notebook's epsilon-greedy shortest-path policy)."""
SR_GAMMAS = np.round(np.arange(0.5, 0.991, 0.01), 2)
"""The discounts the SR demo's slider can take."""


def sr_demo_data() -> dict[str, np.ndarray]:
    """What :class:`SRDemo` shows, for every discount of its slider: the SR M and the value V.

    The exact SR ``successor.sr_matrix`` of the maze's epsilon-greedy shortest-path policy and
    V = M r / (1 - gamma), once per gamma in ``SR_GAMMAS``. Returns {"gammas": (G,), "M": (G, n, n),
    "V": (G, n)}.
    """
    chain = successor.maze_chain(gridworld.DYNA_MAZE)
    P_pi = successor.policy_transition(chain.P, successor.shortest_path_policy(chain, SR_EPSILON))
    M = np.stack([successor.sr_matrix(P_pi, float(g)) for g in SR_GAMMAS])
    V = np.stack([M_g @ chain.reward / (1 - g) for M_g, g in zip(M, SR_GAMMAS, strict=True)])
    return {"gammas": SR_GAMMAS.copy(), "M": M, "V": V}


def _maze_mesh(demo: LiveDemo, ax, chain: successor.MazeChain, norm, cmap: str):
    """An animated cell mesh of the maze (walls grey, y down like the maze) with S and G on top.

    A QuadMesh redraws several times faster than an AxesImage when blitting.
    """
    maze = chain.maze
    mesh = demo.animated(ax.pcolormesh(np.arange(maze.cols + 1) - 0.5, np.arange(maze.rows + 1) - 0.5,
                                       np.ma.masked_invalid(chain.to_grid(np.zeros(chain.n))),
                                       cmap=plt.get_cmap(cmap).with_extremes(bad="0.35"), norm=norm,
                                       edgecolors="white", linewidth=0.4))
    ax.set(xlim=(-0.5, maze.cols - 0.5), ylim=(maze.rows - 0.5, -0.5), aspect="equal")
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    _label(demo, ax, "S", [maze.start], 9)
    _label(demo, ax, "G", [maze.goal], 9)
    return mesh


def _label(demo: LiveDemo, ax, text: str, cells, size: float, offset=(0.0, 0.0)) -> None:
    """Draw ``text`` on cells as an animated marker (much cheaper to blit than Text artists)."""
    rows = [r + offset[0] for r, _ in cells]
    cols = [c + offset[1] for _, c in cells]
    demo.animated(ax.plot(cols, rows, ls="none", marker=f"$\\mathbf{{{text}}}$", ms=size, color="black")[0])


class SRDemo(LiveDemo):
    """Sliders gamma and a state s -> heat map of mu(s, .) on the maze and its mass by distance.

    ``data`` is what :func:`sr_demo_data` returns.
    """

    alt = ("Left, a maze coloured by the successor measure of the chosen state (where its discounted"
           " future is spent); right, that mass against the distance from the state, with the "
           "geometric profile of a walker that moves away every step.")

    sliders = {
        "gamma": Slider(0.5, 0.99, 0.01, 0.9, "discount γ"),
        "state": Slider(0, 46, 1, 15, "state s (index)"),  # the 47 free cells; 15 is the start
    }
    figsize = (8.6, 3.3)

    def __init__(self, data: dict[str, np.ndarray]):
        self.gammas = np.asarray(data["gammas"], dtype=float)
        self.M = np.asarray(data["M"], dtype=float)  # (G, n, n)
        self.V = np.asarray(data["V"], dtype=float)  # (G, n)
        super().__init__()

    def build(self, fig):
        chain = successor.maze_chain(gridworld.DYNA_MAZE)
        self.chain = chain
        D = successor.maze_distances(chain)
        self.D = D.astype(int)
        self.max_d = int(D.max())
        # mass of mu(s, .) at each maze distance from s: (G, n, max_d + 1)
        onehot = (self.D[:, :, None] == np.arange(self.max_d + 1)).astype(float)  # (n, n, d)
        self.profile = np.einsum("gsj,sjd->gsd", self.M, onehot)
        ax_m, ax_d = fig.subplots(1, 2, width_ratios=[1.35, 1])
        self.image = _maze_mesh(self, ax_m, chain, LogNorm(1e-4, 1.0), "viridis")
        self.marker = self.animated(ax_m.plot([0], [0], "o", mfc="none", mec="red", mew=2, ms=13)[0])
        fig.colorbar(self.image, ax=ax_m, shrink=0.85, label="μ(s, ·)  (log scale)")
        ax_m.set_title("successor representation μ(s, ·)")
        d = np.arange(self.max_d + 1)
        self.bars = self.animated(ax_d.plot(d, self.profile[0, 0], "o-", color="C0", label="SR mass")[0])
        self.geom = self.animated(ax_d.plot(d, np.zeros_like(d, dtype=float), ":", color="C3",
                                            label="(1−γ)γ^d: one cell\nfurther every step")[0])
        ax_d.set(xlim=(-0.5, self.max_d + 0.5), ylim=(0, 1.05 * self.profile.max()),
                 xlabel="maze distance d from s", ylabel="future mass at distance d",
                 title="where the future of s lies")
        ax_d.legend(loc="upper right", fontsize=8)

    def update(self, gamma: float, state: int) -> str:
        g = int(np.argmin(np.abs(self.gammas - gamma)))
        s = int(np.clip(state, 0, self.chain.n - 1))
        mu = self.M[g, s]
        self.image.set_array(np.ma.masked_invalid(self.chain.to_grid(np.clip(mu, 1e-4, None))))
        r, c = self.chain.maze.cell(self.chain.cells[s])
        self.marker.set_data([c], [r])
        self.bars.set_ydata(self.profile[g, s])
        gm = self.gammas[g]
        self.geom.set_ydata((1 - gm) * gm ** np.arange(self.max_d + 1))
        mean_d = float(self.profile[g, s] @ np.arange(self.max_d + 1))
        return (f"γ = {gm:.2f}, s = {s} (cell {(r, c)}): μ(s, s) = {mu[s]:.3f}, μ(s, goal) = "
                f"{mu[self.chain.goal]:.4f}; future {mean_d:.1f} cells away on average; "
                f"V^π(s) = {self.V[g, s]:.3f}")


GPI_GAMMA = 0.9
"""Discount of the GPI demo (the notebook's)."""
GPI_WEIGHTS = np.linspace(-1.0, 1.0, 9)
"""The values each weight slider of the GPI demo can take."""


def gpi_demo_data(gpi_action: Callable, psi: np.ndarray, base: list[np.ndarray]) -> dict[str, np.ndarray]:
    """What :class:`GPIDemo` shows: GPI's actions for every setting of its four weight sliders.

    Calls ``gpi_action(psi, w)`` (Exercise 4.3) for each of the 9^4 weight vectors w in
    ``GPI_WEIGHTS`` x ... x ``GPI_WEIGHTS`` (itertools.product order). psi (K, n, A, d) are the
    base policies' successor features and ``base`` their tables pi_k (n, A). Returns
    {"actions": (9^4, n) uint8, "psi_s": (K, n, d)} with psi^k(s) = sum_a pi_k(a|s) psi^k(s, a),
    which gives each base policy's value on any new task.
    """
    psi = np.asarray(psi, dtype=float)
    actions = np.stack([np.asarray(gpi_action(psi, np.array(w)))
                        for w in itertools.product(GPI_WEIGHTS, repeat=psi.shape[-1])])
    return {"actions": actions.astype(np.uint8),
            "psi_s": np.einsum("ksa,ksad->ksd", np.stack(base), psi)}


class GPIDemo(LiveDemo):
    """Sliders: the new task's weights w -> the GPI policy and its value, vs the base policies.

    ``data`` is what :func:`gpi_demo_data` returns (computed with the student's ``gpi_action``).
    """

    alt = ("Left, the maze with the action GPI picks in each cell, coloured by its value on the new "
           "task; right, bars of the average value of each base policy and of GPI.")

    gamma = GPI_GAMMA
    sliders = {
        "w_goal": Slider(-1, 1, 0.25, -1.0, "w goal"),
        "w_bottom_left": Slider(-1, 1, 0.25, 1.0, "w bottom-left"),
        "w_top_left": Slider(-1, 1, 0.25, 0.0, "w top-left"),
        "w_bottom_right": Slider(-1, 1, 0.25, 1.0, "w bottom-right"),
    }
    figsize = (8.6, 3.4)

    def __init__(self, data: dict[str, np.ndarray]):
        self.actions = np.asarray(data["actions"], dtype=int)  # (9^d, n): GPI's action per slider setting
        self.psi_s = np.asarray(data["psi_s"], dtype=float)  # (K, n, d): psi^k(s) of base policy k
        super().__init__()

    def build(self, fig):
        chain = successor.maze_chain(gridworld.DYNA_MAZE)
        self.chain = chain
        self.phi = successor.landmark_features(chain)
        d = self.phi.shape[1]
        rc = np.array([chain.maze.cell(c) for c in chain.cells], dtype=float)  # (n, 2)
        ax_v, ax_b = fig.subplots(1, 2, width_ratios=[1.35, 1])
        self.image = _maze_mesh(self, ax_v, chain, TwoSlopeNorm(0.0, -1.0, 1.0), "RdBu")
        for k, cell in enumerate(successor.LANDMARKS):
            _label(self, ax_v, str(k + 1), [cell], 6, offset=(-0.25, 0.3))
        self.rc = rc
        # one marker line per action (up, down, right, left): cheaper to blit than a quiver
        self.arrows = [self.animated(ax_v.plot([], [], ls="none", marker=m, ms=6, color="k")[0])
                       for m in ("^", "v", ">", "<")]
        fig.colorbar(self.image, ax=ax_v, shrink=0.85, label="(1−γ) V(s) of GPI")
        ax_v.set_title("GPI policy on the new task")
        names = [f"π{k + 1}" for k in range(d)] + ["GPI"]
        # bars as one thick-line collection (one artist to blit instead of five rectangles)
        self.bars = self.animated(ax_b.vlines(np.arange(d + 1), 0, np.zeros(d + 1), lw=22,
                                              colors=[f"C{k}" for k in range(d)] + ["k"]))
        ax_b.axhline(0, color="gray", lw=0.8)
        ax_b.set(xticks=np.arange(d + 1), xticklabels=names, xlim=(-0.6, d + 0.6), ylim=(-1, 1),
                 ylabel="(1−γ) V, averaged over cells", title="return on the new task")

    def update(self, w_goal: float, w_bottom_left: float, w_top_left: float,
               w_bottom_right: float) -> str:
        w = np.array([w_goal, w_bottom_left, w_top_left, w_bottom_right], dtype=float)
        chain, g = self.chain, self.gamma
        r = self.phi @ w
        n_w = len(GPI_WEIGHTS)  # look GPI's actions up: row of this slider setting in product order
        idx = np.clip(np.rint((w - GPI_WEIGHTS[0]) / (GPI_WEIGHTS[1] - GPI_WEIGHTS[0])), 0, n_w - 1)
        action = self.actions[int(np.ravel_multi_index(idx.astype(int), (n_w,) * len(w)))]
        pi = successor.policy_table(action, chain.P.shape[1])
        P_pi = successor.policy_transition(chain.P, pi)
        V_gpi = np.linalg.solve(np.eye(chain.n) - g * P_pi, r)
        V_base = self.psi_s @ w / (1 - g)  # (K, n): each base policy on the new reward, no relearning
        self.image.set_array(np.ma.masked_invalid(chain.to_grid((1 - g) * V_gpi)))
        action = action.copy()
        action[chain.goal] = -1  # from the goal every action restarts the episode: no arrow
        for a, line in enumerate(self.arrows):
            line.set_data(self.rc[action == a, 1], self.rc[action == a, 0])
        means = np.append(V_base.mean(axis=1), V_gpi.mean()) * (1 - g)
        self.bars.set_segments([[(k, 0.0), (k, h)] for k, h in enumerate(means)])
        gain = float((V_gpi[None] - V_base).min())
        gain = 0.0 if abs(gain) < 1e-9 else gain  # round-off, not a loss
        return (f"w = {np.array2string(w, precision=2)}: mean (1−γ)V of GPI {means[-1]:.3f}, best base "
                f"{means[:-1].max():.3f}; smallest gain over a base policy {gain:.3f}")


STATIC_IMAGES = {"part4_sr.png": lambda: SRDemo(sr_demo_data()),
                 "part4_gpi.png": lambda: GPIDemo(precomputed.load("part4_gpi_demo"))}


def plot_future_densities(grids: list[list[np.ndarray]], row_titles: list[str], col_titles: list[str],
                          env, queries, actions, figsize: tuple[float, float] | None = None):
    """A static figure: one row per method, one column per query (s, a), each an (n_bins, n_bins) grid.

    grids[i][j] is the cell probabilities of method i for query j (x along axis 0, as
    ``clearning.histogram`` returns). Draws the walls, the state s (white dot) and the action a.
    """
    n_rows, n_cols = len(grids), len(grids[0])
    figsize = figsize or (2.6 * n_cols + 0.8, 2.4 * n_rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=figsize, squeeze=False, layout="constrained")
    vmax = max(float(np.max(g)) for row in grids for g in row)
    for i, row in enumerate(grids):
        for j, grid in enumerate(row):
            ax = axes[i, j]
            mesh = ax.imshow(np.asarray(grid).T, origin="lower", extent=(-1, 1, -1, 1), cmap="magma",
                             vmin=0, vmax=vmax, interpolation="nearest")
            for (x0, y0), (x1, y1) in env.wall_segments():
                ax.plot([x0, x1], [y0, y1], color="deepskyblue", lw=2.5)
            s, a = np.asarray(queries[j], dtype=float), np.asarray(actions[j], dtype=float)
            ax.plot(*s, "o", color="white", ms=5)
            ax.annotate("", xy=s + 0.25 * a, xytext=s, arrowprops={"arrowstyle": "->", "color": "white"})
            ax.set(xticks=[], yticks=[])
            if i == 0:
                ax.set_title(col_titles[j], fontsize=9)
            if j == 0:
                ax.set_ylabel(row_titles[i], fontsize=9)
    fig.colorbar(mesh, ax=axes, shrink=0.8, label="probability of the cell")
    return fig
