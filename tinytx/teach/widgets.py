"""Tokens drawn as coloured boxes, in HTML: how the book's tokenizers cut a text.

`tokens_html` returns HTML for `IPython.display.HTML`, so it shows in the rendered book
as it was saved. The widgets themselves, which stay live in the book, are in
`tinytx.teach.live` (maths) and `tinytx.teach.live_models` (trained models).
"""

from __future__ import annotations

import html

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
