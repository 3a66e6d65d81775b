// RoPE on one pair of dimensions, computed and drawn in the browser.
//
// The front end of tinytx.teach.live.RopeExplorer. From the saved state (a query pair
// q, a key pair k, their positions m and n and the pair's frequency theta) it turns q
// by m * theta and k by n * theta, as tinytx.nn.positional.apply_rotary does, and
// draws both vectors before and after, the angle between them and their dot product,
// the attention score. Moving m and n together turns both vectors alike: the score
// stays put. Joined after maths.js (element) by tinytx.teach.live.

/** The pair (a, b) turned by `angle` radians: (a cos - b sin, a sin + b cos). */
export function rotate([a, b], angle) {
  const c = Math.cos(angle), s = Math.sin(angle);
  return [a * c - b * s, a * s + b * c];
}

/** What the page shows for q at position m and k at position n. */
export function ropePair(q, k, m, n, theta) {
  const qm = rotate(q, m * theta), kn = rotate(k, n * theta);
  const score = qm[0] * kn[0] + qm[1] * kn[1];
  let angle = Math.atan2(qm[1], qm[0]) - Math.atan2(kn[1], kn[0]);
  angle = Math.atan2(Math.sin(angle), Math.cos(angle)); // into (-pi, pi]
  return { q: qm, k: kn, score, angle };
}

const SVG = "http://www.w3.org/2000/svg";
const SIZE = 300;

function arrow(from, to, colour, width, dashed = false) {
  const dash = dashed ? ' stroke-dasharray="4 3"' : "";
  return `<line x1="${from[0]}" y1="${from[1]}" x2="${to[0]}" y2="${to[1]}" ` +
    `stroke="${colour}" stroke-width="${width}"${dash} marker-end="url(#tip-${colour.slice(1)})"/>`;
}

function picture(q, k, shown, scale) {
  const centre = SIZE / 2;
  const at = ([a, b]) => [centre + a * scale, centre - b * scale];
  const tip = (colour) =>
    `<marker id="tip-${colour.slice(1)}" viewBox="0 0 10 10" refX="9" refY="5" ` +
    `markerWidth="7" markerHeight="7" orient="auto-start-reverse">` +
    `<path d="M0,0 L10,5 L0,10 z" fill="${colour}"/></marker>`;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${SIZE} ${SIZE}`);
  svg.style.cssText = `width: ${SIZE}px; max-width: 100%`;
  svg.innerHTML =
    `<defs>${tip("#1f77b4")}${tip("#d62728")}${tip("#9ecae1")}${tip("#f4a6a6")}</defs>` +
    `<line x1="0" x2="${SIZE}" y1="${centre}" y2="${centre}" stroke="#ddd"/>` +
    `<line y1="0" y2="${SIZE}" x1="${centre}" x2="${centre}" stroke="#ddd"/>` +
    arrow([centre, centre], at(q), "#9ecae1", 2, true) +
    arrow([centre, centre], at(k), "#f4a6a6", 2, true) +
    arrow([centre, centre], at(shown.q), "#1f77b4", 3) +
    arrow([centre, centre], at(shown.k), "#d62728", 3) +
    `<text x="8" y="16" font-size="13" fill="#1f77b4">query at position m</text>` +
    `<text x="8" y="32" font-size="13" fill="#d62728">key at position n</text>` +
    `<text x="8" y="${SIZE - 8}" font-size="12" fill="#777">dashed: before rotation</text>`;
  return svg;
}

function slider(label, max, value) {
  const input = document.createElement("input");
  Object.assign(input, { type: "range", min: 0, max, step: 1, value });
  input.style.cssText = "flex: 1; max-width: 260px; min-width: 0";
  const readout = element("span", { minWidth: "2em" });
  const wrap = element("label", { display: "flex", gap: "8px", alignItems: "center",
    fontSize: "14px" }, `${label} `);
  wrap.append(input, readout);
  return { wrap, input, readout };
}

function render({ model, el }) {
  const q = model.get("q"), k = model.get("k"), theta = model.get("theta");
  const top = model.get("max_position");
  const scale = (SIZE / 2 - 12) / Math.max(Math.hypot(...q), Math.hypot(...k));
  const root = element("div", { fontFamily: "sans-serif", maxWidth: "640px" });
  root.className = "tinytx-rope";
  const m = slider("query position m", top, model.get("m"));
  const n = slider("key position n", top, model.get("n"));
  const both = document.createElement("button");
  both.textContent = "move both +1";
  const readout = element("div", { fontSize: "14px", margin: "6px 0",
    fontFamily: "monospace", whiteSpace: "pre-wrap" }); // wraps on a phone
  const figure = element("div");
  root.append(m.wrap, n.wrap, both, readout, figure);

  function draw() {
    const mm = model.get("m"), nn = model.get("n");
    m.input.value = mm;
    n.input.value = nn;
    m.readout.textContent = String(mm);
    n.readout.textContent = String(nn);
    const shown = ropePair(q, k, mm, nn, theta);
    const plain = q[0] * k[0] + q[1] * k[1];
    // what the tests read and compare with tinytx's rotation
    root.dataset.score = shown.score.toFixed(4);
    root.dataset.angle = shown.angle.toFixed(4);
    readout.textContent =
      `m - n = ${mm - nn}   turned by m·θ = ${(mm * theta).toFixed(2)} and ` +
      `n·θ = ${(nn * theta).toFixed(2)} rad\n` +
      `angle between them ${(shown.angle * 180 / Math.PI).toFixed(1)}°   ` +
      `score q·k = ${shown.score.toFixed(4)}   (unrotated ${plain.toFixed(4)})`;
    figure.replaceChildren(picture(q, k, shown, scale));
  }

  const send = (name, value) => {
    model.set(name, value);
    model.save_changes(); // reaches Python in a notebook; does nothing in the book
  };
  m.input.addEventListener("input", () => send("m", Number(m.input.value)));
  n.input.addEventListener("input", () => send("n", Number(n.input.value)));
  both.addEventListener("click", () => {
    if (model.get("m") < top && model.get("n") < top) {
      send("m", model.get("m") + 1);
      send("n", model.get("n") + 1);
    }
  });
  model.on("change:m", draw);
  model.on("change:n", draw);
  draw();
  el.appendChild(root);
}

export default { render };
