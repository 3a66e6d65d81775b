"""Running the widgets' JavaScript under Node, for tests that compare it with Python."""

import json
import subprocess
import tempfile
from pathlib import Path


def run_module(code: str, body: str):
    """Run `body` with the exports of the ES module `code` in scope as `m`; returns
    the JSON value `body` leaves in `result`."""
    with tempfile.TemporaryDirectory() as folder:
        module = Path(folder) / "module.mjs"
        module.write_text(code, encoding="utf-8")
        script = (
            f"import * as m from {json.dumps(module.as_uri())};\n"
            "import { readFileSync } from 'fs';\n"
            f"let result;\n{body}\nconsole.log(JSON.stringify(result));"
        )
        done = subprocess.run(
            ["node", "--input-type=module", "-e", script],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout)
