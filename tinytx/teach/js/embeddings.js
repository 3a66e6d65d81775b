// A token's embedding row and its nearest neighbours, computed in the browser.
//
// The front end of tinytx.teach.live.EmbeddingExplorer. The widget's state carries the
// whole (V, C) table, so picking a token here ranks the other rows by cosine similarity
// as viz.plot_token_embedding does, with no kernel.

/** The k rows most similar to row `index` by cosine similarity, itself left out:
 * [[id, similarity], ...], most similar first. */
export function nearest(table, index, k) {
  const norm = (row) => Math.sqrt(row.reduce((s, v) => s + v * v, 0)) || 1e-12;
  const target = table[index], targetNorm = norm(target);
  const scores = table.map((row, id) => [
    id, row.reduce((s, v, j) => s + v * target[j], 0) / (norm(row) * targetNorm),
  ]);
  return scores.filter(([id]) => id !== index)
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, k);
}

const SVG = "http://www.w3.org/2000/svg";

function rowBars(values, title) {
  const width = 620, height = 150, top = 18, mid = top + (height - top) / 2;
  const scale = (height - top - 8) / 2 / Math.max(...values.map(Math.abs), 1e-12);
  const w = width / values.length;
  const bars = values.map((v, j) => {
    const h = Math.abs(v) * scale;
    return `<rect x="${(j * w).toFixed(2)}" y="${(v > 0 ? mid - h : mid).toFixed(2)}" `
      + `width="${Math.max(w - 0.5, 0.5).toFixed(2)}" height="${h.toFixed(2)}" fill="#1f77b4"/>`;
  });
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.style.cssText = "width: 100%";
  svg.innerHTML = `<text x="0" y="12" font-size="13">${title}</text>`
    + `<line x1="0" x2="${width}" y1="${mid}" y2="${mid}" stroke="#bbb"/>` + bars.join("");
  return svg;
}

function neighbourList(pairs, labels) {
  const list = document.createElement("div");
  list.style.cssText = "font-size: 14px; margin-top: 6px";
  for (const [id, similarity] of pairs) {
    const row = document.createElement("div");
    row.style.cssText = "display: flex; align-items: center; gap: 6px";
    const bar = document.createElement("span");
    bar.style.cssText = `height: 12px; background: #ff7f0e; `
      + `width: ${Math.max(0, 240 * similarity).toFixed(1)}px`;
    row.append(`${labels[id]}`.padEnd(3), bar, similarity.toFixed(3));
    list.append(row);
  }
  return list;
}

function render({ model, el }) {
  const table = model.get("table"), labels = model.get("labels"), k = model.get("k");
  const root = document.createElement("div");
  root.className = "tinytx-embeddings";
  root.style.cssText = "font-family: sans-serif; max-width: 640px";
  const menu = document.createElement("select");
  menu.setAttribute("aria-label", "token");
  labels.forEach((name, id) => menu.append(new Option(`${name}  (id ${id})`, String(id))));
  const view = document.createElement("div");
  root.append(menu, view);

  function draw() {
    const index = model.get("index");
    const row = table[index];
    const pairs = nearest(table, index, k);
    menu.value = String(index);
    const norm = Math.sqrt(row.reduce((s, v) => s + v * v, 0));
    // what the browser test reads and compares with Python's cosine similarities
    root.dataset.index = String(index);
    root.dataset.neighbours = JSON.stringify(pairs);
    const heading = document.createElement("div");
    heading.style.cssText = "font-size: 14px; margin-top: 8px";
    heading.textContent = `${k} nearest neighbours of ${labels[index]} (cosine similarity):`;
    view.replaceChildren(
      rowBars(row, `row ${index} (${labels[index]}): ${row.length} numbers, norm ${norm.toFixed(2)}`),
      heading,
      neighbourList(pairs, labels),
    );
  }

  menu.addEventListener("change", () => {
    model.set("index", Number(menu.value));
    model.save_changes(); // reaches Python in a notebook; does nothing in the book
  });
  model.on("change:index", draw);
  draw();
  el.appendChild(root);
}

export default { render };
