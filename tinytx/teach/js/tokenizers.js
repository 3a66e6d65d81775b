// Characters and byte-level BPE, tokenizing the reader's text in the browser.
//
// The front end of tinytx.teach.live.TokenizerExplorer. The state holds the character
// vocabulary and the BPE merges (the book's own tokenizer, trained in chapter 1), so the
// page cuts the text into chunks and applies the merges exactly as
// tinytx.tokenizers.split_chunks and BPETokenizer.encode do, with no kernel.

// Python's str.isspace() characters, which its re module's \s matches (JavaScript's \s
// differs in \x1c-\x1f, \x85 and \ufeff).
const WS = "\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
// tinytx.tokenizers.CHUNK_PATTERN, with Python's Unicode classes spelled out:
// [^\W\d_] is a letter or a non-decimal numeral, \d a decimal digit.
const CHUNK = new RegExp(
  `'(?:[sdmt]|ll|ve|re)| ?[\\p{L}\\p{Nl}\\p{No}]+| ?\\p{Nd}+| ?[^${WS}\\p{L}\\p{N}]+`
    + `|[${WS}]+(?![^${WS}])|[${WS}]+`,
  "gu",
);

/** The chunks BPE works within, as tinytx.tokenizers.split_chunks. */
export function splitChunks(text) {
  return text.match(CHUNK) || [];
}

/** Token ids of `text` under `merges` ([[a, b], ...], merge k creating id 256 + k):
 * within each chunk, merge the earliest-learned pair present until none is left. */
export function bpeEncode(merges, text) {
  const rank = new Map(merges.map(([a, b], k) => [`${a},${b}`, 256 + k]));
  const ids = [];
  for (const chunk of splitChunks(text)) {
    let tokens = Array.from(new TextEncoder().encode(chunk));
    for (;;) {
      let best = null;
      for (let i = 0; i + 1 < tokens.length; i++) {
        const id = rank.get(`${tokens[i]},${tokens[i + 1]}`);
        if (id !== undefined && (best === null || id < best)) best = id;
      }
      if (best === null) break;
      const [a, b] = merges[best - 256];
      const merged = [];
      for (let i = 0; i < tokens.length; i++) {
        if (i + 1 < tokens.length && tokens[i] === a && tokens[i + 1] === b) {
          merged.push(best);
          i++;
        } else merged.push(tokens[i]);
      }
      tokens = merged;
    }
    ids.push(...tokens);
  }
  return ids;
}

const COLOURS = ["#fde2a7", "#b9e3f9", "#c8eec0", "#f9c6d3", "#ddd0f7", "#f6d8b8"];
const VISIBLE = { " ": "·", "\n": "↵", "\t": "⇥" };

function tokenRow(title, pieces) {
  const row = document.createElement("div");
  row.style.cssText = "margin: 6px 0; line-height: 1.9";
  const head = document.createElement("div");
  head.style.cssText = "font-size: 14px";
  head.textContent = title;
  // a flex row that wraps: adjacent boxes offer no line break of their own
  const boxes = document.createElement("div");
  boxes.style.cssText = "display: flex; flex-wrap: wrap; row-gap: 3px";
  row.append(head, boxes);
  pieces.forEach((text, i) => {
    const box = document.createElement("span");
    box.style.cssText = `background: ${COLOURS[i % COLOURS.length]}; padding: 1px 2px;`
      + " margin-right: 1px; font-family: monospace; font-size: 14px; white-space: pre";
    box.textContent = [...text].map((c) => VISIBLE[c] || c).join("");
    boxes.append(box);
  });
  return row;
}

function render({ model, el }) {
  const chars = model.get("chars"), merges = model.get("merges");
  // the bytes of every BPE token, to show what each id stands for
  const vocab = Array.from({ length: 256 }, (_, b) => [b]);
  merges.forEach(([a, b]) => vocab.push([...vocab[a], ...vocab[b]]));
  const decoder = new TextDecoder("utf-8");
  const root = document.createElement("div");
  root.className = "tinytx-tokenizers";
  root.style.cssText = "font-family: sans-serif; max-width: 640px";
  const box = document.createElement("textarea");
  box.setAttribute("aria-label", "text");
  box.rows = 3;
  box.style.cssText = "width: 100%; box-sizing: border-box; font-size: 14px";
  const rows = document.createElement("div");
  root.append(box, rows);

  function draw() {
    const text = model.get("text");
    if (box.value !== text) box.value = text;
    const unknown = [...text].find((c) => !chars.includes(c));
    const charIds = unknown === undefined ? [...text].map((c) => chars.indexOf(c)) : null;
    const bpeIds = bpeEncode(merges, text);
    // what the browser test reads and compares with tinytx's tokenizers
    root.dataset.charIds = JSON.stringify(charIds);
    root.dataset.bpeIds = JSON.stringify(bpeIds);
    const charRow = charIds === null
      ? tokenRow(`characters: '${unknown}' is not among the ${chars.length} characters`, [])
      : tokenRow(`characters: ${charIds.length} tokens`, [...text]);
    const bpePieces = bpeIds.map((id) => decoder.decode(new Uint8Array(vocab[id])));
    rows.replaceChildren(
      charRow,
      tokenRow(`our BPE (${256 + merges.length} tokens): ${bpeIds.length} tokens`, bpePieces),
    );
  }

  box.addEventListener("input", () => {
    model.set("text", box.value);
    model.save_changes(); // reaches Python in a notebook; does nothing in the book
  });
  model.on("change:text", draw);
  draw();
  el.appendChild(root);
}

export default { render };
