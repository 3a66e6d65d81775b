// The generation playground: a prompt, temperature, top-k, top-p, length and a seed;
// the book's trained GPT writes, one character at a time, in the page.
//
// The front end of tinytx.teach.live_models.GenerationPlayground. In the book the page
// runs the model (transformer.js) with a KV cache and samples with its own seeded
// random numbers, so a seed gives the same text every time here, but not the text
// torch.multinomial draws in Python. In a notebook Python generates and sends the
// text. Joined after maths.js, draw.js and transformer.js.

/** tinytx.generate.filter_logits for one row: -Infinity outside the top-k (k > 0)
 * and outside the top-p nucleus (p < 1), which is measured at temperature 1. */
export function filterLogits(logits, topK, topP) {
  let kept = Array.from(logits);
  if (topK > 0 && topK < kept.length) {
    const threshold = [...kept].sort((a, b) => b - a)[topK - 1];
    let room = kept.filter((x) => x > threshold).length;
    // ties at the threshold: keep the first ones until k are kept
    kept = kept.map((x) => (x > threshold || (x === threshold && room++ < topK)
      ? x : -Infinity));
  }
  if (topP < 1) {
    const probs = softmax(kept);
    const order = probs.map((p, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
    let massBefore = 0;
    const keep = new Set();
    for (const i of order) {
      if (massBefore < topP) keep.add(i); // the most likely token always stays
      massBefore += probs[i];
    }
    kept = kept.map((x, i) => (keep.has(i) ? x : -Infinity));
  }
  return kept;
}

/** The distribution the next token is drawn from: greedy (all mass on the argmax) at
 * temperature 0 or top-k 1, else softmax(filtered logits / temperature). */
export function nextDistribution(logits, temperature, topK, topP) {
  if (temperature === 0 || topK === 1) {
    return Array.from(logits, (_, i) => (i === argmax(logits) ? 1 : 0));
  }
  return softmax(filterLogits(logits, topK, topP), temperature);
}

/** mulberry32: a small seeded generator of uniform numbers in [0, 1). */
export function randomNumbers(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/** The id whose cumulative probability first passes u (inverse-CDF sampling). */
export function sampleIndex(probs, u) {
  let cumulative = 0;
  for (let i = 0; i < probs.length; i++) {
    cumulative += probs[i];
    if (u < cumulative) return i;
  }
  return probs.findLastIndex((p) => p > 0); // u beyond the rounded total
}

/**
 * tinytx.generate with use_cache=True for one sequence: yields each new id. Each step
 * feeds only the newest token through the KV cache; past block_size the window
 * restarts from its last block_size // 2 tokens, re-read in one pass.
 */
export function* generate(net, ids, length, { temperature, topK, topP, seed }) {
  const { block_size: blockSize, vocab_size: V } = net.config;
  const text = [...ids], random = randomNumbers(seed);
  let cache = null, cacheStart = -1;
  for (let step = 0; step < length; step++) {
    const start = contextWindowStart(text.length, blockSize);
    let logits;
    if (cache && start === cacheStart) {
      logits = gptForward(net, text.slice(-1), cache).logits;
    } else { // the first step or a restart: read the whole window
      [cache, cacheStart] = [gptCache(net), start];
      const window = text.slice(start);
      logits = gptForward(net, window, cache).logits.subarray((window.length - 1) * V);
    }
    const next = sampleIndex(nextDistribution(logits, temperature, topK, topP), random());
    text.push(next);
    yield next;
  }
}

function slider(label, min, max, step) {
  const input = element("input", { width: "150px" });
  Object.assign(input, { type: "range", min, max, step });
  input.setAttribute("aria-label", label);
  const readout = element("span", { width: "3.2em", fontSize: "13px" });
  const box = labelled(label, input);
  box.append(readout);
  return { input, readout, box };
}

function render({ model, el }) {
  const chars = model.get("chars");
  const root = element("div", { fontFamily: "sans-serif", maxWidth: "680px" });
  root.className = "tinytx-generation";
  const box = element("textarea", { width: "100%", height: "3.2em",
    fontFamily: "monospace", fontSize: "14px", boxSizing: "border-box" });
  box.setAttribute("aria-label", "prompt");
  const sliders = {
    temperature: slider("temperature", 0, 2, 0.05),
    top_k: slider("top-k (0 = off)", 0, chars.length, 1),
    top_p: slider("top-p", 0.05, 1, 0.05),
    length: slider("new tokens", 10, 600, 10),
    seed: slider("seed", 0, 99, 1),
  };
  const controls = element("div", { display: "flex", flexWrap: "wrap", gap: "4px 0",
    margin: "6px 0", fontSize: "14px" });
  controls.append(...Object.values(sliders).map((s) => s.box));
  const status = statusLine(), message = element("div", { color: "#a00" });
  const bars = element("div");
  const output = element("pre", { whiteSpace: "pre-wrap", fontSize: "13px",
    background: "#f6f6f6", padding: "8px", minHeight: "4em" });
  root.append(box, controls, status, message,
    element("div", { fontSize: "13px" }, "distribution of the first new token:"), bars,
    output);

  let net = null, run = 0; // run numbers the generations, so a newer one stops older ones

  function settings() {
    return { temperature: model.get("temperature"), topK: model.get("top_k"),
      topP: model.get("top_p"), seed: model.get("seed") };
  }

  async function draw() {
    const prompt = model.get("prompt");
    if (document.activeElement !== box) box.value = prompt;
    for (const [name, { input, readout }] of Object.entries(sliders)) {
      input.value = model.get(name);
      readout.textContent = String(model.get(name));
    }
    const encoded = encodeChars(chars, prompt, model.get("block_size"));
    message.textContent = encoded.error ?? "";
    const mine = ++run;
    if (encoded.error) {
      Object.assign(root.dataset, { firstProbs: "[]", completion: "", status: "done" });
      return;
    }
    const { temperature, topK, topP } = settings();
    const first = net
      ? nextDistribution(nextLogits(net, encoded.ids), temperature, topK, topP)
      : model.get("first_probs"); // Python's
    bars.replaceChildren(probabilityBars(
      topTokens(first, 10).map(([i, p]) => [showChar(chars[i]), p])));
    root.dataset.firstProbs = JSON.stringify(first);
    if (!net) {
      output.textContent = prompt + model.get("completion");
      return;
    }
    // In the page: write the text as it comes, yielding to the browser every 8 tokens.
    root.dataset.status = "writing";
    const started = performance.now();
    let written = "";
    let count = 0;
    const ids = [...prompt].map((c) => chars.indexOf(c));
    for (const id of generate(net, ids, model.get("length"), settings())) {
      written += chars[id];
      if (++count % 8 === 0) {
        output.textContent = prompt + written;
        await new Promise((resolve) => setTimeout(resolve, 0));
        if (mine !== run) return; // the reader changed something: a newer run draws
      }
    }
    output.textContent = prompt + written;
    reportTiming(root, status, started, `${count} characters`);
    Object.assign(root.dataset, { status: "done", completion: written });
  }

  const update = (name, value) => {
    model.set(name, value);
    model.save_changes(); // in a notebook Python generates again and sends the text
    if (net) draw();
  };
  let typing = null;
  box.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => update("prompt", box.value), 400);
  });
  for (const [name, { input, readout }] of Object.entries(sliders)) {
    input.addEventListener("input", () => { readout.textContent = input.value; });
    input.addEventListener("change", () => update(name, Number(input.value)));
  }
  model.on("change:completion", () => { if (!net) draw(); });
  draw();
  el.appendChild(root);

  widgetModel(model.get("page_model"), status, (candidate) => {
    const { ids, error } = encodeChars(chars, model.get("prompt"), model.get("block_size"));
    if (error) return 0;
    const { temperature, topK, topP } = settings();
    const first = nextDistribution(nextLogits(candidate, ids), temperature, topK, topP);
    return maxDifference(first, model.get("first_probs"));
  }).then((loaded) => {
    net = loaded;
    if (net) draw();
  });
}

export default { render };
