"""The shared figures are readable where the book shows them: no wider than a
full-width cell, no text under 9 points, and every panel at least 400 px wide."""

import matplotlib
import pytest
import torch
import torch.nn.functional as F

import tinytx
from tinytx.teach import viz

matplotlib.use("Agg")
DPI = 100  # the notebooks' figures


def figure_problems(fig) -> list[str]:
    fig.canvas.draw()
    problems = []
    width = fig.get_size_inches()[0]
    if width > viz.FULL_WIDTH + 1e-9:
        problems.append(f"{width} inches wide")
    for text in fig.findobj(matplotlib.text.Text):
        if text.get_text().strip() and text.get_visible() and text.get_fontsize() < 9:
            problems.append(f"{text.get_text()!r} at {text.get_fontsize()} pt")
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.axison]
    for ax in panels if len(panels) > 1 else []:  # a lone panel may be small
        panel = ax.get_position().width * width * DPI
        if panel < 400:
            problems.append(f"a panel {panel:.0f} px wide ({ax.get_title()!r})")
    matplotlib.pyplot.close(fig)
    return problems


def history(steps=60):
    model = tinytx.GPT(
        tinytx.GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16)
    )
    ids = torch.randint(0, 11, (400,), generator=tinytx.seed(0))
    return tinytx.train(model, ids[:300], ids[300:], steps=steps, batch_size=4,
                        eval_interval=20, eval_windows=4, grad_norm_every=10,
                        progress=False)  # fmt: skip


FIGURES = {
    "temperatures": lambda: viz.plot_temperatures(torch.randn(6), (0.25, 0.5, 1, 2, 4)),
    "attention heads": lambda: viz.plot_attention_heads(
        torch.rand(4, 30, 30),
        query_labels=list("abcdefghij" * 3),
        key_labels=list("abcdefghij" * 3),
    ),
    "table slices": lambda: viz.plot_table_slices(torch.randn(64, 32), 5, 7),
    "token embedding": lambda: viz.plot_token_embedding(torch.randn(20, 16), 3, k=5),
    "activations": lambda: viz.plot_activations({"ReLU": F.relu, "GELU": F.gelu}),
    "matrix": lambda: viz.plot_matrix(torch.rand(6, 6)).figure,
    "heatmap": lambda: viz.plot_heatmap(torch.randn(50, 40)).figure,
    "distribution": lambda: (
        viz.plot_distribution(torch.softmax(torch.randn(8), 0)).figure
    ),
    "loss curves": lambda: viz.plot_loss_curves({"run": (history(), "C0")}).figure,
    "gradient norms": lambda: (
        viz.plot_grad_norms(history(), {"fc_in": "blocks.0.ffn.fc_in.weight"}).figure
    ),
}


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_is_readable_in_the_book(name):
    assert figure_problems(FIGURES[name]()) == []


def test_the_readability_check_catches_small_text_and_narrow_panels():
    fig, axes = matplotlib.pyplot.subplots(1, 3, figsize=(9.6, 3))
    axes[0].plot([0, 1], label="x")
    axes[0].legend(fontsize=8)
    problems = figure_problems(fig)
    assert any("8" in p and "pt" in p for p in problems)
    assert sum("px wide" in p for p in problems) == 3


def test_smooth_is_a_moving_average():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    torch.testing.assert_close(
        viz.smooth(values, 2), torch.tensor([1.5, 2.5, 3.5, 4.5])
    )
    assert len(viz.smooth(list(range(100)), 20)) == 81


def test_spread_labels_moves_coinciding_labels_apart_and_leaves_the_rest():
    points = torch.tensor(
        [[0.0, 0.0], [0.0, 0.0], [0.001, 0.0], [1.0, 1.0], [0.5, 0.2]]
    )
    placed = viz.spread_labels(points, min_distance=0.05)
    gaps = torch.pdist(placed)  # the data's extent is 1 on both axes here
    assert gaps.min() > 0.04, gaps
    torch.testing.assert_close(placed[3], points[3], atol=0.01, rtol=0)
    torch.testing.assert_close(placed[4], points[4], atol=0.01, rtol=0)
