// The attention explorer: type a text, pick a layer and a head, switch the causal
// mask off, and see who attends to whom in the book's trained GPT.
//
// The front end of tinytx.teach.live_models.AttentionExplorer. In the book the page
// runs the model (transformer.js) on the text; in a notebook Python computes the map
// and sends it. Joined after maths.js, draw.js and transformer.js.

function menu(count, label) {
  const select = element("select");
  select.setAttribute("aria-label", label);
  for (let i = 0; i < count; i++) select.append(new Option(String(i), String(i)));
  return select;
}

/** The (T, T) map of one head: the weights the model used (causal), or the same
 * queries and keys scored against every position (no mask: what the mask hides). */
export function attentionMap(net, run, layer, head, causal) {
  const { n_embd: C, n_head: H } = net.config, T = run.ids.length;
  const { weights, q, k } = run.layers[layer];
  const shown = causal ? weights : attentionWeights(q, k, T, T, C, H, null);
  return headMap(shown, head, T, T);
}

function render({ model, el }) {
  const chars = model.get("chars");
  const root = element("div", { fontFamily: "sans-serif", maxWidth: "680px" });
  root.className = "tinytx-attention";
  const box = element("textarea", { width: "100%", height: "3.2em",
    fontFamily: "monospace", fontSize: "14px", boxSizing: "border-box" });
  box.setAttribute("aria-label", "text");
  const layer = menu(model.get("n_layer"), "layer");
  const head = menu(model.get("n_head"), "head");
  const causal = element("input");
  causal.type = "checkbox";
  const controls = element("div", { margin: "6px 0" });
  controls.append(labelled("layer", layer), labelled("head", head),
    labelled("causal mask", causal));
  const status = statusLine(), message = element("div", { color: "#a00" });
  const picture = element("div");
  root.append(box, controls, status, message, picture);

  let net = null, run = null; // the page's model and its pass over the current text

  function draw() {
    const text = model.get("text");
    const encoded = encodeChars(chars, text, model.get("block_size"));
    if (document.activeElement !== box) box.value = text;
    root.dataset.text = text; // set first: an error below still shows what was read
    layer.value = String(model.get("layer"));
    head.value = String(model.get("head"));
    causal.checked = model.get("causal");
    message.textContent = encoded.error ?? "";
    if (encoded.error) {
      root.dataset.weights = "[]";
      return picture.replaceChildren();
    }
    if (net && run?.text !== text) {
      const started = performance.now();
      run = { text, ids: encoded.ids, ...gptForward(net, encoded.ids) };
      reportTiming(root, status, started, `${encoded.ids.length} characters`);
    }
    const map = net
      ? attentionMap(net, run, model.get("layer"), model.get("head"), model.get("causal"))
      : model.get("weights"); // Python's, for the inputs in the state
    const labels = encoded.ids.map((i) => showChar(chars[i]));
    picture.replaceChildren(heatMap(map, labels, labels,
      { rowTitle: "query", colTitle: "key (attended to)" }));
    // what the browser test reads and compares with PyTorch
    root.dataset.weights = JSON.stringify(map);
  }

  const update = (name, value) => {
    model.set(name, value);
    model.save_changes(); // in a notebook Python recomputes `weights` and sends them
    if (net) draw();
  };
  let typing = null;
  box.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => update("text", box.value), 250);
  });
  layer.addEventListener("change", () => update("layer", Number(layer.value)));
  head.addEventListener("change", () => update("head", Number(head.value)));
  causal.addEventListener("change", () => update("causal", causal.checked));
  model.on("change:weights", () => { if (!net) draw(); });
  draw();
  el.appendChild(root);

  // The state holds Python's map for its inputs: the page's model must give it too.
  widgetModel(model.get("page_model"), status, (candidate) => {
    const { ids, error } = encodeChars(chars, model.get("text"), model.get("block_size"));
    if (error) return 0; // nothing saved to compare with
    const first = { text: model.get("text"), ids, ...gptForward(candidate, ids) };
    const map = attentionMap(candidate, first, model.get("layer"), model.get("head"),
      model.get("causal"));
    return maxDifference(map.flat(), model.get("weights").flat());
  }).then((loaded) => {
    net = loaded;
    if (net) draw();
  });
}

export default { render };
