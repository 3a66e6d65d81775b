// Data parallelism's costs, computed and drawn in the browser.
//
// The front end of tinytx.teach.live.ParallelismCalculator. For the chosen model size,
// precision, number of GPUs and strategy (DDP or a ZeRO stage; FSDP is stage 3) it
// computes what tinytx.distributed computes: the bytes each GPU sends per training step
// (a ring all-reduce of the gradients, or FSDP's gathers and reduce-scatter), the time
// that takes at the chosen bandwidth, and the bytes of weights, gradients and AdamW
// states each GPU holds, drawn as a bar against the device's capacity. Activations are
// not counted. Joined after maths.js (element) and draw.js (labelled).

/** Bytes per parameter of each model state, as tinytx.distributed.STATE_BYTES. */
export const STATE_BYTES = {
  fp32: { weights: 4, gradients: 4, optimizer: 8 },
  bf16: { weights: 2, gradients: 2, optimizer: 12 },
};
/** Bytes of one communicated value (gradients, or FSDP's gathered weights). */
export const VALUE_BYTES = { fp32: 4, bf16: 2 };
/** Strategy -> ZeRO stage, and the states each stage shards (tinytx.distributed). */
export const STRATEGIES = { DDP: 0, "ZeRO-1": 1, "ZeRO-2": 2, FSDP: 3 };
const SHARDED = [[], ["optimizer"], ["optimizer", "gradients"],
  ["optimizer", "gradients", "weights"]];
const PARTS = [["weights", "#1f77b4"], ["gradients", "#ff7f0e"],
  ["optimizer", "#2ca02c"]];
const PRECISION_NAMES = { fp32: "fp32", bf16: "bf16 mixed precision" };
const GB = 1e9;

/** Bytes each rank sends in a ring all-reduce: 2 (N - 1) / N times the size. */
export function allreduceBytes(nValues, worldSize, bytesPerValue) {
  return (2 * (worldSize - 1) * nValues * bytesPerValue) / worldSize;
}

/** Bytes each rank sends per step: the all-reduce, 1.5 times it at stage 3. */
export function stepTraffic(nParams, worldSize, bytesPerValue, stage) {
  const ring = allreduceBytes(nParams, worldSize, bytesPerValue);
  return stage === 3 ? 1.5 * ring : ring;
}

/** {weights, gradients, optimizer}: bytes per rank under ZeRO stage `stage`. */
export function trainingMemory(nParams, worldSize, stage, precision) {
  const memory = {};
  for (const [part, size] of Object.entries(STATE_BYTES[precision])) {
    memory[part] = (nParams * size) / (SHARDED[stage].includes(part) ? worldSize : 1);
  }
  return memory;
}

/** Everything the page shows, from the widget's state (as the Python `figures`). */
export function figures({ models, model, precision, strategy, gpus, bandwidth,
  capacity }) {
  const nParams = models[model], stage = STRATEGIES[strategy];
  const traffic = stepTraffic(nParams, gpus, VALUE_BYTES[precision], stage);
  const memory = trainingMemory(nParams, gpus, stage, precision);
  const total = memory.weights + memory.gradients + memory.optimizer;
  return { traffic, seconds: traffic / (bandwidth * GB), memory, total,
    fits: total <= capacity * GB };
}

/** Bytes in decimal units with three significant digits: 1.99 GB, 871 MB. */
export function formatBytes(bytes) {
  const units = [["TB", 1e12], ["GB", 1e9], ["MB", 1e6], ["kB", 1e3]];
  for (const [name, size] of units) {
    if (bytes >= size) return `${Number((bytes / size).toPrecision(3))} ${name}`;
  }
  return `${Number(bytes.toPrecision(3))} B`;
}

function formatSeconds(seconds) {
  if (seconds === 0) return "0 s";
  if (seconds < 1e-3) return `${Number((seconds * 1e6).toPrecision(3))} µs`;
  if (seconds < 1) return `${Number((seconds * 1e3).toPrecision(3))} ms`;
  return `${Number(seconds.toPrecision(3))} s`;
}

function menu(label, options, value) {
  const select = document.createElement("select");
  select.setAttribute("aria-label", label);
  const values = options.map(([v]) => String(v));
  const all = values.includes(String(value)) ? options : [...options, [value, value]];
  all.forEach(([v, text]) => select.append(new Option(String(text), String(v))));
  select.value = String(value);
  return select;
}

/** One stacked bar of the memory per GPU, with the capacity marked. */
function memoryBar(memory, total, capacity) {
  const scale = 1.08 * Math.max(total, capacity * GB);
  const track = element("div", { position: "relative", height: "22px",
    background: "#eee", margin: "26px 0 4px", display: "flex" });
  for (const [part, colour] of PARTS) {
    track.append(element("div", { width: `${(100 * memory[part]) / scale}%`,
      background: colour }));
  }
  const at = (capacity * GB) / scale, left = `${100 * at}%`;
  const marker = element("div", { position: "absolute", left, top: "-6px",
    height: "34px", borderLeft: "2px dashed black" });
  // the label stays inside the widget: left of the marker when it is on the right half
  const label = element("div", { position: "absolute", left, top: "-24px",
    transform: at > 0.5 ? "translateX(-100%)" : "none", padding: "0 4px",
    fontSize: "12px", whiteSpace: "nowrap" }, `capacity ${capacity} GB`);
  track.append(marker, label);
  return track;
}

function render({ model, el }) {
  const root = element("div", { fontFamily: "sans-serif", maxWidth: "640px",
    fontSize: "14px" });
  root.className = "tinytx-parallelism";
  const names = Object.keys(model.get("models"));
  const controls = element("div", { display: "flex", flexWrap: "wrap", rowGap: "6px" });
  const selects = {
    model: menu("model", names.map((n) => [n, n]), model.get("model")),
    precision: menu("precision", Object.entries(PRECISION_NAMES),
      model.get("precision")),
    strategy: menu("strategy", Object.keys(STRATEGIES).map((s) => [s, s]),
      model.get("strategy")),
    gpus: menu("GPUs", [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024].map((g) => [g, g]),
      model.get("gpus")),
    capacity: menu("capacity", [16, 24, 40, 48, 80, 96, 141, 192].map((c) =>
      [c, `${c} GB`]), model.get("capacity")),
  };
  const bandwidth = element("input", { width: "160px" });
  Object.assign(bandwidth, { type: "range", min: 0, max: 3, step: 0.01 });
  bandwidth.setAttribute("aria-label", "bandwidth");
  const bandwidthText = element("span", { width: "6em" });
  const bandwidthControl = element("span", { display: "inline-flex",
    alignItems: "center", gap: "6px" });
  bandwidthControl.append(bandwidth, bandwidthText);
  controls.append(labelled("model", selects.model),
    labelled("precision", selects.precision), labelled("strategy", selects.strategy),
    labelled("GPUs", selects.gpus), labelled("memory per GPU", selects.capacity),
    labelled("bandwidth", bandwidthControl));
  const traffic = element("div", { margin: "8px 0 0" });
  const bar = element("div");
  const legend = element("div", { fontSize: "13px" });
  root.append(controls, traffic, bar, legend);

  function draw() {
    const state = Object.fromEntries(["models", "model", "precision", "strategy",
      "gpus", "bandwidth", "capacity"].map((k) => [k, model.get(k)]));
    const shown = figures(state);
    for (const [key, select] of Object.entries(selects)) select.value = String(state[key]);
    bandwidth.value = Math.log10(state.bandwidth);
    bandwidthText.textContent = `${Number(state.bandwidth.toPrecision(3))} GB/s`;
    traffic.textContent = state.gpus === 1
      ? "one GPU: nothing to send"
      : `each GPU sends ${formatBytes(shown.traffic)} per step: `
        + `${formatSeconds(shown.seconds)} at ${Number(state.bandwidth.toPrecision(3))}`
        + " GB/s";
    bar.replaceChildren(memoryBar(shown.memory, shown.total, state.capacity));
    legend.replaceChildren(...PARTS.map(([part, colour]) => {
      const item = element("span", { marginRight: "12px", whiteSpace: "nowrap" });
      item.append(element("span", { display: "inline-block", width: "10px",
        height: "10px", background: colour, marginRight: "4px" }),
      `${part} ${formatBytes(shown.memory[part])}`);
      return item;
    }), element("div", { marginTop: "4px" }, `per GPU ${formatBytes(shown.total)}: `
      + (shown.fits ? "fits" : "does not fit")
      + ` in ${state.capacity} GB, before activations`));
    // what the tests read and compare with Python's numbers
    Object.assign(root.dataset, { traffic: String(shown.traffic),
      seconds: String(shown.seconds), total: String(shown.total),
      fits: String(shown.fits) });
  }

  for (const [key, select] of Object.entries(selects)) {
    select.addEventListener("change", () => {
      const numeric = key === "gpus" || key === "capacity";
      model.set(key, numeric ? Number(select.value) : select.value);
      model.save_changes(); // reaches Python in a notebook; does nothing in the book
    });
  }
  bandwidth.addEventListener("input", () => {
    model.set("bandwidth", 10 ** Number(bandwidth.value));
    model.save_changes();
  });
  for (const key of ["model", "precision", "strategy", "gpus", "bandwidth", "capacity"]) {
    model.on(`change:${key}`, draw);
  }
  draw();
  el.appendChild(root);
}

export default { render };
