"""Matplotlib figures the chapters share: distributions, temperatures, matrices.

Every function takes tensors on any device, draws on the given `ax`
(or a new figure) and returns what it drew on, so a notebook can add titles or
combine panels. Nothing here calls `plt.show()`; the notebook does, so figures land
where the reader expects them.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tinytx.nn.functional import softmax

# Past this many bars the value labels overlap and stop helping.
_MAX_ANNOTATED_BARS = 12
# Figure widths in inches at the notebooks' 100 dpi: the book's article column shows
# 680 px at 1280 px, a cell tagged full-width about 975 px. Panels side by side go in
# full-width cells, at most two to a row, so that each is 400 px or wider.
COLUMN, FULL_WIDTH = 6.8, 9.6


def _cpu(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", torch.float32)


def plot_distribution(
    probs: torch.Tensor,
    labels: Sequence[str] | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    top: int | None = None,
    color: str = "C0",
) -> Axes:
    """Bar chart of one probability distribution.

    Args:
        probs: (V,) probabilities (non-negative, summing to 1).
        labels: V names for the bars (tokens, words); defaults to the indices 0..V-1.
        ax: where to draw; a new figure when None.
        title: the axes title.
        top: show only the `top` most probable entries, most probable first
            (for large vocabularies).
        color: a matplotlib colour for the bars.
    """
    probs = _cpu(probs)
    if probs.ndim != 1:
        raise ValueError(
            "plot_distribution needs a 1-D tensor of probabilities, got shape "
            f"{tuple(probs.shape)}"
        )
    labels = (
        [str(i) for i in range(len(probs))]
        if labels is None
        else [str(label) for label in labels]
    )
    if len(labels) != len(probs):
        raise ValueError(
            f"got {len(labels)} labels for {len(probs)} probabilities; "
            "pass one label per entry"
        )
    order = (
        range(len(probs))
        if top is None
        else probs.argsort(descending=True)[:top].tolist()
    )
    shown_probs = [probs[i].item() for i in order]
    shown_labels = [labels[i] for i in order]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.0, 0.5 * len(shown_probs)), 2.6))
    bars = ax.bar(range(len(shown_probs)), shown_probs, color=color)
    ax.set_xticks(
        range(len(shown_probs)),
        shown_labels,
        rotation=45 if max(map(len, shown_labels)) > 3 else 0,
    )
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("probability")
    if len(shown_probs) <= _MAX_ANNOTATED_BARS:
        ax.bar_label(
            bars, labels=[f"{p:.2f}" for p in shown_probs], fontsize=9, padding=1
        )
    if title is not None:
        ax.set_title(title)
    return ax


def plot_temperatures(
    logits: torch.Tensor,
    temperatures: Sequence[float],
    labels: Sequence[str] | None = None,
    *,
    top: int | None = None,
) -> Figure:
    """One bar chart per temperature of softmax(logits / T), two to a row (a figure
    for a full-width cell), with a shared y axis.

    Args:
        logits: (V,) scores.
        temperatures: the values of T to compare, e.g. (0.25, 0.5, 1, 2, 4).
        labels, top: as in `plot_distribution`.
    """
    nrows = -(-len(temperatures) // 2)  # ceiling division
    fig, axes = plt.subplots(
        nrows, 2, figsize=(FULL_WIDTH, 2.6 * nrows), sharey=True, squeeze=False
    )
    for ax in axes.flat[len(temperatures) :]:
        ax.set_axis_off()
    for ax, temperature in zip(axes.flat, temperatures):
        plot_distribution(
            softmax(_cpu(logits), temperature=temperature),
            labels,
            ax=ax,
            top=top,
            title=f"T = {temperature:g}",
        )
        ax.label_outer()
    fig.tight_layout()
    return fig


def plot_matrix(
    matrix: torch.Tensor,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    cmap: str = "viridis",
    annotate: bool = True,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Axes:
    """Heat map of a 2-D tensor (attention weights, masks,
    Jacobians), rows top to bottom.

    Args:
        matrix: (R, C) values; -inf and nan entries are drawn
            blank and annotated as such.
        row_labels, col_labels: names for the rows (queries) and columns (keys).
        annotate: write each value in its cell (only for small
            matrices: at most 12 x 12).
        vmin, vmax: colour range; defaults to the finite values' range.
    """
    matrix = _cpu(matrix)
    if matrix.ndim != 2:
        raise ValueError(
            f"plot_matrix needs a 2-D tensor, got shape {tuple(matrix.shape)}"
        )
    if ax is None:
        _, ax = plt.subplots(
            figsize=(0.5 * matrix.shape[1] + 1.5, 0.5 * matrix.shape[0] + 0.8)
        )
    finite = torch.where(torch.isfinite(matrix), matrix, torch.nan)
    image = ax.imshow(finite.numpy(), cmap=cmap, vmin=vmin, vmax=vmax)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    rows, cols = matrix.shape
    ax.set_yticks(range(rows), row_labels if row_labels is not None else range(rows))
    ax.set_xticks(range(cols), col_labels if col_labels is not None else range(cols))
    if annotate and rows <= 12 and cols <= 12:
        low, high = image.get_clim()
        for r in range(rows):
            for c in range(cols):
                value = matrix[r, c].item()
                if not torch.isfinite(matrix[r, c]):
                    # drawn blank (white), so dark text
                    text, color = str(value), "black"
                else:
                    # dark text on the bright end of the colour map,
                    # light text on the dark end
                    text, color = (
                        f"{value:.2f}",
                        "black" if value > (low + high) / 2 else "white",
                    )
                ax.text(c, r, text, ha="center", va="center", fontsize=9, color=color)
    if title is not None:
        ax.set_title(title)
    return ax


def show_char(ch: str) -> str:
    """A visible label for one character: '␣' for a space, '⏎' for a newline."""
    return {" ": "␣", "\n": "⏎", "\t": "⇥"}.get(ch, ch)


def plot_attention_heads(
    weights: torch.Tensor,
    *,
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    titles: Sequence[str] | None = None,
    ncols: int = 2,
    panel_size: float = 4.5,
    fontsize: float = 9,
) -> Figure:
    """A grid of attention maps, one panel per head, on a shared 0..1 colour scale.

    Args:
        weights: (H, T, S) attention weights (queries down the rows,
            keys across the columns).
        query_labels, key_labels: T and S tick labels (e.g.
            characters, see `show_char`).
        titles: H panel titles; defaults to "head 0", "head 1", ...
        ncols: panels per row (two fill a full-width cell).
        panel_size: width and height of one panel in inches.
        fontsize: size of the tick labels (at least 9 points, so they can be read).
    """
    weights = _cpu(weights)
    if weights.ndim != 3:
        raise ValueError(
            "plot_attention_heads needs (H, T, S) weights, got shape "
            f"{tuple(weights.shape)}"
        )
    n_heads, T, S = weights.shape
    titles = [f"head {h}" for h in range(n_heads)] if titles is None else list(titles)
    nrows = -(-n_heads // ncols)  # ceiling division
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size * ncols + 0.6, panel_size * nrows * T / S + 0.4),
        squeeze=False,
        constrained_layout=True,
    )
    image = None
    for h, ax in enumerate(axes.flat):
        if h >= n_heads:
            ax.axis("off")
            continue
        image = ax.imshow(weights[h].numpy(), cmap="viridis", vmin=0, vmax=1)
        ax.set_title(titles[h], fontsize=9)
        if query_labels is not None:
            ax.set_yticks(
                range(T), list(query_labels), fontsize=fontsize, family="monospace"
            )
        if key_labels is not None:
            ax.set_xticks(
                range(S), list(key_labels), fontsize=fontsize, family="monospace"
            )
        ax.tick_params(length=0, pad=1)
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    return fig


def plot_heatmap(
    matrix: torch.Tensor,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    cmap: str = "RdBu_r",
    vmin: float | None = None,
    vmax: float | None = None,
    centered: bool = False,
    colorbar_label: str | None = None,
) -> Axes:
    """Heat map of a large 2-D tensor (a position table, a similarity
    matrix), rows top to bottom.

    Unlike `plot_matrix` it writes no value in the cells and lets matplotlib choose the
    ticks, so it suits matrices of hundreds of rows and columns.

    Args:
        matrix: (R, C) values.
        ax: where to draw; a new figure when None.
        title, xlabel, ylabel, colorbar_label: the labels.
        cmap: a matplotlib colour map; the default diverging one suits values around 0.
        vmin, vmax: colour range; defaults to the values' range.
        centered: make the colour range symmetric around 0 (white = 0
            with the default colour map).
    """
    matrix = _cpu(matrix)
    if matrix.ndim != 2:
        raise ValueError(
            f"plot_heatmap needs a 2-D tensor, got shape {tuple(matrix.shape)}"
        )
    if centered and vmin is None and vmax is None:
        vmax = matrix.abs().max().item()
        vmin = -vmax
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.6))
    image = ax.imshow(
        matrix.numpy(),
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        aspect="auto",
        interpolation="nearest",
    )
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=colorbar_label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return ax


def plot_table_slices(
    table: torch.Tensor,
    row: int,
    col: int,
    *,
    row_name: str = "position",
    col_name: str = "dimension",
    title: str | None = None,
) -> Figure:
    """A table as a heat map with one row and one column
    highlighted, and both as curves.

    Top: the (R, C) table, the chosen row and column outlined. Bottom left: the
    column as a curve over the rows (for a position table, one dimension as a wave
    over positions). Bottom right: the row as a curve over the columns (one
    position's vector). A dot marks the shared entry. A figure for a full-width cell.

    Args:
        table: (R, C) values, e.g. a (T, d) positional encoding.
        row, col: the row and column to highlight.
        row_name, col_name: what rows and columns are, for the labels.
        title: a title over the whole figure.
    """
    table = _cpu(table)
    if table.ndim != 2:
        raise ValueError(
            f"plot_table_slices needs a 2-D tensor, got shape {tuple(table.shape)}"
        )
    rows, cols = table.shape
    if not (0 <= row < rows and 0 <= col < cols):
        raise ValueError(
            f"row must be in 0..{rows - 1} and col in 0..{cols - 1}, got "
            f"row={row}, col={col}"
        )
    fig = plt.figure(figsize=(FULL_WIDTH, 6.4))
    grid = fig.add_gridspec(2, 2, height_ratios=[1.1, 1])
    left = fig.add_subplot(grid[0, :])
    middle, right = fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])
    plot_heatmap(table, ax=left, xlabel=col_name, ylabel=row_name, centered=True)
    left.axhline(row, color="black", linewidth=1)
    left.axvline(col, color="C2", linewidth=1.5)
    value = table[row, col].item()
    middle.plot(range(rows), table[:, col].numpy(), color="C2")
    middle.plot([row], [value], "o", color="black")
    middle.set(
        xlabel=row_name, ylabel="value", title=f"{col_name} {col} over all {row_name}s"
    )
    right.plot(range(cols), table[row].numpy(), color="black", linewidth=0.8)
    right.plot([col], [value], "o", color="C2")
    right.set(xlabel=col_name, ylabel="value", title=f"{row_name} {row}: its vector")
    limit = 1.08 * max(table.abs().max().item(), 1e-12)
    for ax in (middle, right):
        ax.set_ylim(-limit, limit)
        ax.axhline(0, color="gray", linewidth=0.5)
    if title is not None:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_token_embedding(
    weight: torch.Tensor,
    index: int,
    labels: Sequence[str] | None = None,
    *,
    k: int = 8,
) -> Figure:
    """Token `index` of an embedding table: its row as bars,
    and its k nearest neighbours.

    Neighbours are ranked by cosine similarity of the rows, the token itself left out.

    Args:
        weight: (V, C) embedding table, one row per token.
        index: the token's id, 0 <= index < V.
        labels: V names for the tokens (e.g. `show_char` of each
            character); defaults to the ids.
        k: how many neighbours to list (at most V - 1).
    """
    weight = _cpu(weight)
    if weight.ndim != 2:
        raise ValueError(
            "plot_token_embedding needs a (V, C) table, got shape "
            f"{tuple(weight.shape)}"
        )
    V, C = weight.shape
    if not 0 <= index < V:
        raise ValueError(f"index must be a token id in [0, {V}), got {index}")
    if not 1 <= k < V:
        raise ValueError(f"k must be between 1 and V - 1 = {V - 1}, got {k}")
    labels = (
        [str(i) for i in range(V)]
        if labels is None
        else [str(label) for label in labels]
    )
    if len(labels) != V:
        raise ValueError(
            f"got {len(labels)} labels for {V} tokens; pass one label per row"
        )
    unit = weight / weight.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    similarity = unit @ unit[index]
    similarity[index] = -torch.inf  # a token is not its own neighbour
    top = similarity.topk(k)
    fig, (left, right) = plt.subplots(
        2, 1, figsize=(COLUMN, 5.6), gridspec_kw={"height_ratios": [1, 1.2]}
    )
    left.bar(range(C), weight[index].numpy(), width=1.0, color="C0")
    left.axhline(0, color="gray", linewidth=0.5)
    left.set_xlim(-0.5, C - 0.5)
    left.set(
        xlabel="dimension",
        ylabel="value",
        title=(
            f"row {index} ({labels[index]}): {C} numbers, "
            f"norm {weight[index].norm():.2f}"
        ),
    )
    right.barh(range(k), top.values.numpy(), color="C1")
    right.set_yticks(range(k), [labels[i] for i in top.indices.tolist()])
    right.invert_yaxis()
    right.set_xlim(min(0.0, top.values.min().item() - 0.05), 1.0)
    right.set(xlabel="cosine similarity", title=f"{k} nearest neighbours")
    fig.tight_layout()
    return fig


def activation_curves(fn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(fn(x), fn'(x)) for an elementwise activation `fn`,
    the derivative by autograd."""
    x = _cpu(x).clone().requires_grad_(True)
    y = fn(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    return y.detach(), grad.detach()


def plot_activations(
    activations: dict,
    x_range: tuple[float, float] = (-4.0, 4.0),
    *,
    highlight: str | None = None,
    mark: float | None = None,
    axes: Sequence[Axes] | None = None,
) -> Figure:
    """Two panels: each activation's curve and its derivative (computed by autograd).

    Args:
        activations: {name: elementwise function of a tensor}, e.g.
            {"ReLU": F.relu, "GELU": F.gelu}.
        x_range: the interval of inputs drawn.
        highlight: draw this activation bold and the others faint.
        mark: an input x0 to mark on the highlighted curve, with its tangent line.
        axes: two axes to draw on; when None, a new figure for a full-width cell.
    """
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(FULL_WIDTH, 3.4))
    else:
        fig = axes[0].figure
    value_ax, grad_ax = axes
    x = torch.linspace(x_range[0], x_range[1], 801)
    for i, (name, fn) in enumerate(activations.items()):
        y, grad = activation_curves(fn, x)
        faint = highlight is not None and name != highlight
        style = {
            "color": f"C{i}",
            "label": name,
            "alpha": 0.3 if faint else 1.0,
            "linewidth": 1.2 if faint else 2.0,
        }
        value_ax.plot(x, y, **style)
        grad_ax.plot(x, grad, **style)
    if mark is not None and highlight is not None:
        (y0,), (slope,) = activation_curves(
            activations[highlight], torch.tensor([float(mark)])
        )
        span = torch.tensor([max(mark - 1.5, x_range[0]), min(mark + 1.5, x_range[1])])
        value_ax.plot(
            span,
            y0 + slope * (span - mark),
            color="black",
            linestyle=":",
            linewidth=1,
            label="tangent",
        )
        value_ax.plot([mark], [y0], "ko")
        grad_ax.plot([mark], [slope], "ko")
    for ax, title in ((value_ax, "activation f(x)"), (grad_ax, "derivative f'(x)")):
        ax.axhline(0, color="gray", linewidth=0.5)
        ax.axvline(0, color="gray", linewidth=0.5)
        ax.set(xlabel="x", title=title, xlim=x_range)
        ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def smooth(values: Sequence[float], window: int = 20) -> torch.Tensor:
    """Moving average over `window` steps, (N,) -> (N - window + 1,): the training
    loss without its batch-to-batch noise."""
    kernel = torch.ones(1, 1, window) / window
    series = torch.tensor(values, dtype=torch.float32)[None, None]
    return torch.nn.functional.conv1d(series, kernel)[0, 0]


def plot_loss_curves(
    runs: dict,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    window: int = 20,
) -> Axes:
    """Training loss (smoothed, faint) and validation loss (dots) of several runs.

    Args:
        runs: {label: (history, colour)}, each history a `tinytx.TrainHistory`.
        ax: where to draw; a new single-column figure when None.
        window: the moving average of the training loss (see `smooth`).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.8, 3.4))
    for label, (history, color) in runs.items():
        ax.plot(
            history.steps[window - 1 :],
            smooth(history.train_loss, window),
            color=color,
            alpha=0.5,
            label=f"{label}, train (smoothed)",
        )
        ax.plot(
            history.val_steps,
            history.val_loss,
            "o-",
            color=color,
            label=f"{label}, validation",
        )
    ax.set(xlabel="step", ylabel="loss", title=title)
    ax.legend()
    return ax


def plot_grad_norms(
    history,
    tracked: dict[str, str],
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """The recorded gradient norm of some parameters over training, on a log scale.

    Args:
        history: a `tinytx.TrainHistory` trained with `grad_norm_every`.
        tracked: {label: parameter name}, e.g. {"fc_in": "blocks.0.ffn.fc_in.weight"}.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.8, 3.4))
    for i, (label, name) in enumerate(tracked.items()):
        ax.semilogy(
            history.grad_norm_steps,
            history.grad_norms[name],
            color=f"C{i}",
            label=label,
        )
    ax.set(xlabel="step", ylabel="gradient norm", title=title)
    return ax


def plot_per_block(
    profiles: dict,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    ylabel: str = "gradient norm",
    empty: str = "nothing measured here",
) -> Axes:
    """One value per block (a gradient norm, say) against the block's index, on a log
    scale, one line per variant.

    Args:
        profiles: {label: (values, colour)}, values[i] for block i (0 = next to the
            embeddings). Values are floored at 1e-12 so that a zero stays on the plot.
        empty: the text to show when `profiles` is empty.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(COLUMN, 3.4))
    for label, (values, color) in profiles.items():
        floored = [max(v, 1e-12) for v in values]
        ax.semilogy(range(len(values)), floored, "o-", color=color, label=label)
    if not profiles:
        ax.text(0.5, 0.5, empty, ha="center", transform=ax.transAxes)
    ax.set(
        xlabel="block index (0 = next to the embeddings)", ylabel=ylabel, title=title
    )
    if profiles:
        ax.legend()
    return ax


def plot_window(
    inputs: Sequence[str],
    targets: Sequence[str],
    *,
    title: str = "one training window: the target at t is the input at t + 1",
) -> Figure:
    """A training window as two rows of tokens, the input x above the target y, with an
    arrow from each input at t + 1 down to the target at t it equals.

    Args:
        inputs, targets: the T token texts of x and y (see `show_char`).
    """
    T = len(inputs)
    if len(targets) != T:
        raise ValueError(f"got {T} inputs and {len(targets)} targets; pass one each")
    fig, ax = plt.subplots(figsize=(min(FULL_WIDTH, 0.42 * T + 1), 1.9))
    for t in range(T):
        for row, tokens, color in ((1, inputs, "#dbe9f6"), (0, targets, "#fde2c8")):
            ax.add_patch(plt.Rectangle((t - 0.45, row - 0.35), 0.9, 0.7, color=color))
            ax.text(t, row, tokens[t], ha="center", va="center", fontsize=10)
        if t + 1 < T:
            arrow = {"arrowstyle": "->", "color": "0.6", "lw": 0.8}
            ax.annotate("", xy=(t, 0.38), xytext=(t + 1, 0.62), arrowprops=arrow)
    ax.set(xlim=(-1.6, T - 0.4), ylim=(-0.5, 1.5), xlabel="position t")
    ax.set_yticks([0, 1], ["target y", "input x"])
    ax.set_xticks(range(T), [str(t) for t in range(T)], fontsize=9)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def spread_labels(
    points: torch.Tensor, min_distance: float = 0.045, steps: int = 300
) -> torch.Tensor:
    """Positions for the labels of `points` (N, 2), in the same units, pushed apart
    until no two are closer than `min_distance` times the data's extent, each as close
    to its own point as that allows. Labels of coinciding points then stay readable."""
    points = _cpu(points)
    extent = (points.max(0).values - points.min(0).values).clamp_min(1e-12)
    unit = (points - points.min(0).values) / extent  # both axes to 0..1
    # a small start on a circle, so that labels of identical points can part
    angle = torch.arange(len(points)) * 2.4  # radians: consecutive ones far apart
    labels = unit + 1e-3 * torch.stack([angle.cos(), angle.sin()], dim=1)
    for _ in range(steps):
        offset = labels[:, None] - labels[None]  # (N, N, 2)
        distance = offset.norm(dim=-1).fill_diagonal_(float("inf"))
        push = (min_distance - distance).clamp_min(0) / distance.clamp_min(1e-9)
        labels = (
            labels + 0.5 * (push[..., None] * offset).sum(1) + 0.05 * (unit - labels)
        )
    return labels * extent + points.min(0).values


def plot_labelled_points(
    points: torch.Tensor,
    labels: Sequence[str],
    colors: Sequence[str],
    *,
    ax: Axes | None = None,
    fontsize: float = 11,
) -> Axes:
    """A 2-D map of labelled points (a PCA of embeddings): each label placed by
    `spread_labels`, with a thin line to its point when it had to move."""
    if ax is None:
        _, ax = plt.subplots(figsize=(FULL_WIDTH, 7.4))
    points = _cpu(points)
    placed = spread_labels(points)
    extent = points.max(0).values - points.min(0).values
    moved = ((placed - points) / extent).norm(dim=-1) > 0.01
    for point, spot, label, color, far in zip(points, placed, labels, colors, moved):
        if far:  # a dot where the point is, a thin line to its label
            ax.plot(*zip(point.tolist(), spot.tolist()), color=color, linewidth=0.6)
            ax.plot(*point.tolist(), "o", color=color, markersize=2.5)
        ax.text(
            *spot.tolist(),
            label,
            color=color,
            fontsize=fontsize,
            ha="center",
            va="center",
            fontweight="bold",
            zorder=3,
        )
    pad = 0.1 * (points.max(0).values - points.min(0).values)
    ax.set_xlim(points[:, 0].min() - pad[0], points[:, 0].max() + pad[0])
    ax.set_ylim(points[:, 1].min() - pad[1], points[:, 1].max() + pad[1])
    return ax
