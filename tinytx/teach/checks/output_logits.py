"""Checkers for chapter 08, output logits: cross-entropy, the initial loss,
tied weights, label smoothing."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from tinytx.teach.checks.core import (
    CheckFailed,
    call,
    call_for_number,
    checker,
    close,
    show,
)

__all__ = [
    "cross_entropy",
    "uniform_loss",
    "tie_weights",
    "label_smoothed_cross_entropy",
]


def _expect_scalar(
    out: torch.Tensor, per_position_shape: torch.Size, what: str
) -> None:
    """Fail unless `out` is one number; point at a missing mean when it
    has one loss per position."""
    if out.dim() == 0:
        return
    if out.shape == per_position_shape:
        raise CheckFailed(
            f"{what} returned a loss for every position, shape {tuple(out.shape)}; "
            "return their mean, one number, as F.cross_entropy and "
            "model(idx, targets) do"
        )
    raise CheckFailed(
        f"{what} must return one number (a 0-dim tensor), got shape {tuple(out.shape)}"
    )


def _reference_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, eps: float = 0.0
) -> torch.Tensor:
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), label_smoothing=eps
    )


def _cross_entropy_mistakes(
    logits: torch.Tensor, targets: torch.Tensor
) -> list[tuple[torch.Tensor, str]]:
    """What the usual wrong versions of the mean cross-entropy give on these
    inputs, with their hints."""
    V = logits.shape[-1]
    logp = torch.log_softmax(logits, dim=-1)
    at_target = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    n = targets.numel()
    return [
        (
            -at_target.sum(),
            f"you summed the {n} per-position losses; take their mean "
            "(F.cross_entropy's default, and what model(idx, targets) returns), "
            "so the loss does not grow with B and T",
        ),
        (
            -logp.exp().gather(-1, targets.unsqueeze(-1)).mean(),
            "you averaged -p(target), the probabilities themselves; cross-entropy is "
            "the mean of -log p(target)",
        ),
        (
            -logits.gather(-1, targets.unsqueeze(-1)).mean(),
            "you used the target's logit, not its log-probability: a logit only "
            "becomes a log-probability after subtracting the log-sum-exp of its row, "
            "log p = x - logsumexp(x), i.e. torch.log_softmax(logits, dim=-1)",
        ),
        (
            -logp.amax(dim=-1).mean(),
            "you took the probability of the most likely token (the argmax); "
            "the loss uses the probability the model gave to the target token, "
            "whatever its rank: logp.gather(-1, targets.unsqueeze(-1))",
        ),
        (
            -logp[..., targets].mean(),
            "you indexed logp[..., targets], which picks every target for every "
            f"position (a {tuple(targets.shape) + tuple(targets.shape)} tensor); "
            "pick one per position, e.g. logp.gather(-1, targets.unsqueeze(-1)), "
            "or flatten to (N, V) and (N,) and index with torch.arange(N)",
        ),
        (
            F.cross_entropy(
                torch.softmax(logits, -1).reshape(-1, V), targets.reshape(-1)
            ),
            "you passed probabilities to F.cross_entropy, which applies its own "
            "log-softmax: softmax ran twice. Work from the logits (and compute "
            "-log p(target) yourself)",
        ),
        (
            -torch.log_softmax(logits, dim=0).gather(-1, targets.unsqueeze(-1)).mean(),
            "your log-probabilities were normalised along the wrong dimension: "
            "the softmax runs over the vocabulary, the last dimension (dim=-1)",
        ),
    ]


@checker("cross_entropy")
def cross_entropy(fn: Callable) -> str:
    """Check `fn(logits (B, T, V), targets (B, T)) -> mean
    cross-entropy` against F.cross_entropy."""
    generator = torch.Generator().manual_seed(0)
    cases = [((2, 3, 5), 2.0), ((1, 7, 11), 3.0), ((3, 1, 4), 1.0)]
    for shape, scale in cases:
        logits = scale * torch.randn(shape, generator=generator)
        targets = torch.randint(0, shape[-1], shape[:-1], generator=generator)
        try:
            out = call(fn, logits, targets)
        except CheckFailed as failure:
            if "indexing tensors could not be broadcast" in str(failure):
                raise CheckFailed(
                    f"{failure}. After flattening the logits to (B*T, V), "
                    "flatten the targets too, targets.reshape(-1), so that there "
                    "is one index per row"
                ) from None
            raise
        _expect_scalar(out, targets.shape, "cross_entropy(logits, targets)")
        expected = _reference_cross_entropy(logits, targets)
        if close(out, expected):
            continue
        for wrong, hint in _cross_entropy_mistakes(logits, targets):
            if close(out, wrong):
                raise CheckFailed(hint)
        if close(out, -expected):
            raise CheckFailed(
                "the sign is flipped: the loss is -log p(target), a positive number"
            )
        raise CheckFailed(
            f"on logits of shape {shape} expected {expected.item():.4f} "
            f"(F.cross_entropy), got {show(out)}"
        )

    large = torch.tensor([[[1000.0, 1001.0, 1002.0], [5.0, 1000.0, -3.0]]])
    large_targets = torch.tensor([[0, 1]])
    out = call(fn, large, large_targets)
    if not torch.isfinite(out).all():
        raise CheckFailed(
            f"logits of about 1000 gave {show(out)}: exp(1000) overflows float32. "
            "Use torch.log_softmax (or subtract each row's max before exp) "
            "instead of log(softmax)"
        )
    if not close(out, _reference_cross_entropy(large, large_targets)):
        raise CheckFailed(
            "on logits of about 1000 expected "
            f"{_reference_cross_entropy(large, large_targets).item():.4f}, "
            f"got {show(out)}"
        )

    confident = torch.tensor([[[0.0, -200.0, 1.0]]])
    unlikely_target = torch.tensor([[1]])
    out = call(fn, confident, unlikely_target)
    expected = _reference_cross_entropy(confident, unlikely_target)
    if torch.isinf(out).any():
        raise CheckFailed(
            "a target with logit -200 gave an infinite loss, but the true loss "
            "is about 201.3: its probability underflows to 0 in float32 and "
            "log(0) = -inf. Never take the log of probabilities; use torch.log_softmax"
        )
    if not close(out, expected):
        raise CheckFailed(
            f"for a very unlikely target expected {expected.item():.4f}, "
            f"got {show(out)}"
        )
    return (
        "equals F.cross_entropy on 5 batches, finite for logits of ±1000 and exact for "
        "a target with logit -200."
    )


@checker("uniform_loss")
def uniform_loss(fn: Callable) -> str:
    """Check `fn(vocab_size) -> the cross-entropy of a uniform guess over
    vocab_size tokens` (ln V, in nats)."""
    for V in (65, 37000, 50257, 2):
        out = call_for_number(fn, V)
        expected = math.log(V)
        if math.isclose(out, expected, rel_tol=1e-5):
            continue
        wrong = [
            (
                math.log2(V),
                "you used log base 2, which measures bits; PyTorch's losses use the "
                "natural log (nats): math.log(V)",
            ),
            (
                math.log10(V),
                "you used log base 10; PyTorch's losses use the natural log "
                "(nats): math.log(V)",
            ),
            (
                1 / V,
                "1/V is the probability a uniform guess gives every token; "
                "the loss is -log of it",
            ),
            (
                -expected,
                "the sign is flipped: the loss is -log(1/V) = log(V), "
                "a positive number",
            ),
            (
                float(V),
                "the loss is not the vocabulary size itself but -log of "
                "the probability 1/V",
            ),
            (
                1 - 1 / V,
                "1 - 1/V is the chance a uniform guess is wrong; the loss is -log(1/V)",
            ),
        ]
        for value, hint in wrong:
            if math.isclose(out, value, rel_tol=1e-5):
                raise CheckFailed(hint)
        raise CheckFailed(f"for V = {V} expected ln V = {expected:.4f}, got {out:.4f}")
    return (
        "a uniform guess over V tokens costs ln V nats: 4.1744 for 65 characters, "
        "10.8249 for GPT-2's 50,257 tokens."
    )


def _untied_model() -> torch.nn.Module:
    from tinytx.config import (
        GPTConfig,
    )  # imported here: the checkers load before the models
    from tinytx.model import GPT

    with torch.random.fork_rng(devices=[]):  # leave the reader's random state as it was
        torch.manual_seed(0)
        return GPT(
            GPTConfig(
                vocab_size=11,
                block_size=8,
                n_layer=1,
                n_head=2,
                n_embd=8,
                tie_weights=False,
            )
        )


@checker("tie_weights")
def tie_weights(fn: Callable) -> str:
    """Check `fn(model)`: ties the head of an untied GPT to its
    token embedding, in place."""
    model = _untied_model()
    V, C = model.config.vocab_size, model.config.n_embd
    before = model.num_parameters()
    embedding, head = model.tok_embed.weight, model.head.weight
    names_before = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    try:
        returned = fn(model)
    except NotImplementedError:
        raise
    except TypeError as error:
        if "as parameter" in str(error):
            raise CheckFailed(
                "a module's parameter can only be replaced by an nn.Parameter, "
                "and model.tok_embed.weight already is one: assign it as it is "
                "(no .T, no .data, no .clone())"
            ) from None
        raise CheckFailed(f"your function raised TypeError: {error}") from None
    except (
        Exception
    ) as error:  # the reader's code may raise anything; show it as a hint
        raise CheckFailed(
            f"your function raised {type(error).__name__}: {error}"
        ) from None
    if isinstance(returned, torch.nn.Module) and returned is not model:
        raise CheckFailed(
            "you returned a new model; tie the weights of the model you "
            "were given, in place"
        )

    shared = model.head.weight
    if tuple(shared.shape) != (V, C):
        raise CheckFailed(
            f"head.weight has shape {tuple(shared.shape)}, expected (V, C) = {(V, C)}. "
            "nn.Linear(C, V) stores its weight as (out_features, in_features) = "
            "(V, C), the same layout as the embedding table, and computes x @ weight.T "
            "itself: no transpose is needed"
        )
    if shared is not model.tok_embed.weight:
        added = sorted(
            {name for name, _ in model.named_parameters(remove_duplicate=False)}
            - names_before
        )
        if added:
            raise CheckFailed(
                f"your assignment created a new parameter, model.{added[0]}, and left "
                "model.head.weight as it was. A module accepts any attribute name, "
                "so a misspelt one silently adds a parameter that nothing uses. "
                "Assign to the exact name: model.head.weight = model.tok_embed.weight"
            )
        if shared.data_ptr() == model.tok_embed.weight.data_ptr():
            raise CheckFailed(
                "the head and the embedding share memory but are still two Parameters "
                "(did you assign .data?). The optimizer then sees both, counts V x C "
                "twice and never adds their gradients together. Assign the Parameter "
                "itself: model.head.weight = model.tok_embed.weight"
            )
        if torch.equal(shared, model.tok_embed.weight):
            raise CheckFailed(
                "you copied the embedding's values into a new Parameter: "
                "equal now, but each gets its own gradient and they drift apart "
                "at the first step. Share the one Parameter: model.head.weight = "
                "model.tok_embed.weight"
            )
        raise CheckFailed(
            "model.head.weight is still its own matrix: make it the same "
            "Parameter object as model.tok_embed.weight (model.head.weight = "
            "model.tok_embed.weight)"
        )
    if shared is not embedding and shared is not head:
        raise CheckFailed(
            "both layers now use a brand-new matrix; share one of the two existing "
            "ones instead (model.head.weight = model.tok_embed.weight)"
        )

    after = model.num_parameters()
    if before - after != V * C:
        raise CheckFailed(
            f"tying should save V x C = {V * C} parameters, but the count went from "
            f"{before} to {after}"
        )
    idx = torch.randint(0, V, (2, 5), generator=torch.Generator().manual_seed(0))
    logits, cache = model.run_with_cache(idx)
    if not close(logits, cache["final_norm"] @ model.tok_embed.weight.T):
        raise CheckFailed(
            "after tying, the logits should be final_norm @ tok_embed.weight.T; "
            "they are not"
        )
    return (
        f"one shared (V, C) = {(V, C)} matrix, {V * C} parameters saved, "
        "logits = h @ E^T."
    )


def _smoothing_mistakes(
    logits: torch.Tensor, targets: torch.Tensor, eps: float
) -> list[tuple[torch.Tensor, str]]:
    V = logits.shape[-1]
    logp = torch.log_softmax(logits, dim=-1)
    one_hot = F.one_hot(targets, V).float()
    smoothed_by = {
        "over_v_minus_1": (1 - eps) * one_hot + eps / (V - 1) * (1 - one_hot),
        "no_one_minus_eps": one_hot + eps / V,
        "sum_not_mean": (1 - eps) * one_hot + eps,
    }
    loss = {name: -(q * logp).sum(-1).mean() for name, q in smoothed_by.items()}
    return [
        (
            _reference_cross_entropy(logits, targets),
            "ε had no effect: with label smoothing the target distribution "
            "is q = (1 - ε) one_hot + ε / V, not the one-hot alone",
        ),
        (
            loss["over_v_minus_1"],
            "you spread ε over the V - 1 wrong tokens. PyTorch "
            "(like Szegedy et al. 2016) spreads it uniformly over all V tokens, "
            "the target included: q = (1 - ε) one_hot + ε / V",
        ),
        (
            loss["no_one_minus_eps"],
            "the target's weight is 1 + ε / V, so q sums to 1 + ε: scale the one-hot "
            "part by (1 - ε), q = (1 - ε) one_hot + ε / V",
        ),
        (
            loss["sum_not_mean"],
            "you gave every token weight ε instead of ε / V: the smoothing term is ε "
            "times the mean of -log p over the V tokens, not their sum",
        ),
        (
            -(((1 - eps) * one_hot + eps / V) * logp).sum(),
            "you summed over the positions; take the mean, as F.cross_entropy does",
        ),
    ]


@checker("label_smoothed_cross_entropy")
def label_smoothed_cross_entropy(fn: Callable) -> str:
    """Check `fn(logits (N, V), targets (N,), eps) -> mean loss` against
    F.cross_entropy(label_smoothing=eps)."""
    generator = torch.Generator().manual_seed(0)
    for N, V, eps in [(6, 5, 0.1), (4, 9, 0.3), (3, 7, 0.0)]:
        logits = 2 * torch.randn(N, V, generator=generator)
        targets = torch.randint(0, V, (N,), generator=generator)
        out = call(fn, logits, targets, eps)
        _expect_scalar(
            out, targets.shape, "label_smoothed_cross_entropy(logits, targets, eps)"
        )
        expected = _reference_cross_entropy(logits, targets, eps)
        if close(out, expected):
            continue
        for wrong, hint in _smoothing_mistakes(logits, targets, eps):
            if close(out, wrong):
                raise CheckFailed(hint)
        if eps == 0.0:
            raise CheckFailed(
                "with ε = 0 the loss must be the plain cross-entropy "
                f"{expected.item():.4f}, got {show(out)}"
            )
        raise CheckFailed(
            f"with ε = {eps} on ({N}, {V}) logits expected {expected.item():.4f} "
            f"(F.cross_entropy(..., label_smoothing={eps})), got {show(out)}"
        )

    large = torch.tensor([[1000.0, 1001.0, 1002.0], [0.0, -200.0, 3.0]])
    large_targets = torch.tensor([2, 0])
    out = call(fn, large, large_targets, 0.1)
    expected = _reference_cross_entropy(large, large_targets, 0.1)
    if not torch.isfinite(out).all():
        raise CheckFailed(
            f"logits of 1000 or -200 gave {show(out)}. Label smoothing needs -log p of "
            "every token, including very unlikely ones whose probability underflows to "
            "0: use torch.log_softmax, never log(softmax)"
        )
    if not close(out, expected):
        raise CheckFailed(
            f"on large logits expected {expected.item():.4f}, got {show(out)}"
        )
    return (
        "equals F.cross_entropy(label_smoothing=ε) for ε = 0, 0.1 and 0.3, and stays "
        "finite on extreme logits."
    )
