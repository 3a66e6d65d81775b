"""Interactive explorers built from core ipywidgets (7.7 on Colab and 8.x both work).

Each function returns a widget; display it by making it the last expression of a cell.
The rendered book shows no live widgets, so a chapter also draws a static figure of the same idea.
"""

from __future__ import annotations

import math
from typing import Sequence

import ipywidgets
import matplotlib.pyplot as plt
import torch

from tinytx.nn.functional import softmax
from tinytx.teach import viz


def temperature_explorer(
    logits: torch.Tensor,
    labels: Sequence[str] | None = None,
    *,
    top: int | None = None,
    low: float = 0.1,
    high: float = 10.0,
) -> ipywidgets.VBox:
    """A temperature slider over softmax(logits / T), redrawn as a bar chart on every move.

    The slider is logarithmic, so T = 0.1, 1 and 10 sit evenly spaced and T = 1 (the model's
    own distribution) starts in the middle.

    Args:
        logits: (V,) scores, e.g. a model's next-token logits.
        labels: V names for the bars; defaults to the indices.
        top: show only the `top` most probable entries (for large vocabularies).
        low, high: the slider's range of temperatures, 0 < low < 1 < high.
    """
    if not 0 < low < 1 < high:
        raise ValueError(f"need 0 < low < 1 < high so that T = 1 is on the slider, got low={low}, high={high}")
    logits = logits.detach().to("cpu", torch.float32)
    slider = ipywidgets.FloatLogSlider(
        value=1.0, base=10, min=math.log10(low), max=math.log10(high), step=0.02,
        description="temperature", continuous_update=True, readout_format=".2f",
        style={"description_width": "initial"}, layout=ipywidgets.Layout(width="420px"),
    )

    def draw(temperature: float) -> None:
        probs = softmax(logits, temperature=temperature)
        entropy = -(probs * probs.clamp_min(1e-30).log()).sum().item()
        ax = viz.plot_distribution(probs, labels, top=top)
        ax.set_title(f"T = {temperature:.2f}   entropy = {entropy:.2f} nats (uniform: {math.log(len(probs)):.2f})")
        plt.show()

    return ipywidgets.VBox([slider, ipywidgets.interactive_output(draw, {"temperature": slider})])
