// Gradient norm per block, for stacks of several depths: precomputed curves, drawn in
// the browser.
//
// The front end of tinytx.teach.live.ProfileExplorer. The widget's state holds every
// curve the chapter measured ({moment: {depth: {variant: [norm of block 0, 1, ...]}}});
// the menus pick which to draw, on a log scale, with no kernel.

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/** The curves to draw: {variant: values} for one moment and depth, one or all variants. */
export function chosenCurves(profiles, moment, depth, variant) {
  const curves = (profiles[moment] || {})[String(depth)] || {};
  return Object.fromEntries(
    Object.entries(curves).filter(([name]) => variant === "both" || name === variant),
  );
}

function plot(curves, variants, title) {
  const width = 620, height = 240, pad = 40;
  const all = Object.values(curves).flat().map((v) => Math.max(v, 1e-12));
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.style.cssText = "width: 100%";
  if (!all.length) {
    svg.innerHTML = `<text x="${width / 2}" y="${height / 2}" text-anchor="middle"
      font-size="14">${title}: measured at initialisation only</text>`;
    return svg;
  }
  const lo = Math.log10(Math.min(...all)), hi = Math.log10(Math.max(...all)) + 1e-9;
  const blocks = Math.max(...Object.values(curves).map((c) => c.length));
  const px = (i) => pad + (i / Math.max(blocks - 1, 1)) * (width - pad - 10);
  const py = (v) => height - pad
    - ((Math.log10(Math.max(v, 1e-12)) - lo) / (hi - lo || 1)) * (height - pad - 24);
  let body = `<text x="${pad}" y="14" font-size="13">${title}</text>`;
  body += `<text x="${width / 2}" y="${height - 8}" font-size="12" text-anchor="middle">`
    + `block index (0 = next to the embeddings)</text>`;
  for (const exponent of [Math.ceil(lo), Math.floor(hi)]) {
    body += `<text x="2" y="${py(10 ** exponent) + 4}" font-size="11">1e${exponent}</text>`;
  }
  Object.entries(curves).forEach(([name, values]) => {
    const colour = COLOURS[variants.indexOf(name) % COLOURS.length];
    const points = values.map((v, i) => `${px(i).toFixed(1)},${py(v).toFixed(1)}`);
    body += `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.join(" ")}"/>`;
    body += values.map((v, i) => `<circle cx="${px(i)}" cy="${py(v)}" r="3" fill="${colour}"/>`).join("");
    body += `<text x="${width - 120}" y="${30 + 16 * variants.indexOf(name)}" font-size="13" fill="${colour}">${name}</text>`;
  });
  svg.innerHTML = body;
  return svg;
}

function menu(label, options, value) {
  const select = document.createElement("select");
  select.setAttribute("aria-label", label);
  options.forEach(([text, v]) => select.append(new Option(text, v)));
  select.value = value;
  return select;
}

function render({ model, el }) {
  const profiles = model.get("profiles"), variants = model.get("variants");
  const depths = Object.keys(profiles.init).map(Number).sort((a, b) => a - b);
  const root = document.createElement("div");
  root.className = "tinytx-profiles";
  root.style.cssText = "font-family: sans-serif; max-width: 640px";
  const menus = {
    depth: menu("blocks", depths.map((d) => [`${d} blocks`, String(d)]), String(model.get("depth"))),
    variant: menu("variant", [["both", "both"], ...variants.map((v) => [v, v])], model.get("variant")),
    moment: menu("moment", [["at initialisation", "init"], [model.get("trained_label"), "trained"]],
      model.get("moment")),
  };
  const controls = document.createElement("div");
  controls.style.cssText = "display: flex; gap: 8px; flex-wrap: wrap";
  controls.append(menus.depth, menus.variant, menus.moment);
  const figure = document.createElement("div");
  root.append(controls, figure);

  function draw() {
    const depth = model.get("depth"), variant = model.get("variant"), moment = model.get("moment");
    Object.assign(menus.depth, { value: String(depth) });
    menus.variant.value = variant;
    menus.moment.value = moment;
    const curves = chosenCurves(profiles, moment, depth, variant);
    root.dataset.curves = JSON.stringify(curves); // what the browser test compares
    const when = moment === "init" ? "at initialisation" : model.get("trained_label");
    figure.replaceChildren(plot(curves, variants, `${depth} blocks, ${when}`));
  }

  for (const name of ["depth", "variant", "moment"]) {
    menus[name].addEventListener("change", () => {
      const value = menus[name].value;
      model.set(name, name === "depth" ? Number(value) : value);
      model.save_changes(); // reaches Python in a notebook; does nothing in the book
    });
    model.on(`change:${name}`, draw);
  }
  draw();
  el.appendChild(root);
}

export default { render };
