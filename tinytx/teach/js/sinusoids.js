// The sinusoidal positional encoding, computed and drawn in the browser.
//
// The front end of tinytx.teach.live.SinusoidExplorer. From the saved state (T, d and
// the chosen position and dimension) it computes the whole (T, d) table, as
// tinytx.sinusoidal_positions does, and draws it: a heat map with the position's row
// and the dimension's column outlined, the column as a wave over all positions, and
// the row as that position's vector.

/** PE[pos][2i] = sin(pos / 10000^(2i/d)), PE[pos][2i + 1] = cos(the same angle). */
export function sinusoidalTable(T, d) {
  const table = [];
  for (let pos = 0; pos < T; pos++) {
    const row = new Array(d);
    for (let i = 0; 2 * i < d; i++) {
      const angle = pos / 10000 ** ((2 * i) / d);
      row[2 * i] = Math.sin(angle);
      if (2 * i + 1 < d) row[2 * i + 1] = Math.cos(angle);
    }
    table.push(row);
  }
  return table;
}

const WIDTH = 640;
const SVG = "http://www.w3.org/2000/svg";

/** Blue (-1) through white (0) to red (+1), like the book's RdBu_r heat maps. */
function colour(value) {
  const v = Math.max(-1, Math.min(1, value));
  const fade = (c) => Math.round(255 - (255 - c) * Math.abs(v));
  return v < 0 ? `rgb(${fade(5)},${fade(48)},${fade(97)})` : `rgb(${fade(103)},${fade(0)},${fade(31)})`;
}

function heatMap(table, row, col) {
  const canvas = document.createElement("canvas");
  const T = table.length, d = table[0].length;
  canvas.width = WIDTH;
  canvas.height = 200;
  canvas.style.width = "100%"; // drawn at 640 px, shown at the column's width
  const ctx = canvas.getContext("2d");
  const w = WIDTH / d, h = canvas.height / T;
  table.forEach((values, pos) =>
    values.forEach((value, dim) => {
      ctx.fillStyle = colour(value);
      ctx.fillRect(dim * w, pos * h, Math.ceil(w), Math.ceil(h));
    }),
  );
  ctx.strokeStyle = "black";
  ctx.strokeRect(0, row * h, WIDTH, Math.max(h, 1)); // the position's row
  ctx.strokeStyle = "#2ca02c";
  ctx.lineWidth = 2;
  ctx.strokeRect(col * w, 0, Math.max(w, 1), canvas.height); // the dimension's column
  return canvas;
}

/** A line through `values` (all in -1..1) with a dot at `mark`, titled. */
function curve(values, mark, colourName, title) {
  const svg = document.createElementNS(SVG, "svg");
  const width = WIDTH / 2 - 10, height = 130, top = 18;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.style.cssText = "flex: 1 1 300px; max-width: 100%";
  const x = (i) => (i / Math.max(values.length - 1, 1)) * (width - 10) + 5;
  const y = (v) => top + (1 - v) * ((height - top - 6) / 2);
  const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
  svg.innerHTML =
    `<text x="5" y="12" font-size="12">${title}</text>` +
    `<line x1="5" x2="${width - 5}" y1="${y(0)}" y2="${y(0)}" stroke="#bbb"/>` +
    `<polyline fill="none" stroke="${colourName}" points="${points.join(" ")}"/>` +
    `<circle cx="${x(mark)}" cy="${y(values[mark])}" r="4" fill="black"/>`;
  return svg;
}

function slider(label, max, value) {
  const wrap = document.createElement("label");
  wrap.style.cssText = "display:flex;gap:8px;align-items:center;font-size:14px";
  const input = document.createElement("input");
  Object.assign(input, { type: "range", min: 0, max, step: 1, value });
  input.style.cssText = "flex: 1; max-width: 360px; min-width: 0";
  const readout = document.createElement("span");
  wrap.append(`${label} `, input, readout);
  return { wrap, input, readout };
}

function render({ model, el }) {
  const T = model.get("T"), d = model.get("d");
  const table = sinusoidalTable(T, d);
  const root = document.createElement("div");
  root.className = "tinytx-sinusoids";
  root.style.cssText = `font-family: sans-serif; max-width: ${WIDTH}px`;
  const position = slider("position", T - 1, model.get("position"));
  const dimension = slider("dimension", d - 1, model.get("dimension"));
  const figure = document.createElement("div");
  root.append(position.wrap, dimension.wrap, figure);

  function draw() {
    const row = model.get("position"), col = model.get("dimension");
    position.input.value = row;
    dimension.input.value = col;
    position.readout.textContent = String(row);
    dimension.readout.textContent = String(col);
    const column = table.map((values) => values[col]);
    // what the browser test reads and compares with tinytx.sinusoidal_positions
    root.dataset.row = JSON.stringify(table[row]);
    root.dataset.column = JSON.stringify(column);
    const curves = document.createElement("div");
    curves.style.cssText = "display: flex; flex-wrap: wrap";
    curves.append(
      curve(column, row, "#2ca02c", `dimension ${col} over all ${T} positions`),
      curve(table[row], col, "black", `position ${row}: its ${d} numbers`),
    );
    figure.replaceChildren(heatMap(table, row, col), curves);
  }

  for (const [control, name] of [[position, "position"], [dimension, "dimension"]]) {
    control.input.addEventListener("input", () => {
      model.set(name, Number(control.input.value));
      model.save_changes(); // reaches Python in a notebook; does nothing in the book
    });
    model.on(`change:${name}`, draw);
  }
  draw();
  el.appendChild(root);
}

export default { render };
