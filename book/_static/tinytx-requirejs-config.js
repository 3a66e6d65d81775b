// Where the widget manager's files live. require.js resolves the manager's module URL
// against baseUrl (by default the page's folder), and the manager loads its fonts from
// beside that URL: point it at the book's own copy, _static/vendor/ (see the Makefile).
require.config({
  baseUrl: new URL("vendor/", document.currentScript.src).href,
  // Widgets of tinytx.teach.live are anywidgets: their model and view classes come from
  // npm's anywidget (the same file as the Python package's), served from vendor/ too.
  // The manager asks require.js first and falls back to a CDN only if that fails.
  paths: { anywidget: "anywidget/index" },
});
