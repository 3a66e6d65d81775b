// Drawing helpers shared by the model widgets: labelled heat maps, probability bars,
// visible characters. Joined after maths.js (element) by tinytx.teach.live.

/** A visible label for one character, as tinytx.teach.viz.show_char. */
export function showChar(ch) {
  return { " ": "␣", "\n": "⏎", "\t": "⇥" }[ch] ?? ch;
}

/** White (0) to dark blue (1), the colour map of the book's attention figures. */
function blue(value) {
  const v = Math.max(0, Math.min(1, value));
  const fade = (c) => Math.round(255 - (255 - c) * v);
  return `rgb(${fade(8)},${fade(48)},${fade(107)})`;
}

/**
 * A (rows, cols) matrix of values in 0..1 as a heat map on a canvas, rows top to
 * bottom, labelled on the left and at the top (upright when the labels are wide; every
 * k-th when they are dense), with axis titles. `width` bounds the drawn size in
 * pixels; the canvas shrinks with the page.
 */
export function heatMap(matrix, rowLabels, colLabels, { width = 560, rowTitle = "",
  colTitle = "" } = {}) {
  const rows = matrix.length, cols = matrix[0].length;
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d");
  ctx.font = "11px sans-serif";
  const widest = (labels) => Math.max(0, ...labels.map((l) => ctx.measureText(l).width));
  const left = 26 + widest(rowLabels);
  const cell = Math.max(2, Math.min(28, (width - left - 4) / cols));
  const upright = widest(colLabels) > cell; // column labels turned to read upwards
  const top = 24 + (upright ? widest(colLabels) : 12);
  canvas.width = left + cell * cols + 4;
  canvas.height = top + cell * rows + 4;
  canvas.style.cssText = `width: ${canvas.width}px; max-width: 100%`;
  ctx.fillStyle = "white";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  matrix.forEach((values, r) => values.forEach((value, c) => {
    ctx.fillStyle = blue(value);
    ctx.fillRect(left + c * cell, top + r * cell, Math.ceil(cell), Math.ceil(cell));
  }));
  const every = Math.ceil(12 / cell); // labels at least 12 px apart
  ctx.fillStyle = "black";
  ctx.font = "11px sans-serif"; // resizing the canvas reset it
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  rowLabels.forEach((label, r) => {
    if (r % every === 0) ctx.fillText(label, left - 4, top + (r + 0.5) * cell);
  });
  colLabels.forEach((label, c) => {
    if (c % every !== 0) return;
    ctx.save();
    ctx.translate(left + (c + 0.5) * cell, top - 4);
    if (upright) ctx.rotate(-Math.PI / 2);
    ctx.textAlign = upright ? "left" : "center";
    ctx.textBaseline = upright ? "middle" : "bottom";
    ctx.fillText(label, 0, 0);
    ctx.restore();
  });
  ctx.font = "12px sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  ctx.fillText(colTitle, left + (cell * cols) / 2, 2);
  ctx.save();
  ctx.translate(2, top + (cell * rows) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(rowTitle, 0, 0);
  ctx.restore();
  return canvas;
}

/** Horizontal bars for [label, probability] pairs, each with its value. */
export function probabilityBars(pairs) {
  const box = element("div", { fontSize: "14px" });
  box.replaceChildren(...pairs.map(([label, p]) => {
    const row = element("div", { display: "flex", alignItems: "center", gap: "6px" });
    const track = element("span", { flex: "1", maxWidth: "420px", display: "flex" });
    track.append(element("span", { height: "14px", width: `${(100 * p).toFixed(2)}%`,
      background: "#1f77b4" }));
    row.append(element("span", { width: "2.5em", fontFamily: "monospace" }, label), track,
      element("span", { width: "4em", fontSize: "13px" }, p.toFixed(3)));
    return row;
  }));
  return box;
}

/** A labelled control in a row: <label>text <input or select></label>. */
export function labelled(text, control) {
  const label = element("label", { display: "inline-flex", alignItems: "center",
    gap: "6px", marginRight: "14px" }, text);
  label.append(control);
  return label;
}

/** A line of small grey text that says what the widget is doing. */
export function statusLine() {
  return element("div", { fontSize: "12px", color: "#555", margin: "4px 0" });
}

/** Say in the status line how long the page's model took, and record it for the
 * benchmark (data-compute-ms). */
export function reportTiming(root, status, started, what) {
  const ms = performance.now() - started;
  root.dataset.computeMs = ms.toFixed(1);
  status.textContent = `the model runs in this page: ${what} in ${ms.toFixed(0)} ms`;
}
