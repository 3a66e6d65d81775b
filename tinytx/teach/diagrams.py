"""Diagrams drawn from the package itself: BPE merges, a sinusoid pair, attention
heads, the GPT stack and the encoder-decoder.

Each function reads its sizes and labels from tinytx objects (a tokenizer, a config,
the sinusoidal table), so a diagram cannot drift from the code it explains. Each
returns a matplotlib Figure about 6.8 inches wide, which the book shows at full size on
a desktop, with no text smaller than 9 points.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from tinytx.config import GPTConfig, Seq2SeqConfig
from tinytx.nn.ffn import swiglu_hidden
from tinytx.nn.positional import sinusoidal_positions
from tinytx.tokenizers import BPETokenizer

WIDTH = 6.8  # inches: 680 px at the book's 100 dpi, the article column at 1280 px
FONT = 10
SMALL = 9  # the smallest text in any diagram
COLORS = {
    "data": "#e8f1fb",
    "layer": "#fdf0d5",
    "attention": "#fbe3e3",
    "ffn": "#e4f4e4",
    "norm": "#eeeeee",
}


def _canvas(height: float, xlim: tuple[float, float], ylim: tuple[float, float]):
    fig, ax = plt.subplots(figsize=(WIDTH, height))
    ax.set(xlim=xlim, ylim=ylim)
    ax.set_axis_off()
    return fig, ax


def _box(
    ax: Axes,
    x: float,
    y: float,
    w: float,
    h: float,
    text: str,
    kind: str = "layer",
    size: int = FONT,
) -> tuple[float, float, float, float]:
    """A rounded box centred on (x, y); returns its (left, right, bottom, top)."""
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=COLORS[kind],
            edgecolor="0.35",
            linewidth=1,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=size)
    return x - w / 2, x + w / 2, y - h / 2, y + h / 2


def _arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    label: str | None = None,
    side: str = "right",
    **style,
) -> None:
    """An arrow from `start` to `end`, with a shape label beside its middle."""
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=12,
            color="0.3",
            linewidth=1.1,
            **style,
        )
    )
    if label:
        x, y = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        dx = 0.12 if side == "right" else -0.12
        ax.text(
            x + dx,
            y,
            label,
            fontsize=SMALL,
            color="0.15",
            ha="left" if side == "right" else "right",
            va="center",
            family="monospace",
        )


def _shape(*dims: object) -> str:
    return "(" + ", ".join(str(d) for d in dims) + ")"


# --- chapter 1: how BPE builds one word ----------------------------------------------


def bpe_merge_steps(tokenizer: BPETokenizer, word: str) -> list[tuple[int, int, int]]:
    """The merges that encode `word`, in the order BPE applies them: (left, right, new)
    ids, lowest rank first, as `tokenizer.encode` would."""
    ranks = {pair: new_id for pair, new_id in tokenizer.merges}
    ids, steps = list(word.encode("utf-8")), []
    while len(ids) > 1:
        pairs = {(a, b) for a, b in zip(ids, ids[1:]) if (a, b) in ranks}
        if not pairs:
            break
        pair = min(pairs, key=ranks.__getitem__)
        new_id, merged, i = ranks[pair], [], 0
        while i < len(ids):
            if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
                merged.append(new_id)
                i += 2
            else:
                merged.append(ids[i])
                i += 1
        steps.append((*pair, new_id))
        ids = merged
    return steps


def bpe_merge_tree(tokenizer: BPETokenizer, word: str) -> Figure:
    """The bytes of `word` at the bottom, each merge a node above the two tokens it
    joins, labelled with its id (its rank + 256): the tree `encode` climbs."""
    steps = bpe_merge_steps(tokenizer, word)
    # each current token: (id, x position, height of its node)
    nodes = [(b, float(i), 0) for i, b in enumerate(word.encode("utf-8"))]
    height = max(3, len(steps) + 1)
    fig, ax = _canvas(0.55 * height + 0.6, (-0.8, len(nodes) - 0.2), (-0.7, height))

    def label(token: int) -> str:
        text = tokenizer.vocab[token].decode("utf-8", "replace")
        return text.replace(" ", "␣").replace("\n", "\\n")  # a space you can see

    for token, x, _ in nodes:
        _box(ax, x, 0, 0.8, 0.55, label(token), "data")
        ax.text(x, -0.5, str(token), ha="center", va="top", fontsize=SMALL, color="0.3")
    for level, (left, right, new_id) in enumerate(steps, start=1):
        out, i = [], 0
        while i < len(nodes):
            if i + 1 < len(nodes) and (nodes[i][0], nodes[i + 1][0]) == (left, right):
                (_, x0, y0), (_, x1, y1) = nodes[i], nodes[i + 1]
                x = (x0 + x1) / 2
                for xc, yc in ((x0, y0), (x1, y1)):
                    ax.plot([xc, x], [yc + 0.28, level - 0.28], color="0.45", lw=1)
                _box(
                    ax,
                    x,
                    level,
                    max(0.8, 0.16 * len(label(new_id)) + 0.3),
                    0.55,
                    label(new_id),
                    "layer",
                )
                ax.text(x + 0.5, level + 0.3, str(new_id), fontsize=SMALL, color="0.3")
                out.append((new_id, x, level))
                i += 2
            else:
                out.append(nodes[i])
                i += 1
        nodes = out
    ax.set_title(
        f"BPE merges for {word!r}: {len(word.encode('utf-8'))} bytes → "
        f"{len(nodes)} token{'s' if len(nodes) > 1 else ''}",
        fontsize=FONT,
    )
    return fig


# --- chapter 3: one (sin, cos) pair turning with the position ------------------------


def sinusoid_pair_circle(d: int, pair: int, positions: int = 8) -> Figure:
    """Columns 2i and 2i + 1 of the sinusoidal table (i = `pair`) as points on the unit
    circle: each position turns the point by the same angle, 1 / 10000^(2i/d)."""
    if not 0 <= pair < d // 2:
        raise ValueError(f"pair must be in 0..{d // 2 - 1} for d = {d}, got {pair}")
    table = sinusoidal_positions(positions, d)
    sin, cos = table[:, 2 * pair], table[:, 2 * pair + 1]
    step = 1 / 10000 ** (2 * pair / d)
    fig, ax = plt.subplots(figsize=(WIDTH, 4.2))
    circle = [2 * math.pi * k / 200 for k in range(201)]
    ax.plot([math.cos(a) for a in circle], [math.sin(a) for a in circle], color="0.8")
    for pos in range(positions):
        ax.annotate(
            "",
            (cos[pos], sin[pos]),
            (0, 0),
            arrowprops={"arrowstyle": "-|>", "color": plt.cm.viridis(pos / positions)},
        )
        ax.text(
            1.13 * cos[pos],
            1.13 * sin[pos],
            f"pos {pos}",
            ha="center",
            va="center",
            fontsize=SMALL,
        )
    ax.set(
        aspect="equal",
        xlim=(-1.9, 1.9),
        ylim=(-1.3, 1.3),
        xlabel=f"cos(pos · ω), column {2 * pair + 1}",
        ylabel=f"sin(pos · ω), column {2 * pair}",
    )
    ax.set_title(
        f"d = {d}, pair i = {pair}: each position turns by ω = "
        f"1/10000^(2i/d) = {step:.3f} rad",
        fontsize=FONT,
    )
    return fig


# --- chapter 4: Q, K, V and the heads ---------------------------------------------


def attention_heads_diagram(B: int, T: int, C: int, n_head: int) -> Figure:
    """Multi-head self-attention as the shapes flow: one input, three projections, the
    split into heads, attention per head, the merge and the output projection."""
    if C % n_head:
        raise ValueError(f"C = {C} must be a multiple of n_head = {n_head}")
    d = C // n_head
    fig, ax = _canvas(6.6, (0, 10), (0, 12))
    _box(ax, 5, 11.2, 3.2, 0.7, "x", "data")
    ax.text(
        6.75, 11.2, _shape(B, T, C), fontsize=SMALL, family="monospace", va="center"
    )
    columns = {"q": 2, "k": 5, "v": 8}
    for name, x in columns.items():
        _arrow(ax, (5, 10.85), (x, 10.05))
        _box(ax, x, 9.7, 2.6, 0.8, f"{name} = x W_{name}\n({C} → {C})", "layer", SMALL)
        _arrow(ax, (x, 9.35), (x, 8.25), _shape(B, T, C))
        _box(ax, x, 7.9, 2.4, 0.7, f".view({B}, {T}, {n_head}, {d})", "norm", SMALL)
        _arrow(ax, (x, 7.55), (x, 6.45), _shape(B, T, n_head, d))
        _box(ax, x, 6.1, 2.4, 0.7, ".transpose(1, 2)", "norm", SMALL)
        _arrow(ax, (x, 5.75), (x, 4.85), _shape(B, n_head, T, d))
    _box(
        ax,
        5,
        4.4,
        8.4,
        0.9,
        f"softmax(q kᵀ / √{d}, causal mask) v\nfor each of the {n_head} heads at once",
        "attention",
        SMALL,
    )
    ax.text(
        0.8,
        3.35,
        f"scores, weights\n{_shape(B, n_head, T, T)}",
        ha="left",
        va="center",
        fontsize=SMALL,
        family="monospace",
        color="0.15",
    )
    _arrow(ax, (5, 3.95), (5, 2.75), _shape(B, n_head, T, d))
    _box(
        ax,
        5,
        2.4,
        5.6,
        0.7,
        f".transpose(1, 2).contiguous().view({B}, {T}, {C})",
        "norm",
        SMALL,
    )
    _arrow(ax, (5, 2.05), (5, 1.45), _shape(B, T, C))
    _box(ax, 5, 1.1, 3.2, 0.7, f"out = · W_o   ({C} → {C})", "layer", SMALL)
    ax.text(6.75, 1.1, _shape(B, T, C), fontsize=SMALL, family="monospace", va="center")
    ax.set_title(f"{n_head} heads of d_head = C / n_head = {d}", fontsize=FONT)
    return fig


# --- chapter 9: the whole GPT -----------------------------------------------------


def gpt_diagram(config: GPTConfig, B: str = "B", T: str = "T") -> Figure:
    """The GPT of `config` as a stack, bottom to top, with the shape at each arrow."""
    C, V = config.n_embd, config.vocab_size
    swiglu = config.activation == "swiglu"
    hidden = config.ffn_hidden or (swiglu_hidden(C) if swiglu else 4 * C)
    norm_name = "RMSNorm" if config.normalization == "rmsnorm" else "LayerNorm"
    rope = config.positional == "rope"
    n_kv = config.n_kv_head or config.n_head
    fig, ax = _canvas(7.6, (0, 10), (0, 14.2))
    _box(ax, 5, 0.6, 3.4, 0.7, "token ids", "data")
    _arrow(ax, (5, 0.95), (5, 1.75), _shape(B, T))
    _box(ax, 2.8, 2.1, 3.4, 0.7, f"token embedding ({V}, {C})", "layer", SMALL)
    if rope:  # nothing added: every attention layer turns its queries and keys
        label = "no position table:\nRoPE inside attention"
    else:
        position = (
            "learned positions" if config.positional == "learned" else "sinusoidal"
        )
        label = f"{position} ({config.block_size}, {C})"
    _box(ax, 7.25, 2.1, 3.7, 0.7, label, "layer", SMALL)
    if not rope:  # the position table is added to the token embedding
        ax.text(4.95, 2.1, "+", ha="center", va="center", fontsize=14)
    _arrow(ax, (5, 2.45), (5, 3.35), _shape(B, T, C))
    # one block, drawn once, repeated n_layer times
    ax.add_patch(
        FancyBboxPatch(
            (1.3, 3.35),
            7.4,
            6.1,
            boxstyle="round,pad=0.05",
            facecolor="none",
            edgecolor="0.5",
            linestyle="--",
        )
    )
    ax.text(8.85, 6.4, f"× {config.n_layer}\nblocks", fontsize=FONT, va="center")
    pre = config.norm == "pre"
    y = 3.9
    for name, kind, detail in (
        (
            "causal self-attention",
            "attention",
            (
                f"{config.n_head} q, {n_kv} KV"
                if n_kv < config.n_head
                else f"{config.n_head}"
            )
            + f" heads of {C // config.n_head}"
            + (", RoPE" if rope else ""),
        ),
        (
            "feed-forward",
            "ffn",
            f"{C} → {'2 × ' if swiglu else ''}{hidden} → {C}, {config.activation}",
        ),
    ):
        norm_y, layer_y = (y, y + 1.0) if pre else (y + 2.0, y)
        plus_y = y + 2.0 if pre else y + 1.0
        _box(ax, 4.2, norm_y, 2.6, 0.6, norm_name, "norm", SMALL)
        _box(ax, 4.2, layer_y, 3.6, 0.7, f"{name}\n{detail}", kind, SMALL)
        _box(ax, 4.2, plus_y, 0.6, 0.5, "+", "data")
        _arrow(ax, (4.2, y + 0.35), (4.2, y + 0.62))  # the main path, bottom to top
        _arrow(ax, (4.2, y + 1.35), (4.2, y + 1.7))
        if y + 2.75 < 9:
            _arrow(ax, (4.2, y + 2.25), (4.2, y + 2.45))
        ax.annotate(
            "",
            (3.9, y + 2.0 if pre else y + 1.0),
            (2.0, y - 0.45),
            arrowprops={
                "arrowstyle": "-|>",
                "color": "0.45",
                "connectionstyle": "angle,angleA=90,angleB=180",
            },
        )
        ax.text(
            1.45,
            y + 0.8,
            "residual",
            fontsize=SMALL,
            rotation=90,
            color="0.3",
            va="center",
        )
        y += 2.75
    _arrow(ax, (5, 9.45), (5, 10.35), _shape(B, T, C))
    _box(ax, 5, 10.7, 2.8, 0.6, f"final {norm_name}", "norm", SMALL)
    tied = "\ntied to the token embedding" if config.tie_weights else ""
    _arrow(ax, (5, 11.0), (5, 11.6), _shape(B, T, C))
    _box(ax, 5, 12.05, 3.8, 0.9, f"output head ({C} → {V}){tied}", "layer", SMALL)
    _arrow(ax, (5, 12.5), (5, 13.2), _shape(B, T, V))
    _box(ax, 5, 13.55, 3.4, 0.7, "logits: next-token scores", "data", SMALL)
    ax.set_title(
        f"GPT: {config.n_layer} layers, {config.n_head} heads, C = {C}, "
        f"V = {V}, {'pre' if pre else 'post'}-"
        + ("LN" if norm_name == "LayerNorm" else "norm, RMSNorm"),
        fontsize=FONT,
    )
    return fig


# --- chapter 10: the encoder-decoder ----------------------------------------------


def encoder_decoder_diagram(
    config: Seq2SeqConfig, S: str = "S", T: str = "T"
) -> Figure:
    """Encoder (left) and decoder (right) of `config`, with the encoder's output read by
    every decoder block's cross-attention."""
    C = config.n_embd
    fig, ax = _canvas(6.8, (0, 10), (0, 12.6))
    for x, ids, vocab, length in (
        (2.5, "source ids", config.src_vocab_size, S),
        (7.5, "target ids (shifted)", config.tgt_vocab_size, T),
    ):
        _box(ax, x, 0.6, 3.4, 0.7, ids, "data", SMALL)
        _arrow(ax, (x, 0.95), (x, 1.55), _shape("B", length))
        _box(
            ax,
            x,
            2.0,
            3.6,
            0.9,
            f"embedding ({vocab}, {C}) · √{C}\n+ sinusoidal positions",
            "layer",
            SMALL,
        )
        _arrow(ax, (x, 2.45), (x, 3.05), _shape("B", length, C))
    for left, height, label in ((0.5, 2.9, "encoder"), (5.5, 4.4, "decoder")):
        ax.add_patch(
            FancyBboxPatch(
                (left, 3.05),
                4.0,
                height,
                boxstyle="round,pad=0.05",
                facecolor="none",
                edgecolor="0.5",
                linestyle="--",
            )
        )
        ax.text(
            left + 0.1,
            3.05 + height + 0.15,
            f"{label} × {config.n_layer}",
            fontsize=FONT,
        )
    _box(ax, 2.5, 3.8, 3.4, 0.8, "self-attention\n(padding mask)", "attention", SMALL)
    _box(ax, 2.5, 5.3, 3.4, 0.8, "feed-forward", "ffn", SMALL)
    _arrow(ax, (2.5, 4.2), (2.5, 4.9))
    _arrow(ax, (2.5, 5.95), (2.5, 7.25), _shape("B", S, C))
    _box(ax, 2.5, 7.6, 2.6, 0.6, "memory", "data", SMALL)
    _box(
        ax,
        7.5,
        3.8,
        3.4,
        0.8,
        "masked self-attention\n(causal + padding)",
        "attention",
        SMALL,
    )
    _box(
        ax,
        7.5,
        5.3,
        3.4,
        0.8,
        "cross-attention\nqueries from the decoder",
        "attention",
        SMALL,
    )
    _box(ax, 7.5, 6.8, 3.4, 0.8, "feed-forward", "ffn", SMALL)
    _arrow(ax, (7.5, 4.2), (7.5, 4.9))
    _arrow(ax, (7.5, 5.7), (7.5, 6.4))
    _arrow(ax, (3.8, 7.6), (5.8, 5.4), connectionstyle="arc3,rad=0.25")
    ax.text(
        2.6,
        8.05,
        "keys and values for the\ncross-attention of every block",
        fontsize=SMALL,
        ha="left",
        va="bottom",
    )
    _arrow(ax, (7.5, 7.45), (7.5, 8.45), _shape("B", T, C))
    tied = "\ntied to the target embedding" if config.tie_weights else ""
    _box(
        ax,
        7.5,
        8.95,
        3.8,
        0.9,
        f"output head ({C} → {config.tgt_vocab_size}){tied}",
        "layer",
        SMALL,
    )
    _arrow(ax, (7.5, 9.4), (7.5, 10.2), _shape("B", T, config.tgt_vocab_size))
    _box(ax, 7.5, 10.55, 3.4, 0.6, "next-token logits", "data", SMALL)
    ax.set_title(
        f"Encoder-decoder: {config.n_layer} + {config.n_layer} layers, "
        f"{config.n_head} heads, C = {C}, {config.norm}-LN",
        fontsize=FONT,
    )
    return fig
