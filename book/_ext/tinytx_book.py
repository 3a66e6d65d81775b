"""Two fixes for the rendered book, both found by the browser test (tests/browser).

One copy of each inline script per page: sphinx-thebe adds an inline `<script>const
THEBE_JS_URL = ...</script>` while the documents are read, after the HTML builder has
started. Sphinx 7.4 then lists it twice (once as registered, once as added to the
builder), and the second `const` declaration is a JavaScript error on every page.

Widget labels with maths: ipywidgets' embed manager calls MathJax 2's
`MathJax.Hub.Queue`, which MathJax 3 lacks; `_static/tinytx-widget-maths.js`
(from book/_static) provides it. It must run after MathJax's own deferred script,
hence `defer` and a late priority.
"""

from __future__ import annotations


def _drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    seen, unique = set(), []
    for script in context.get("script_files", []):
        attributes = getattr(script, "attributes", {})
        key = (
            getattr(script, "filename", None) or "",
            tuple(sorted((k, str(v)) for k, v in attributes.items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _drop_repeated_scripts)
    app.add_js_file("tinytx-widget-maths.js", loading_method="defer", priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
