"""Live widgets that run a trained model: in the book's page, or in a notebook's Python.

The GPT widgets (chapters 4, 8 and 9) carry their inputs and Python's results for
them. In a notebook, Python recomputes the results whenever the inputs change and the
page draws them. The rendered book has no kernel: there the page loads the exported
model (`tinytx.teach.export`, `_static/models/<page_model>.bin`) and runs it with
`tinytx/teach/js/transformer.js`, after checking that it reproduces the saved results
(so a widget made from another model says so instead of showing wrong numbers).

The translation explorer (chapter 10) carries its small model's float16 weights in its
state and computes in the page everywhere.
"""

from __future__ import annotations

import base64
import math

import anywidget
import torch
import traitlets

from tinytx.generate import filter_logits
from tinytx.model import GPT
from tinytx.nn.attention import repeat_kv_heads
from tinytx.nn.functional import softmax
from tinytx.nn.positional import apply_rotary
from tinytx.seq2seq import Seq2Seq
from tinytx.teach.export import from_bytes, to_bytes
from tinytx.teach.live import bundle
from tinytx.tokenizers import CharTokenizer

# The JavaScript every model widget is joined after: helpers, drawing, the model.
MODEL_JS = ("maths.js", "draw.js", "transformer.js")


def _rounded(values: torch.Tensor) -> list:
    """values as nested lists rounded to 5 decimals: enough for the page's 1e-2 check,
    and a fifth of the saved state's size."""
    return torch.round(values.detach().to("cpu", torch.float64), decimals=5).tolist()


class _GPTWidget(anywidget.AnyWidget):
    """What every GPT widget shares: the page's model, the tokenizer's characters, and
    Python's results recomputed whenever an input in `_inputs` changes."""

    page_model = traitlets.Unicode().tag(sync=True)
    chars = traitlets.List(traitlets.Unicode()).tag(sync=True)
    block_size = traitlets.Int().tag(sync=True)
    _inputs: tuple[str, ...] = ()

    def __init__(self, model: GPT, tokenizer, page_model: str, **inputs) -> None:
        if not isinstance(model, GPT):
            raise TypeError(f"needs a tinytx GPT, got {type(model).__name__}")
        if not isinstance(tokenizer, CharTokenizer):
            raise TypeError(
                "the page tokenizes characters: pass the model's CharTokenizer, got "
                f"{type(tokenizer).__name__}"
            )
        self.model = model.eval()
        super().__init__(
            page_model=page_model,
            chars=list(tokenizer.chars),
            block_size=model.config.block_size,
            **inputs,
        )
        self.observe(lambda _: self.update(), names=list(self._inputs))
        self.update()

    def ids(self, text: str) -> list[int] | None:
        """The ids of text's last block_size characters; None if it is empty or has a
        character the tokenizer lacks (the page says which)."""
        if not text or any(c not in self.chars for c in text):
            return None
        return [self.chars.index(c) for c in text][-self.block_size :]

    def next_logits(self, ids: list[int]) -> torch.Tensor:
        """(V,) float32 logits of the next token after ids, on the CPU."""
        device = next(self.model.parameters()).device
        with torch.no_grad():
            logits, _ = self.model(torch.tensor([ids], device=device))
        return logits[0, -1].to("cpu", torch.float32)

    def update(self) -> None:
        raise NotImplementedError


def head_weights(
    model: GPT, ids: torch.Tensor, layer: int, causal: bool
) -> torch.Tensor:
    """(H, T, T) attention weights of one layer of a GPT on ids (1, T), with or without
    the causal mask.

    With the mask these are the weights the model uses. Without it, the same queries and
    keys scored against every position, future included: what the mask hides. The
    unmasked scores are computed as the model's attention does: queries and keys turned
    by their positions when it uses RoPE, each key head repeated for its group of
    query heads under grouped-query attention.
    """
    _, cache = model.run_with_cache(ids)
    if causal:
        return cache[f"blocks.{layer}.attn.weights"][0]
    block = model.blocks[layer]
    h = cache[f"blocks.{layer}.resid_pre"]
    if block.norm_placement == "pre":
        h = block.ln_attn(h)
    attn = block.attn
    q, k = (attn.split_heads(proj(h)) for proj in (attn.q_proj, attn.k_proj))
    if model.rotary is not None:
        cos, sin = model.rotary(torch.arange(ids.shape[1], device=ids.device))
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    k = repeat_kv_heads(k, attn.kv_group)  # (B, H, T, d_head)
    return softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)[0]


class AttentionExplorer(_GPTWidget):
    """Type a text, pick a layer and a head, switch the causal mask off: the head's
    (T, T) attention map, query rows against key columns."""

    _esm = bundle(*MODEL_JS, "attention.js")
    n_layer = traitlets.Int().tag(sync=True)
    n_head = traitlets.Int().tag(sync=True)
    text = traitlets.Unicode().tag(sync=True)
    layer = traitlets.Int(0).tag(sync=True)
    head = traitlets.Int(0).tag(sync=True)
    causal = traitlets.Bool(True).tag(sync=True)
    weights = traitlets.List().tag(sync=True)
    _inputs = ("text", "layer", "head", "causal")

    def __init__(
        self,
        model: GPT,
        tokenizer,
        text: str,
        *,
        layer: int = 0,
        head: int = 0,
        causal: bool = True,
        page_model: str = "shakespeare-char",
    ) -> None:
        """model, tokenizer: a GPT and its CharTokenizer; in the book the page runs
        the exported model `page_model` instead, which must be the same one."""
        config = model.config
        if not (0 <= layer < config.n_layer and 0 <= head < config.n_head):
            raise ValueError(
                f"layer must be in 0..{config.n_layer - 1} and head in "
                f"0..{config.n_head - 1}, got layer={layer}, head={head}"
            )
        super().__init__(
            model,
            tokenizer,
            page_model,
            n_layer=config.n_layer,
            n_head=config.n_head,
            text=text,
            layer=layer,
            head=head,
            causal=causal,
        )

    def update(self) -> None:
        """weights <- the (T, T) map of the current text, layer, head and mask."""
        ids = self.ids(self.text)
        if ids is None:
            self.weights = []
            return
        device = next(self.model.parameters()).device
        with torch.no_grad():
            maps = head_weights(
                self.model, torch.tensor([ids], device=device), self.layer, self.causal
            )
        self.weights = _rounded(maps[self.head])


class NextTokenExplorer(_GPTWidget):
    """Type a prompt and move a temperature slider: the `top` most likely next
    characters, softmax(logits / T)."""

    _esm = bundle(*MODEL_JS, "next_token.js")
    text = traitlets.Unicode().tag(sync=True)
    temperature = traitlets.Float(1.0).tag(sync=True)
    top = traitlets.Int(10).tag(sync=True)
    logits = traitlets.List(traitlets.Float()).tag(sync=True)
    _inputs = ("text",)

    def __init__(
        self,
        model: GPT,
        tokenizer,
        text: str,
        *,
        temperature: float = 1.0,
        top: int = 10,
        page_model: str = "shakespeare-char",
    ) -> None:
        if not 0.1 <= temperature <= 10:
            raise ValueError(f"temperature must be in 0.1..10, got {temperature}")
        if not 1 <= top <= tokenizer.vocab_size:
            raise ValueError(f"top must be in 1..{tokenizer.vocab_size}, got {top}")
        super().__init__(
            model, tokenizer, page_model, text=text, temperature=temperature, top=top
        )

    def update(self) -> None:
        """logits <- the next-token logits after the current text."""
        ids = self.ids(self.text)
        self.logits = [] if ids is None else _rounded(self.next_logits(ids))

    @property
    def probs(self) -> torch.Tensor:
        """(V,) softmax(logits / temperature): what the page's bars show."""
        return softmax(torch.tensor(self.logits), temperature=self.temperature)


class GenerationPlayground(_GPTWidget):
    """A prompt, temperature, top-k, top-p, length and seed: what the model writes,
    and the distribution its first new token is drawn from."""

    _esm = bundle(*MODEL_JS, "generation.js")
    prompt = traitlets.Unicode().tag(sync=True)
    temperature = traitlets.Float(0.8).tag(sync=True)
    top_k = traitlets.Int(0).tag(sync=True)
    top_p = traitlets.Float(1.0).tag(sync=True)
    length = traitlets.Int(200).tag(sync=True)
    seed = traitlets.Int(0).tag(sync=True)
    first_probs = traitlets.List(traitlets.Float()).tag(sync=True)
    completion = traitlets.Unicode().tag(sync=True)
    _inputs = ("prompt", "temperature", "top_k", "top_p", "length", "seed")

    def __init__(
        self,
        model: GPT,
        tokenizer,
        prompt: str = "ROMEO:\n",
        *,
        temperature: float = 0.8,
        top_k: int = 0,
        top_p: float = 1.0,
        length: int = 200,
        seed: int = 0,
        page_model: str = "shakespeare-char",
    ) -> None:
        """Temperature 0 (or top-k 1) is greedy decoding; top-k 0 and top-p 1 switch
        those filters off."""
        if not (0 <= temperature <= 2 and 0 <= top_k <= tokenizer.vocab_size):
            raise ValueError(
                f"need temperature in 0..2 and top_k in 0..{tokenizer.vocab_size}, got "
                f"{temperature} and {top_k}"
            )
        if not (0 < top_p <= 1 and 1 <= length <= 600):
            raise ValueError(
                f"need top_p in (0, 1] and length in 1..600, got {top_p} and {length}"
            )
        super().__init__(
            model,
            tokenizer,
            page_model,
            prompt=prompt,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            length=length,
            seed=seed,
        )

    def first_distribution(self, ids: list[int]) -> torch.Tensor:
        """(V,) the distribution the first new token is drawn from: all mass on the
        argmax when greedy, else softmax(filtered logits / temperature)."""
        logits = self.next_logits(ids)
        if self.temperature == 0 or self.top_k == 1:
            return torch.nn.functional.one_hot(logits.argmax(), len(logits)).float()
        k = self.top_k if self.top_k > 0 else None
        p = self.top_p if self.top_p < 1 else None
        kept = filter_logits(logits[None], k, p)[0]
        return softmax(kept, temperature=self.temperature)

    def update(self) -> None:
        """first_probs, completion <- for the current settings, generating with a
        torch.Generator seeded with `seed`."""
        ids = self.ids(self.prompt)
        if ids is None:
            self.first_probs, self.completion = [], ""
            return
        device = next(self.model.parameters()).device
        generator = torch.Generator(device=device).manual_seed(self.seed)
        out = self.model.generate(
            torch.tensor([ids], device=device),
            self.length,
            temperature=self.temperature,
            top_k=self.top_k if self.top_k > 0 else None,
            top_p=self.top_p if self.top_p < 1 else None,
            generator=generator,
        )
        self.first_probs = _rounded(self.first_distribution(ids))
        self.completion = "".join(self.chars[i] for i in out[0, len(ids) :].tolist())


class TranslationExplorer(anywidget.AnyWidget):
    """Type a number in words: the Seq2Seq's greedy translation and each decoder
    layer's cross-attention (mean of the heads). The model's float16 weights travel
    in the state (base64), so the page computes everywhere."""

    _esm = bundle(*MODEL_JS, "translation.js")
    weights = traitlets.Unicode().tag(sync=True)
    src_vocab = traitlets.List(traitlets.Unicode()).tag(sync=True)
    tgt_vocab = traitlets.List(traitlets.Unicode()).tag(sync=True)
    specials = traitlets.List(traitlets.Unicode()).tag(sync=True)
    text = traitlets.Unicode().tag(sync=True)

    def __init__(
        self,
        model: Seq2Seq,
        src_vocab: list[str],
        tgt_vocab: list[str],
        text: str,
        *,
        specials: tuple[str, ...] = ("<pad>", "<bos>", "<eos>"),
    ) -> None:
        """src_vocab, tgt_vocab: each side's tokens by id (a tokenizer's `itos`)."""
        if not isinstance(model, Seq2Seq):
            raise TypeError(f"needs a tinytx Seq2Seq, got {type(model).__name__}")
        config = model.config
        if (len(src_vocab), len(tgt_vocab)) != (
            config.src_vocab_size,
            config.tgt_vocab_size,
        ):
            raise ValueError(
                f"the model has {config.src_vocab_size} source and "
                f"{config.tgt_vocab_size} target tokens; got vocabularies of "
                f"{len(src_vocab)} and {len(tgt_vocab)}"
            )
        vocab = {"src": list(src_vocab), "tgt": list(tgt_vocab)}
        super().__init__(
            weights=base64.b64encode(to_bytes(model, vocab)).decode("ascii"),
            src_vocab=list(src_vocab),
            tgt_vocab=list(tgt_vocab),
            specials=list(specials),
            text=text,
        )

    @property
    def words(self) -> list[str]:
        """The source words of `text`, split as the page splits them."""
        return self.text.lower().replace("-", " ").split()

    def translate(self) -> tuple[list[str], torch.Tensor]:
        """(predicted target tokens, cross-attention maps (n_layer, T, S)) that the
        page computes: PyTorch's, with the float16 weights the page has. Raises
        ValueError for unknown words."""
        page, _ = from_bytes(base64.b64decode(self.weights))
        unknown = [w for w in self.words if w not in self.src_vocab]
        if unknown or not self.words:
            raise ValueError(f"unknown words {unknown}" if unknown else "no words")
        src = torch.tensor([[self.src_vocab.index(w) for w in self.words]])
        with torch.no_grad():
            out = page.translate(src)
            _, cache = page.run_with_cache(src, out[:, :-1])
        maps = torch.stack(
            [
                cache[f"decoder.{i}.cross_attn.weights"][0].mean(0)
                for i in range(page.config.n_layer)
            ]
        )
        return [self.tgt_vocab[i] for i in out[0, 1:].tolist()], maps
