// ipywidgets' embed manager typesets widget labels through MathJax 2's API
// (MathJax.Hub.Queue); the book loads MathJax 3, where that call throws. Translate it.
// Loaded with `defer` after MathJax, so window.MathJax is already MathJax 3's object.
if (window.MathJax && !window.MathJax.Hub && window.MathJax.startup) {
  window.MathJax.Hub = {
    Queue: function (job) {
      var element = job[2];
      window.MathJax.startup.promise.then(function () {
        return window.MathJax.typesetPromise([element]);
      });
    },
  };
}
