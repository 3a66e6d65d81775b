// The translation explorer: type a number in words; the encoder-decoder trained in
// chapter 10 translates it to digits in the page, and each decoder layer's
// cross-attention (the mean of its heads) shows which source words each output read.
//
// The front end of tinytx.teach.live_models.TranslationExplorer. The model's float16
// weights travel in the widget's state, so the page computes everywhere: in the book
// and in a notebook alike. Joined after maths.js, draw.js and transformer.js.

/** The words of `text` as the chapter splits them: lower case, hyphens as spaces. */
export function sourceWords(text) {
  return text.toLowerCase().replaceAll("-", " ").split(/\s+/).filter(Boolean);
}

/**
 * Greedy translation of `words` with each decoder layer's cross-attention: {tokens,
 * maps} where tokens are the predicted target tokens (eos included) and maps[layer]
 * the (tokens, words) mean over heads; or {error}.
 */
export function translate(net, words, srcVocab, tgtVocab) {
  const { block_size: blockSize, n_head: H } = net.config;
  const unknown = words.filter((w) => !srcVocab.includes(w));
  if (unknown.length) return { error: `unknown word(s): ${unknown.join(", ")}` };
  if (words.length < 1 || words.length > blockSize) {
    return { error: `type 1 to ${blockSize} words` };
  }
  const src = words.map((w) => srcVocab.indexOf(w)), S = src.length;
  const out = seq2seqTranslate(net, src);
  const { memory } = seq2seqEncode(net, src);
  const T = out.length - 1;
  const { layers } = seq2seqDecode(net, out.slice(0, -1), memory, S);
  const maps = layers.map(({ cross }) => Array.from({ length: T }, (_, t) =>
    Array.from({ length: S }, (_, s) => {
      let total = 0;
      for (let h = 0; h < H; h++) total += cross[(h * T + t) * S + s];
      return total / H;
    })));
  return { tokens: out.slice(1).map((i) => tgtVocab[i]), maps };
}

function render({ model, el }) {
  const net = readWeights(base64ToBuffer(model.get("weights")));
  const srcVocab = model.get("src_vocab"), tgtVocab = model.get("tgt_vocab");
  const specials = model.get("specials");
  const root = element("div", { fontFamily: "sans-serif", maxWidth: "680px" });
  root.className = "tinytx-translation";
  const box = element("input", { width: "100%", maxWidth: "520px", fontSize: "14px",
    boxSizing: "border-box" });
  box.type = "text";
  box.setAttribute("aria-label", "words");
  const result = element("div", { fontSize: "15px", margin: "6px 0" });
  const message = element("div", { color: "#a00", fontSize: "13px" });
  const maps = element("div", { display: "flex", flexWrap: "wrap", gap: "8px" });
  root.append(box, result, message, maps);

  function draw() {
    const text = model.get("text");
    if (document.activeElement !== box) box.value = text;
    root.dataset.text = text; // set first: an error below still shows what was read
    const started = performance.now();
    const done = translate(net, sourceWords(text), srcVocab, tgtVocab);
    root.dataset.computeMs = (performance.now() - started).toFixed(1);
    if (done.error) {
      Object.assign(root.dataset, { translation: "", maps: "[]" });
      const known = srcVocab.filter((w) => !specials.includes(w));
      message.textContent = `${done.error} | vocabulary: ${known.join(" ")}`;
      result.textContent = "";
      return maps.replaceChildren();
    }
    message.textContent = "";
    const digits = done.tokens.filter((t) => !specials.includes(t)).join("");
    result.textContent = `translation: ${digits}`;
    maps.replaceChildren(...done.maps.map((map, layer) => {
      const panel = element("div", { fontSize: "13px" }, `layer ${layer}, mean of the heads`);
      panel.append(element("br"), heatMap(map, done.tokens, sourceWords(text),
        { width: 330, rowTitle: "output token", colTitle: "source word" }));
      return panel;
    }));
    // what the browser test reads and compares with PyTorch
    Object.assign(root.dataset, { translation: digits,
      maps: JSON.stringify(done.maps) });
  }

  let typing = null;
  box.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      model.set("text", box.value);
      model.save_changes(); // keeps Python's `text` in step in a notebook
    }, 250);
  });
  model.on("change:text", draw);
  draw();
  el.appendChild(root);
}

export default { render };
