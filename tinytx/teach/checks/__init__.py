"""Exercise checkers for every chapter: run the reader's function on cases chosen
to expose the usual mistakes.

Every checker takes the reader's function, prints exactly one line and returns a
`Verdict`, true when the function passed (a notebook shows nothing for it, so the
checker's line is the cell's only output):

    ✓ <name>: <what now works>            the function passed every case
    ✗ <name>: <hint>                      the first mistake found, and what to change
    … <name>: not attempted yet ...       the function still raises NotImplementedError

A checker refuses tinytx's own implementation, which would pass every case but is
not the reader's work. Handed `tinytx.softmax`, `tinytx.FeedForward`, a method of a
tinytx object, a class derived from a tinytx class or an instance of one, it runs no
case, prints a ✗ line that says so and returns a false Verdict:

    ✗ padding_mask: that is tinytx's own padding_mask (tinytx.padding_mask); write
    your own function and pass it

It goes by the module in which a function or class was defined
(`core.tinytx_original`), so a function the reader defines in a notebook (module
`__main__`) is checked as usual, even when it calls tinytx inside.

Writing a checker for a new chapter: decorate a function with `@checker("name")`.
Its body calls the reader's function through `call(...)`, raises `CheckFailed(hint)`
at the first problem it finds, and returns the success message. Order the cases
so that each mistake is caught by the case that explains it best (overflow before
underflow, rows before dims).

One module per chapter; every checker is re-exported here, so a notebook calls
`checks.<name>(fn)` after `from tinytx import checks`. Shared machinery lives in `core`.
"""

from tinytx.teach.checks.attention import *  # noqa: F401,F403
from tinytx.teach.checks.distributed import *  # noqa: F401,F403
from tinytx.teach.checks.embeddings import *  # noqa: F401,F403
from tinytx.teach.checks.encoder_decoder import *  # noqa: F401,F403
from tinytx.teach.checks.feed_forward import *  # noqa: F401,F403
from tinytx.teach.checks.modern import *  # noqa: F401,F403
from tinytx.teach.checks.output_logits import *  # noqa: F401,F403
from tinytx.teach.checks.positional import *  # noqa: F401,F403
from tinytx.teach.checks.residual_layernorm import *  # noqa: F401,F403
from tinytx.teach.checks.softmax import *  # noqa: F401,F403
from tinytx.teach.checks.tokenization import *  # noqa: F401,F403
from tinytx.teach.checks.training_generation import *  # noqa: F401,F403
