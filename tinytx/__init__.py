"""tinytx: a small, readable Transformer you can run, poke and break.

Every component the book explains is importable from here:

    import tinytx
    probs = tinytx.softmax(torch.tensor([2.0, 1.0, 0.1]))
    model = tinytx.GPT(tinytx.GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128))

The layout: components of the chapters in `tinytx.nn`, models and training at the top,
teaching aids (exercise checkers, plots, widgets) in `tinytx.teach`.
"""

from tinytx.checkpoint import load, load_metadata, save
from tinytx.config import GPTConfig, Seq2SeqConfig
from tinytx.data import get_batch, load_corpus, train_val_split
from tinytx.device import pick_device, seed
from tinytx.generate import filter_logits, sample_next
from tinytx.model import GPT
from tinytx.optim import Muon
from tinytx.nn.attention import (
    KVCache,
    MultiHeadAttention,
    causal_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from tinytx.nn.block import Block, DecoderBlock, EncoderBlock
from tinytx.nn.embedding import TokenEmbedding
from tinytx.nn.ffn import FeedForward
from tinytx.nn.functional import softmax
from tinytx.nn.norm import LayerNorm
from tinytx.nn.positional import LearnedPositionalEmbedding, SinusoidalPositionalEmbedding, sinusoidal_positions
from tinytx.pretrained import pretrained
from tinytx.seq2seq import Seq2Seq
from tinytx.teach import checks
from tinytx.tokenizers import BPETokenizer, CharTokenizer, gpt2_tokenizer
from tinytx.train import TrainHistory, evaluate, train

__version__ = "0.1.0"

__all__ = [
    "BPETokenizer",
    "Block",
    "CharTokenizer",
    "DecoderBlock",
    "EncoderBlock",
    "FeedForward",
    "GPT",
    "GPTConfig",
    "KVCache",
    "LayerNorm",
    "LearnedPositionalEmbedding",
    "MultiHeadAttention",
    "Muon",
    "Seq2Seq",
    "Seq2SeqConfig",
    "SinusoidalPositionalEmbedding",
    "TokenEmbedding",
    "TrainHistory",
    "causal_mask",
    "checks",
    "evaluate",
    "filter_logits",
    "get_batch",
    "gpt2_tokenizer",
    "load",
    "load_corpus",
    "load_metadata",
    "padding_mask",
    "pick_device",
    "pretrained",
    "sample_next",
    "save",
    "scaled_dot_product_attention",
    "seed",
    "sinusoidal_positions",
    "softmax",
    "train",
    "train_val_split",
]
