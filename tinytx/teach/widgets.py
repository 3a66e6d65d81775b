"""Interactive explorers built from core ipywidgets (7.7 on Colab and 8.x both work).

Each function returns a widget; display it by making it the last expression
of a cell. These compute in Python, so the rendered book, which has no kernel,
shows them as they were saved, and a chapter also draws a static figure of the
same idea. The widgets that compute in the browser, and so stay live in the
book, are in `tinytx.teach.live`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import ipywidgets
import matplotlib.pyplot as plt
import torch

from tinytx.nn.functional import softmax
from tinytx.teach import viz


def _head_weights(
    model: torch.nn.Module, ids: torch.Tensor, layer: int, causal: bool
) -> torch.Tensor:
    """(H, T, T) attention weights of one layer of a GPT on ids (1, T),
    with or without the causal mask.

    With the mask these are the weights the model uses. Without it, the same queries and
    keys scored against every position, future included: what the mask hides.
    """
    _, cache = model.run_with_cache(ids)
    if causal:
        return cache[f"blocks.{layer}.attn.weights"][0]
    block = model.blocks[layer]
    h = cache[f"blocks.{layer}.resid_pre"]
    if block.norm_placement == "pre":
        h = block.ln_attn(h)
    q, k = (
        block.attn.split_heads(block.attn.q_proj(h)),
        block.attn.split_heads(block.attn.k_proj(h)),
    )
    return softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)[0]


def attention_explorer(model: torch.nn.Module, tokenizer, text: str) -> ipywidgets.VBox:
    """Pick a layer, a head and a text, switch the causal mask on or
    off, and see the attention map.

    Args:
        model: a GPT (e.g. `tinytx.pretrained("shakespeare-char")[0]`), in eval mode.
        tokenizer: its tokenizer; each token's text labels the map's rows and columns.
        text: the starting text (cropped to the model's last block_size tokens).
    """
    config = model.config
    layer = ipywidgets.Dropdown(
        options=list(range(config.n_layer)), value=0, description="layer"
    )
    head = ipywidgets.Dropdown(
        options=list(range(config.n_head)), value=0, description="head"
    )
    text_box = ipywidgets.Text(
        value=text,
        description="text",
        continuous_update=False,
        layout=ipywidgets.Layout(width="640px"),
    )
    causal = ipywidgets.Checkbox(value=True, description="causal mask")

    def draw(layer: int, head: int, text: str, causal: bool) -> None:
        try:
            ids = tokenizer.encode(text)[-config.block_size :]
        except ValueError as error:
            print(error)
            return
        if not ids:
            print("type some text")
            return
        with torch.no_grad():
            weights = _head_weights(
                model,
                torch.tensor([ids], device=next(model.parameters()).device),
                layer,
                causal,
            )
        labels = [viz.show_char(tokenizer.decode([i])) for i in ids]
        # 0.18 inch (18 px) a token keeps 9-point labels apart for texts of up to
        # about 45 tokens; longer ones label every k-th token
        size = min(8.6, 1.5 + 0.18 * len(ids))
        _, ax = plt.subplots(figsize=(size + 1, size))
        viz.plot_matrix(
            weights[head],
            row_labels=labels,
            col_labels=labels,
            ax=ax,
            vmin=0,
            vmax=1,
            title=(
                f"layer {layer}, head {head}, "
                f"{'causal' if causal else 'no mask (future visible)'}"
            ),
        )
        ax.tick_params(labelsize=9, length=0)
        every = -(-len(ids) // 45)
        ax.set_xticks(range(0, len(ids), every), labels[::every])
        ax.set_yticks(range(0, len(ids), every), labels[::every])
        ax.set_xlabel("key (attended to)")
        ax.set_ylabel("query")
        plt.show()

    controls = ipywidgets.HBox([layer, head, causal])
    output = ipywidgets.interactive_output(
        draw, {"layer": layer, "head": head, "text": text_box, "causal": causal}
    )
    return ipywidgets.VBox([controls, text_box, output])


# -------------------------------------------------------- tokenizers (chapter 01)

# Pastel backgrounds cycled over the tokens, so that neighbouring tokens always differ.
_TOKEN_COLOURS = ("#fde2a7", "#b9e3f9", "#c8eec0", "#f9c6d3", "#ddd0f7", "#f6d8b8")
# Whitespace drawn visibly inside token boxes: a space, a newline, a tab.
_VISIBLE_WHITESPACE = str.maketrans({" ": "·", "\n": "↵", "\t": "⇥"})


def token_bytes(tokenizer, text: str) -> tuple[list[int], list[bytes]]:
    """The ids of `text` and the bytes of each token, for any of the book's tokenizers.

    Works with `CharTokenizer`, `BPETokenizer` (special tokens included) and a
    `tiktoken.Encoding` such as `gpt2_tokenizer()` (every special token allowed).
    Unknown characters raise the tokenizer's own `ValueError`.
    """
    if hasattr(tokenizer, "decode_single_token_bytes"):  # a tiktoken.Encoding
        ids = tokenizer.encode(text, allowed_special="all")
        return ids, [tokenizer.decode_single_token_bytes(i) for i in ids]
    ids = tokenizer.encode(text)
    if hasattr(tokenizer, "vocab"):  # a BPETokenizer: id -> bytes
        return ids, [tokenizer.vocab[i] for i in ids]
    return ids, [tokenizer.decode([i]).encode("utf-8") for i in ids]


def tokens_html(tokenizers: dict, text: str, *, show_ids: bool = True) -> str:
    """HTML showing how each tokenizer cuts `text`: one coloured
    box per token, its id below.

    Args:
        tokenizers: display name -> tokenizer (anything `token_bytes` accepts).
        text: the text to tokenize.
        show_ids: print each token's id under it.

    Spaces show as ·, newlines as ↵ and tabs as ⇥; a token holding only part of a
    multi-byte UTF-8 character shows as �; hovering a box shows the token's bytes. A
    tokenizer that cannot encode the text shows its error message instead.
    """
    import html

    rows = []
    for name, tokenizer in tokenizers.items():
        vocab_size = (
            tokenizer.n_vocab if hasattr(tokenizer, "n_vocab") else tokenizer.vocab_size
        )
        title = f"<b>{html.escape(name)}</b> (vocabulary {vocab_size:,})"
        try:
            ids, pieces = token_bytes(tokenizer, text)
        except ValueError as error:
            rows.append(
                f'<div style="margin:6px 0">{title}: <span style="color:#b00020">'
                f"{html.escape(str(error))}</span></div>"
            )
            continue
        boxes = []
        for position, (token_id, piece) in enumerate(zip(ids, pieces)):
            colour = _TOKEN_COLOURS[position % len(_TOKEN_COLOURS)]
            shown = html.escape(
                piece.decode("utf-8", errors="replace").translate(_VISIBLE_WHITESPACE)
            )
            hover = html.escape(f"id {token_id}: {piece!r}", quote=True)
            label = (
                f'<br><span style="font-size:0.7em;color:#555">{token_id}</span>'
                if show_ids
                else ""
            )
            boxes.append(
                f'<span title="{hover}" style="display:inline-block;margin:1px;'
                f"padding:1px 3px;border-radius:3px;background:{colour};color:#000;"
                "font-family:monospace;white-space:pre;text-align:center;"
                f'line-height:1.25">{shown}{label}</span>'
            )
        rows.append(
            f'<div style="margin:6px 0">{title}: {len(ids)} '
            f"tokens<br>{''.join(boxes)}</div>"
        )
    return "<div>" + "".join(rows) + "</div>"


def next_token_explorer(
    model: torch.nn.Module, tokenizer, text: str, *, top: int = 10
) -> ipywidgets.VBox:
    """Type a prompt and move a temperature slider; see the model's
    `top` most likely next tokens.

    Args:
        model: a GPT in eval mode, e.g. `tinytx.pretrained("shakespeare-char")[0]`.
        tokenizer: its tokenizer; each bar is labelled with its token's text.
        text: the starting prompt (the model reads its last block_size tokens).
        top: how many of the most likely next tokens to draw.
    """
    block_size = model.config.block_size
    text_box = ipywidgets.Text(
        value=text,
        description="prompt",
        continuous_update=False,
        layout=ipywidgets.Layout(width="640px"),
    )
    slider = ipywidgets.FloatLogSlider(
        value=1.0,
        base=10,
        min=-1,
        max=1,
        step=0.02,
        description="temperature",
        continuous_update=True,
        readout_format=".2f",
        style={"description_width": "initial"},
        layout=ipywidgets.Layout(width="420px"),
    )
    labels = [viz.show_char(tokenizer.decode([i])) for i in range(tokenizer.vocab_size)]

    def draw(text: str, temperature: float) -> None:
        ids = _encode_prompt(tokenizer, text)
        if ids is None:
            return
        ids = ids[-block_size:]
        with torch.no_grad():
            logits, _ = model(
                torch.tensor([ids], device=next(model.parameters()).device)
            )
        probs = softmax(logits[0, -1].to("cpu", torch.float32), temperature=temperature)
        ax = viz.plot_distribution(probs, labels, top=top)
        ax.figure.set_size_inches(6.5, 2.8)
        ax.set_xlabel("next token")
        ax.set_title(f"after {text[-30:]!r}   T = {temperature:.2f}", fontsize=9)
        plt.show()

    output = ipywidgets.interactive_output(
        draw, {"text": text_box, "temperature": slider}
    )
    return ipywidgets.VBox([text_box, slider, output])


def generation_playground(
    model: torch.nn.Module, tokenizer, prompt: str = "ROMEO:\n", *, seed: int = 0
) -> ipywidgets.VBox:
    """Type a prompt, set temperature, top-k, top-p and
    length; read what the model writes.

    Args:
        model: a GPT, e.g. `tinytx.pretrained("shakespeare-char")[0]`.
        tokenizer: its tokenizer.
        prompt: the starting prompt.
        seed: seeds each generation, so the same settings always give the same text.
    Temperature 0 (or top-k 1) is greedy decoding; top-k 0 and top-p 1 switch
    those filters off. The chart shows the distribution the first new token is
    drawn from, after the filters.
    """
    from tinytx.generate import (
        filter_logits,
    )  # imported here: tinytx.generate imports the model code

    style = {"description_width": "initial"}
    text_box = ipywidgets.Textarea(
        value=prompt,
        description="prompt",
        continuous_update=False,
        layout=ipywidgets.Layout(width="640px", height="60px"),
    )
    temperature = ipywidgets.FloatSlider(
        value=0.8,
        min=0.0,
        max=2.0,
        step=0.05,
        description="temperature",
        continuous_update=False,
        style=style,
    )
    top_k = ipywidgets.IntSlider(
        value=0,
        min=0,
        max=tokenizer.vocab_size,
        description="top-k (0 = off)",
        continuous_update=False,
        style=style,
    )
    top_p = ipywidgets.FloatSlider(
        value=1.0,
        min=0.05,
        max=1.0,
        step=0.05,
        description="top-p",
        continuous_update=False,
        style=style,
    )
    length = ipywidgets.IntSlider(
        value=200,
        min=10,
        max=600,
        step=10,
        description="new tokens",
        continuous_update=False,
        style=style,
    )
    labels = [viz.show_char(tokenizer.decode([i])) for i in range(tokenizer.vocab_size)]

    def draw(
        prompt: str, temperature: float, top_k: int, top_p: float, length: int
    ) -> None:
        ids = _encode_prompt(tokenizer, prompt)
        if ids is None:
            return
        device = next(model.parameters()).device
        idx = torch.tensor([ids], device=device)
        k = top_k if top_k > 0 else None
        p = top_p if top_p < 1.0 else None
        with torch.no_grad():
            logits, _ = model(idx[:, -model.config.block_size :])
        last = filter_logits(logits[0, -1:].to("cpu", torch.float32), k, p)[0]
        probs = (
            torch.zeros_like(last)
            if temperature == 0
            else softmax(last, temperature=temperature)
        )
        if temperature == 0:
            probs[last.argmax()] = 1.0
        ax = viz.plot_distribution(probs, labels, top=15)
        ax.figure.set_size_inches(6.5, 2.4)
        ax.set_title("distribution of the first new token", fontsize=9)
        plt.show()
        generator = torch.Generator(device=device).manual_seed(seed)
        out = model.generate(
            idx, length, temperature=temperature, top_k=k, top_p=p, generator=generator
        )
        print(prompt + tokenizer.decode(out[0, len(ids) :].tolist()))

    output = ipywidgets.interactive_output(
        draw,
        {
            "prompt": text_box,
            "temperature": temperature,
            "top_k": top_k,
            "top_p": top_p,
            "length": length,
        },
    )
    return ipywidgets.VBox(
        [
            text_box,
            ipywidgets.HBox([temperature, length]),
            ipywidgets.HBox([top_k, top_p]),
            output,
        ]
    )


def _encode_prompt(tokenizer, text: str) -> list[int] | None:
    """The prompt's ids, or None after printing why there are none
    (unknown character, empty box)."""
    try:
        ids = tokenizer.encode(text)
    except ValueError as error:
        print(error)
        return None
    if not ids:
        print("type a prompt")
        return None
    return ids


def translation_explorer(
    model: torch.nn.Module,
    src_tokenizer,
    tgt_tokenizer,
    text: str,
    *,
    specials: Sequence[str] = ("<pad>", "<bos>", "<eos>"),
) -> ipywidgets.VBox:
    """Type a source sentence; see the greedy translation and, per decoder layer, the
    cross-attention averaged over heads (which source words each output token reads).

    Args:
        model: a trained `tinytx.Seq2Seq`, in eval mode.
        src_tokenizer, tgt_tokenizer: word-level tokenizers with `encode(list of
            words) -> ids`, `decode(ids) -> list of tokens` and `itos` (the vocabulary);
            `encode` raises ValueError on an unknown word.
        text: the starting sentence.
        specials: target tokens left out of the printed translation.
    """
    config = model.config
    box = ipywidgets.Text(
        value=text,
        description="words",
        continuous_update=False,
        layout=ipywidgets.Layout(width="520px"),
    )

    def draw(text: str) -> None:
        words = text.lower().replace("-", " ").split()
        try:
            if not 1 <= len(words) <= config.block_size:
                raise ValueError(f"type 1 to {config.block_size} words")
            src = torch.tensor([src_tokenizer.encode(words)])
        except ValueError as error:
            known = [w for w in src_tokenizer.itos if w not in specials]
            print(error, "| vocabulary:", " ".join(known))
            return
        with torch.no_grad():
            out = model.translate(src)
            _, cache = model.run_with_cache(src, out[:, :-1])
        predicted = tgt_tokenizer.decode(out[0, 1:].tolist())
        print("translation:", "".join(p for p in predicted if p not in specials))
        maps = torch.stack(
            [
                cache[f"decoder.{i}.cross_attn.weights"][0].mean(0)
                for i in range(config.n_layer)
            ]
        )
        titles = [f"layer {i}, mean of the heads" for i in range(config.n_layer)]
        viz.plot_attention_heads(
            maps, query_labels=predicted, key_labels=words, titles=titles
        )
        plt.show()

    return ipywidgets.VBox([box, ipywidgets.interactive_output(draw, {"text": box})])
