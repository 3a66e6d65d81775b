// Small numerical helpers shared by the widgets' front ends.
//
// A widget's front end reaches the page as one ES module, and a module loaded that way
// cannot import its neighbours, so tinytx.teach.live joins this file in front of the
// widget files that use it (see `bundle` there).

/** erf(x), Abramowitz & Stegun 7.1.26: absolute error below 1.5e-7. */
export function erf(x) {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
    + t * (-1.453152027 + t * 1.061405429))));
  const y = 1 - poly * Math.exp(-x * x);
  return x < 0 ? -y : y;
}

/** softmax(logits / T) with the max subtracted first, as tinytx.softmax does.
 * Logits of -Infinity (filtered out) get probability 0. */
export function softmax(logits, temperature = 1) {
  const scaled = Array.from(logits, (x) => x / temperature);
  const max = Math.max(...scaled);
  const exps = scaled.map((x) => Math.exp(x - max));
  const total = exps.reduce((sum, e) => sum + e, 0);
  return exps.map((e) => e / total);
}

/** A DOM element with inline style and text. */
export function element(tag, style = {}, text = "") {
  const node = document.createElement(tag);
  Object.assign(node.style, style);
  node.textContent = text;
  return node;
}
