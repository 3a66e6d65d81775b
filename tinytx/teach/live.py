"""Widgets whose work happens in the browser, so they stay live in the rendered book.

Each is an `anywidget.AnyWidget`: its front end is an ES module in `tinytx/teach/js/`,
and everything it computes follows from the widget's synced state. In a notebook the
state syncs with Python both ways; in the book, which has no kernel, the html-manager
gives the module the state saved when the chapter ran, and the maths runs in
JavaScript. Each widget also says, in Python, what its page computes (`probs`), so
the tests can compare the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anywidget
import torch
import torch.nn.functional as F
import traitlets

from tinytx.distributed import step_traffic, training_memory
from tinytx.nn.functional import softmax
from tinytx.nn.positional import sinusoidal_positions
from tinytx.tokenizers import BPETokenizer, CharTokenizer

JS = Path(__file__).parent / "js"


def bundle(*files: str) -> str:
    """The JS files (in tinytx/teach/js/) joined into one ES module, in order.

    A widget's front end reaches the page as a single module that cannot import its
    neighbours, so shared helpers (maths.js, draw.js, transformer.js) are joined in
    front of the widget's own file, whose functions can then call them.
    """
    return "\n".join((JS / name).read_text(encoding="utf-8") for name in files)


class TemperatureWidget(anywidget.AnyWidget):
    """A temperature slider over softmax(logits / T), drawn as bars.

    The slider is logarithmic between `low` and `high`, so T = 0.1, 1 and 10 sit evenly
    spaced and T = 1, the distribution itself, can start in the middle.
    """

    _esm = bundle("maths.js", "temperature.js")
    logits = traitlets.List(traitlets.Float()).tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    temperature = traitlets.Float(1.0).tag(sync=True)
    low = traitlets.Float(0.1).tag(sync=True)
    high = traitlets.Float(10.0).tag(sync=True)

    def __init__(
        self,
        logits: torch.Tensor | Sequence[float],
        labels: Sequence[str] | None = None,
        *,
        temperature: float = 1.0,
        low: float = 0.1,
        high: float = 10.0,
    ) -> None:
        """logits: (V,) scores; labels: V names for the bars (default: the indices)."""
        values = torch.as_tensor(logits, dtype=torch.float32).flatten().tolist()
        names = [str(i) for i in range(len(values))] if labels is None else labels
        if len(names) != len(values) or not values:
            raise ValueError(
                f"got {len(values)} logits and {len(names)} labels; pass one label "
                "per logit, and at least one"
            )
        if not 0 < low <= temperature <= high:
            raise ValueError(
                f"need 0 < low <= temperature <= high, got low={low}, "
                f"temperature={temperature}, high={high}"
            )
        super().__init__(
            logits=values,
            labels=[str(n) for n in names],
            temperature=temperature,
            low=low,
            high=high,
        )

    @property
    def probs(self) -> torch.Tensor:
        """(V,) softmax(logits / temperature): the bars the page draws."""
        return softmax(torch.tensor(self.logits), temperature=self.temperature)


class SinusoidExplorer(anywidget.AnyWidget):
    """Sliders for a position and a dimension of the (T, d) sinusoidal table: the table
    as a heat map with both outlined, the dimension as a wave over all positions and
    the position's whole vector. The page computes the table itself."""

    _esm = JS / "sinusoids.js"
    T = traitlets.Int().tag(sync=True)
    d = traitlets.Int().tag(sync=True)
    position = traitlets.Int(0).tag(sync=True)
    dimension = traitlets.Int(0).tag(sync=True)

    def __init__(
        self, T: int, d: int, *, position: int = 0, dimension: int = 0
    ) -> None:
        if T < 1 or d < 2 or d % 2:
            raise ValueError(f"need T >= 1 and an even d >= 2, got T={T}, d={d}")
        if not (0 <= position < T and 0 <= dimension < d):
            raise ValueError(
                f"position must be in 0..{T - 1} and dimension in 0..{d - 1}, got "
                f"position={position}, dimension={dimension}"
            )
        super().__init__(T=T, d=d, position=position, dimension=dimension)

    @property
    def row(self) -> torch.Tensor:
        """(d,) the chosen position's vector, as the page draws it."""
        return sinusoidal_positions(self.T, self.d)[self.position]

    @property
    def column(self) -> torch.Tensor:
        """(T,) the chosen dimension over all positions."""
        return sinusoidal_positions(self.T, self.d)[:, self.dimension]


# The activations the page can compute, as PyTorch computes them.
ACTIVATIONS = {
    "ReLU": F.relu,
    "GELU": F.gelu,
    "GELU (tanh approx.)": lambda x: F.gelu(x, approximate="tanh"),
    "SiLU": F.silu,
}


class ActivationExplorer(anywidget.AnyWidget):
    """Pick an activation and an input x0: every activation's curve and slope, the
    chosen one bold with its tangent at x0 and both values. The page computes them."""

    _esm = bundle("maths.js", "activations.js")
    names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    activation = traitlets.Unicode().tag(sync=True)
    x0 = traitlets.Float(-1.0).tag(sync=True)
    x_range = traitlets.List(traitlets.Float()).tag(sync=True)

    def __init__(
        self,
        names: Sequence[str] = tuple(ACTIVATIONS),
        *,
        activation: str | None = None,
        x0: float = -1.0,
        x_range: tuple[float, float] = (-4.0, 4.0),
    ) -> None:
        unknown = [n for n in names if n not in ACTIVATIONS]
        if unknown or not names:
            raise ValueError(
                f"unknown activation(s) {unknown}; choose from {list(ACTIVATIONS)}"
            )
        activation = names[-1] if activation is None else activation
        if activation not in names:
            raise ValueError(f"activation {activation!r} is not among {list(names)}")
        if not x_range[0] <= x0 <= x_range[1]:
            raise ValueError(f"x0 = {x0} is outside x_range {x_range}")
        super().__init__(
            names=list(names), activation=activation, x0=x0, x_range=list(x_range)
        )

    @property
    def value_and_slope(self) -> tuple[float, float]:
        """(f(x0), f'(x0)) of the chosen activation by autograd: what the page shows."""
        x = torch.tensor([self.x0], requires_grad=True)
        y = ACTIVATIONS[self.activation](x)
        (slope,) = torch.autograd.grad(y.sum(), x)
        return y.item(), slope.item()


class EmbeddingExplorer(anywidget.AnyWidget):
    """Pick a token: its embedding row as bars and its k nearest neighbours by cosine
    similarity. The whole table travels in the widget's state (rounded to 6 decimals),
    and the page ranks the rows itself."""

    _esm = JS / "embeddings.js"
    table = traitlets.List(traitlets.List(traitlets.Float())).tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    index = traitlets.Int(0).tag(sync=True)
    k = traitlets.Int(8).tag(sync=True)

    def __init__(
        self,
        weight: torch.Tensor,
        labels: Sequence[str] | None = None,
        *,
        index: int = 0,
        k: int = 8,
    ) -> None:
        """weight: (V, C) embedding table; labels: V names (default: the ids)."""
        weight = weight.detach().to("cpu", torch.float64)
        if weight.ndim != 2:
            raise ValueError(f"need a (V, C) table, got shape {tuple(weight.shape)}")
        V = len(weight)
        names = [str(i) for i in range(V)] if labels is None else list(labels)
        if len(names) != V:
            raise ValueError(f"got {len(names)} labels for {V} rows; pass one per row")
        if not (0 <= index < V and 1 <= k < V):
            raise ValueError(
                f"need 0 <= index < {V} and 1 <= k < {V}, got {index}, {k}"
            )
        rounded = [[round(v, 6) for v in row] for row in weight.tolist()]
        super().__init__(
            table=rounded, labels=[str(n) for n in names], index=index, k=k
        )

    @property
    def neighbours(self) -> list[tuple[int, float]]:
        """[(id, cosine similarity)] of the k rows nearest row `index`, as the page
        ranks them (itself left out, ties by id)."""
        table = torch.tensor(self.table, dtype=torch.float64)
        unit = table / table.norm(dim=1, keepdim=True).clamp_min(1e-12)
        similarity = (unit @ unit[self.index]).tolist()
        ranked = sorted(
            (i for i in range(len(table)) if i != self.index),
            key=lambda i: (-similarity[i], i),
        )
        return [(i, similarity[i]) for i in ranked[: self.k]]


class ProfileExplorer(anywidget.AnyWidget):
    """Menus for a depth, a variant and a moment: the gradient norm reaching each
    block, on a log scale, from curves measured beforehand (chapter 6's residual
    ablation). The curves travel in the widget's state; the page draws them."""

    _esm = JS / "profiles.js"
    profiles = traitlets.Dict().tag(sync=True)
    variants = traitlets.List(traitlets.Unicode()).tag(sync=True)
    depth = traitlets.Int().tag(sync=True)
    variant = traitlets.Unicode("both").tag(sync=True)
    moment = traitlets.Unicode("init").tag(sync=True)
    trained_label = traitlets.Unicode("after training").tag(sync=True)

    def __init__(
        self,
        at_init: dict,
        after_training: dict,
        *,
        depth: int,
        trained_label: str = "after training",
    ) -> None:
        """at_init, after_training: {(n_layer, variant name): [norm of each block]};
        after_training may leave depths out (the page says so)."""
        variants = list(dict.fromkeys(name for _, name in at_init))
        profiles = {"init": {}, "trained": {}}
        for moment, measured in (("init", at_init), ("trained", after_training)):
            for (n_layer, name), norms in measured.items():
                if len(norms) != n_layer:
                    raise ValueError(
                        f"{n_layer} blocks but {len(norms)} norms for {name}"
                    )
                profiles[moment].setdefault(str(n_layer), {})[name] = list(
                    map(float, norms)
                )
        if str(depth) not in profiles["init"]:
            raise ValueError(
                f"depth {depth} was not measured; choose from {list(profiles['init'])}"
            )
        super().__init__(
            profiles=profiles,
            variants=variants,
            depth=depth,
            trained_label=trained_label,
        )

    @property
    def curves(self) -> dict[str, list[float]]:
        """{variant: norms} that the page draws for the current menus."""
        drawn = self.profiles[self.moment].get(str(self.depth), {})
        return {k: v for k, v in drawn.items() if self.variant in ("both", k)}


class TokenizerExplorer(anywidget.AnyWidget):
    """A text box tokenized as you type, by characters and by byte-level BPE, each
    token in its own coloured box. The page splits and merges the text itself, from
    the vocabulary and the merges in the state; special tokens are not recognised."""

    _esm = JS / "tokenizers.js"
    chars = traitlets.List(traitlets.Unicode()).tag(sync=True)
    merges = traitlets.List(traitlets.List(traitlets.Int())).tag(sync=True)
    text = traitlets.Unicode().tag(sync=True)

    def __init__(self, chars: CharTokenizer, bpe: BPETokenizer, text: str) -> None:
        super().__init__(
            chars=list(chars.chars),
            text=text,
            merges=[[a, b] for (a, b), _ in bpe.merges],
        )

    @property
    def char_ids(self) -> list[int] | None:
        """The character tokenizer's ids of `text`; None if a character is unknown."""
        if any(c not in self.chars for c in self.text):
            return None
        return [self.chars.index(c) for c in self.text]

    @property
    def bpe_ids(self) -> list[int]:
        """BPETokenizer.encode of `text` with these merges and no special tokens."""
        merges = [((a, b), 256 + k) for k, (a, b) in enumerate(self.merges)]
        return BPETokenizer(merges).encode(self.text)


# The calculator's strategies, by the ZeRO stage each is (FSDP shards everything), and
# the bytes of one value each precision sends.
STRATEGIES = {"DDP": 0, "ZeRO-1": 1, "ZeRO-2": 2, "FSDP": 3}
VALUE_BYTES = {"fp32": 4, "bf16": 2}


class ParallelismCalculator(anywidget.AnyWidget):
    """Menus for a model size, a precision, a number of GPUs, a strategy and a device's
    memory, and a bandwidth slider: the bytes each GPU sends per training step and the
    time they take, and the weights, gradients and AdamW states each GPU holds, as a bar
    against the capacity. The page computes them with tinytx.distributed's formulas."""

    _esm = bundle("maths.js", "draw.js", "parallelism.js")
    models = traitlets.Dict().tag(sync=True)  # name -> number of parameters
    model = traitlets.Unicode().tag(sync=True)
    precision = traitlets.Unicode("bf16").tag(sync=True)
    strategy = traitlets.Unicode("DDP").tag(sync=True)
    gpus = traitlets.Int(8).tag(sync=True)
    bandwidth = traitlets.Float(12.5).tag(sync=True)  # GB/s (10**9 bytes a second)
    capacity = traitlets.Float(80.0).tag(sync=True)  # GB of memory per GPU

    def __init__(
        self,
        models: dict[str, int],
        *,
        model: str | None = None,
        precision: str = "bf16",
        strategy: str = "DDP",
        gpus: int = 8,
        bandwidth: float = 12.5,
        capacity: float = 80.0,
    ) -> None:
        """models: {name: number of parameters}, shown in this order; model: the one
        chosen first (default: the first)."""
        if not models or any(n <= 0 for n in models.values()):
            raise ValueError("give at least one model, each with a positive size")
        model = next(iter(models)) if model is None else model
        for name, value, choices in (
            ("model", model, list(models)),
            ("precision", precision, list(VALUE_BYTES)),
            ("strategy", strategy, list(STRATEGIES)),
        ):
            if value not in choices:
                raise ValueError(f"{name} {value!r} is not one of {choices}")
        if gpus < 1 or not bandwidth > 0 or not capacity > 0:
            raise ValueError(
                f"need gpus >= 1, bandwidth > 0 and capacity > 0, got {gpus}, "
                f"{bandwidth} and {capacity}"
            )
        super().__init__(
            models={name: int(n) for name, n in models.items()},
            model=model,
            precision=precision,
            strategy=strategy,
            gpus=gpus,
            bandwidth=bandwidth,
            capacity=capacity,
        )

    @property
    def figures(self) -> dict:
        """What the page shows: traffic (bytes each GPU sends per step), seconds (at
        `bandwidth`), memory ({weights, gradients, optimizer} bytes per GPU), total
        and fits (total <= capacity)."""
        n_params, stage = self.models[self.model], STRATEGIES[self.strategy]
        traffic = step_traffic(n_params, self.gpus, VALUE_BYTES[self.precision], stage)
        memory = training_memory(n_params, self.gpus, stage, self.precision)
        total = sum(memory.values())
        return {
            "traffic": traffic,
            "seconds": traffic / (self.bandwidth * 1e9),
            "memory": memory,
            "total": total,
            "fits": total <= self.capacity * 1e9,
        }


class RopeExplorer(anywidget.AnyWidget):
    """RoPE on one pair of dimensions (chapter 11): sliders for the query's position m
    and the key's position n; the page turns q by m * theta and k by n * theta, draws
    both, and shows the angle between them and their score q · k, which depends on
    m - n only. The defaults are the chapter's example."""

    _esm = bundle("maths.js", "rope.js")
    q = traitlets.List(traitlets.Float()).tag(sync=True)
    k = traitlets.List(traitlets.Float()).tag(sync=True)
    m = traitlets.Int().tag(sync=True)
    n = traitlets.Int().tag(sync=True)
    theta = traitlets.Float().tag(sync=True)
    max_position = traitlets.Int().tag(sync=True)

    def __init__(
        self,
        q: Sequence[float] = (1.0, 0.5),
        k: Sequence[float] = (0.5, 1.0),
        *,
        m: int = 5,
        n: int = 2,
        theta: float = 0.5,
        max_position: int = 24,
    ) -> None:
        """q, k: one pair (2 numbers) each; theta: radians the pair turns per
        position (pair i of a d-wide head turns 10000^(-2i/d))."""
        q, k = [float(v) for v in q], [float(v) for v in k]
        if len(q) != 2 or len(k) != 2 or not any(q) or not any(k):
            raise ValueError(f"q and k must be non-zero pairs, got q={q}, k={k}")
        if not (0 <= m <= max_position and 0 <= n <= max_position):
            raise ValueError(f"m and n must be in 0..{max_position}, got m={m}, n={n}")
        super().__init__(q=q, k=k, m=m, n=n, theta=theta, max_position=max_position)

    def rotated(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(q turned by m * theta, k turned by n * theta), by tinytx's apply_rotary."""
        from tinytx.nn.positional import apply_rotary

        def turn(pair: list[float], position: int) -> torch.Tensor:
            angle = torch.tensor([[position * self.theta]], dtype=torch.float64)
            return apply_rotary(
                torch.tensor([pair], dtype=torch.float64), angle.cos(), angle.sin()
            )[0]

        return turn(self.q, self.m), turn(self.k, self.n)

    @property
    def score(self) -> float:
        """q_m · k_n, the number the page shows."""
        q_m, k_n = self.rotated()
        return float(q_m @ k_n)
