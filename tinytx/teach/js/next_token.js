// Next-token probabilities: type a prompt, move the temperature, and see the book's
// trained GPT's most likely next characters.
//
// The front end of tinytx.teach.live_models.NextTokenExplorer. In the book the page
// runs the model (transformer.js) on the prompt; in a notebook Python computes the
// logits and sends them. The temperature is applied here in both. Joined after
// maths.js, draw.js and transformer.js.

function render({ model, el }) {
  const chars = model.get("chars");
  const root = element("div", { fontFamily: "sans-serif", maxWidth: "640px" });
  root.className = "tinytx-next-token";
  const box = element("textarea", { width: "100%", height: "3.2em",
    fontFamily: "monospace", fontSize: "14px", boxSizing: "border-box" });
  box.setAttribute("aria-label", "prompt");
  const slider = element("input", { flex: "1", maxWidth: "360px" });
  Object.assign(slider, { type: "range", min: -1, max: 1, step: 0.01 });
  slider.setAttribute("aria-label", "temperature");
  const readout = element("span", { fontSize: "14px" });
  const controls = element("div", { display: "flex", alignItems: "center", gap: "8px",
    margin: "6px 0" });
  controls.append("temperature", slider, readout);
  const status = statusLine(), message = element("div", { color: "#a00" });
  const bars = element("div");
  root.append(box, controls, status, message, bars);

  let net = null, logits = null, logitsText = null;

  function draw() {
    const text = model.get("text"), temperature = model.get("temperature");
    if (document.activeElement !== box) box.value = text;
    root.dataset.text = text; // set first: an error below still shows what was read
    slider.value = Math.log10(temperature);
    readout.textContent = `T = ${temperature.toFixed(2)}`;
    const encoded = encodeChars(chars, text, model.get("block_size"));
    message.textContent = encoded.error ?? "";
    if (encoded.error) {
      root.dataset.top = "[]";
      return bars.replaceChildren();
    }
    if (!net) logits = model.get("logits"); // Python's
    else if (logitsText !== text) {
      const started = performance.now();
      [logits, logitsText] = [nextLogits(net, encoded.ids), text];
      reportTiming(root, status, started, `${encoded.ids.length} characters`);
    }
    const top = topTokens(softmax(logits, temperature), model.get("top"));
    bars.replaceChildren(probabilityBars(top.map(([i, p]) => [showChar(chars[i]), p])));
    // what the browser test reads and compares with PyTorch
    Object.assign(root.dataset, { temperature: String(temperature),
      top: JSON.stringify(top) });
  }

  const update = (name, value) => {
    model.set(name, value);
    model.save_changes(); // in a notebook Python recomputes `logits` for a new text
    draw();
  };
  let typing = null;
  box.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => update("text", box.value), 250);
  });
  slider.addEventListener("input", () => update("temperature", 10 ** Number(slider.value)));
  model.on("change:logits", draw);
  draw();
  el.appendChild(root);

  widgetModel(model.get("page_model"), status, (candidate) => {
    const { ids, error } = encodeChars(chars, model.get("text"), model.get("block_size"));
    return error ? 0 : maxDifference(nextLogits(candidate, ids), model.get("logits"));
  }).then((loaded) => {
    net = loaded;
    if (net) draw();
  });
}

export default { render };
