"""Matplotlib figures the chapters share: distributions, temperatures, matrices.

Every function takes tensors on any device, draws on the given `ax` (or a new figure) and
returns what it drew on, so a notebook can add titles or combine panels. Nothing here calls
`plt.show()`; the notebook does, so figures land where the reader expects them.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tinytx.nn.functional import softmax

# Past this many bars the value labels overlap and stop helping.
_MAX_ANNOTATED_BARS = 12


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
        top: show only the `top` most probable entries, most probable first (for large vocabularies).
        color: a matplotlib colour for the bars.
    """
    probs = _cpu(probs)
    if probs.ndim != 1:
        raise ValueError(f"plot_distribution needs a 1-D tensor of probabilities, got shape {tuple(probs.shape)}")
    labels = [str(i) for i in range(len(probs))] if labels is None else [str(label) for label in labels]
    if len(labels) != len(probs):
        raise ValueError(f"got {len(labels)} labels for {len(probs)} probabilities; pass one label per entry")
    order = range(len(probs)) if top is None else probs.argsort(descending=True)[:top].tolist()
    shown_probs = [probs[i].item() for i in order]
    shown_labels = [labels[i] for i in order]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.0, 0.5 * len(shown_probs)), 2.6))
    bars = ax.bar(range(len(shown_probs)), shown_probs, color=color)
    ax.set_xticks(range(len(shown_probs)), shown_labels, rotation=45 if max(map(len, shown_labels)) > 3 else 0)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("probability")
    if len(shown_probs) <= _MAX_ANNOTATED_BARS:
        ax.bar_label(bars, labels=[f"{p:.2f}" for p in shown_probs], fontsize=8, padding=1)
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
    """One bar chart per temperature of softmax(logits / T), side by side with a shared y axis.

    Args:
        logits: (V,) scores.
        temperatures: the values of T to compare, e.g. (0.25, 0.5, 1, 2, 4).
        labels, top: as in `plot_distribution`.
    """
    n_bars = len(logits) if top is None else top
    fig, axes = plt.subplots(
        1, len(temperatures), figsize=(max(2.2, 0.42 * n_bars) * len(temperatures), 2.8), sharey=True, squeeze=False
    )
    for ax, temperature in zip(axes[0], temperatures):
        plot_distribution(softmax(_cpu(logits), temperature=temperature), labels, ax=ax, top=top,
                          title=f"T = {temperature:g}")
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
    """Heat map of a 2-D tensor (attention weights, masks, Jacobians), rows top to bottom.

    Args:
        matrix: (R, C) values; -inf and nan entries are drawn blank and annotated as such.
        row_labels, col_labels: names for the rows (queries) and columns (keys).
        annotate: write each value in its cell (only for small matrices: at most 12 x 12).
        vmin, vmax: colour range; defaults to the finite values' range.
    """
    matrix = _cpu(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"plot_matrix needs a 2-D tensor, got shape {tuple(matrix.shape)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.5 * matrix.shape[1] + 1.5, 0.5 * matrix.shape[0] + 0.8))
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
                if not torch.isfinite(matrix[r, c]):  # drawn blank (white), so dark text
                    text, color = str(value), "black"
                else:  # dark text on the bright end of the colour map, light text on the dark end
                    text, color = f"{value:.2f}", "black" if value > (low + high) / 2 else "white"
                ax.text(c, r, text, ha="center", va="center", fontsize=8, color=color)
    if title is not None:
        ax.set_title(title)
    return ax
