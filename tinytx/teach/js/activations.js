// Activation functions and their slopes, computed and drawn in the browser.
//
// The front end of tinytx.teach.live.ActivationExplorer. For the chosen activation and
// input x0 it draws every activation's curve f and slope f' (the chosen one bold), the
// tangent at x0 and both values, all computed here: the book needs no kernel for it.
// Joined after maths.js (erf).

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

const sigmoid = (x) => 1 / (1 + Math.exp(-x));
const normalCdf = (x) => 0.5 * (1 + erf(x / Math.SQRT2));
const normalPdf = (x) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);

/** name -> [f, f']: the same functions as F.relu, F.gelu (both forms) and F.silu. */
export const ACTIVATIONS = {
  ReLU: [(x) => Math.max(x, 0), (x) => (x > 0 ? 1 : 0)],
  GELU: [(x) => x * normalCdf(x), (x) => normalCdf(x) + x * normalPdf(x)],
  "GELU (tanh approx.)": [
    (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))),
    (x) => {
      const t = Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3));
      return 0.5 * (1 + t)
        + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
    },
  ],
  SiLU: [(x) => x * sigmoid(x), (x) => sigmoid(x) * (1 + x * (1 - sigmoid(x)))],
};

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];

/** One panel: every curve of `which` (0: f, 1: f') over [lo, hi], the chosen bold. */
function panel(names, chosen, which, lo, hi, x0, title) {
  const width = 310, height = 220, pad = 28;
  const xs = Array.from({ length: 161 }, (_, i) => lo + ((hi - lo) * i) / 160);
  const all = names.flatMap((n) => xs.map((x) => ACTIVATIONS[n][which](x)));
  const yLo = Math.min(...all, 0), yHi = Math.max(...all, 1);
  const px = (x) => pad + ((x - lo) / (hi - lo)) * (width - pad - 6);
  const py = (y) => height - pad - ((y - yLo) / (yHi - yLo)) * (height - pad - 20);
  let body = `<text x="${pad}" y="13" font-size="13">${title}</text>`;
  body += `<line x1="${pad}" x2="${width - 6}" y1="${py(0)}" y2="${py(0)}" stroke="#bbb"/>`;
  body += `<line x1="${px(0)}" x2="${px(0)}" y1="18" y2="${height - pad}" stroke="#bbb"/>`;
  names.forEach((n, i) => {
    const points = xs.map((x) => `${px(x).toFixed(1)},${py(ACTIVATIONS[n][which](x)).toFixed(1)}`);
    const bold = n === chosen;
    body += `<polyline fill="none" stroke="${COLOURS[i % 4]}" stroke-width="${bold ? 2.5 : 1.2}"`
      + ` opacity="${bold ? 1 : 0.35}" points="${points.join(" ")}"/>`;
  });
  const [f, slope] = ACTIVATIONS[chosen];
  if (which === 0) { // the tangent at x0
    const a = Math.max(lo, x0 - 1.5), b = Math.min(hi, x0 + 1.5);
    const at = (x) => f(x0) + slope(x0) * (x - x0);
    body += `<line x1="${px(a)}" y1="${py(at(a))}" x2="${px(b)}" y2="${py(at(b))}"`
      + ` stroke="black" stroke-dasharray="3,3"/>`;
  }
  body += `<circle cx="${px(x0)}" cy="${py(ACTIVATIONS[chosen][which](x0))}" r="4"/>`;
  body += `<text x="${width / 2}" y="${height - 6}" font-size="12">x</text>`;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.style.cssText = "flex: 1 1 300px; max-width: 100%";
  svg.innerHTML = body;
  return svg;
}

function render({ model, el }) {
  const names = model.get("names");
  const [lo, hi] = model.get("x_range");
  const root = document.createElement("div");
  root.className = "tinytx-activations";
  root.style.cssText = "font-family: sans-serif; max-width: 640px";
  const menu = document.createElement("select");
  menu.setAttribute("aria-label", "activation");
  names.forEach((n) => menu.append(new Option(n, n)));
  const slider = document.createElement("input");
  Object.assign(slider, { type: "range", min: lo, max: hi, step: 0.05 });
  slider.setAttribute("aria-label", "x0");
  slider.style.cssText = "flex: 1; max-width: 360px; min-width: 0";
  const controls = document.createElement("div");
  controls.style.cssText = "display: flex; gap: 10px; align-items: center; flex-wrap: wrap";
  controls.append(menu, "x0", slider);
  const readout = document.createElement("div");
  readout.style.cssText = "font-size: 14px; margin: 6px 0";
  const panels = document.createElement("div");
  panels.style.cssText = "display: flex; flex-wrap: wrap";
  root.append(controls, readout, panels);

  function draw() {
    const chosen = model.get("activation"), x0 = model.get("x0");
    const [f, slope] = ACTIVATIONS[chosen];
    menu.value = chosen;
    slider.value = x0;
    readout.textContent = `${chosen}:  f(${x0.toFixed(2)}) = ${f(x0).toFixed(4)}    `
      + `f'(${x0.toFixed(2)}) = ${slope(x0).toFixed(4)}`;
    // what the browser test reads and compares with PyTorch's autograd
    Object.assign(root.dataset, { activation: chosen, x0: String(x0),
      value: String(f(x0)), slope: String(slope(x0)) });
    panels.replaceChildren(
      panel(names, chosen, 0, lo, hi, x0, "activation f(x), tangent at x0"),
      panel(names, chosen, 1, lo, hi, x0, "derivative f'(x)"),
    );
  }

  menu.addEventListener("change", () => {
    model.set("activation", menu.value);
    model.save_changes(); // reaches Python in a notebook; does nothing in the book
  });
  slider.addEventListener("input", () => {
    model.set("x0", Number(slider.value));
    model.save_changes();
  });
  model.on("change:activation", draw);
  model.on("change:x0", draw);
  draw();
  el.appendChild(root);
}

export default { render };
