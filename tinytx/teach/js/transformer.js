// tinytx's GPT and encoder-decoder, forward pass only, in plain JavaScript.
//
// The model widgets of tinytx.teach.live_models run the book's trained models in the
// page with this file: the same operations as tinytx/model.py and tinytx/seq2seq.py,
// one token row at a time, on the float16 weights tinytx.teach.export writes. A
// tensor is a Float32Array in row-major order, like a contiguous torch tensor:
// x[t * C + c] is channel c of token t. Sums are accumulated in doubles. Joined after
// maths.js (erf).

const MAGIC = "TTX1";

// Every float16 bit pattern's value, built on first use: decoding 2.7 M weights by
// table lookup takes a few milliseconds.
let HALF = null;

function halfTable() {
  if (HALF) return HALF;
  HALF = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    HALF[bits] = exponent === 0 ? sign * 2 ** -14 * (fraction / 1024) // subnormal
      : exponent === 31 ? (fraction ? NaN : sign * Infinity)
        : sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return HALF;
}

/**
 * Parse a file written by tinytx.teach.export: "TTX1", the header's length (uint32,
 * little-endian), the JSON header, zeros up to a multiple of 4 bytes, then each
 * tensor's float16 values in the header's order.
 * @returns {{kind, config, vocab, tensors: Object<string, {shape, data}>}}
 */
export function readWeights(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== MAGIC) throw new Error(`not a tinytx weights file (starts ${magic})`);
  const view = new DataView(buffer);
  const headerLength = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  const table = halfTable();
  let offset = Math.ceil((8 + headerLength) / 4) * 4;
  const tensors = {};
  for (const [name, shape] of header.tensors) {
    const size = shape.reduce((a, b) => a * b, 1);
    const halves = new Uint16Array(buffer, offset, size), data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = table[halves[i]];
    tensors[name] = { shape, data };
    offset += 2 * size;
  }
  return { ...header, tensors };
}

/** The bytes of a base64 string, as an ArrayBuffer (how a widget's state carries them). */
export function base64ToBuffer(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

// ------------------------------------------------------------------ building blocks

/** x (T, in) @ W.T + b with W (out, in), as nn.Linear: -> (T, out). */
function linear(x, T, W, b) {
  const [outFeatures, inFeatures] = W.shape;
  const w = W.data, bias = b ? b.data : null;
  const y = new Float32Array(T * outFeatures);
  for (let t = 0; t < T; t++) {
    const row = t * inFeatures;
    for (let o = 0; o < outFeatures; o++) {
      const wRow = o * inFeatures;
      // four running sums let the CPU overlap the multiply-adds
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = 0;
      for (; i + 3 < inFeatures; i += 4) {
        s0 += w[wRow + i] * x[row + i];
        s1 += w[wRow + i + 1] * x[row + i + 1];
        s2 += w[wRow + i + 2] * x[row + i + 2];
        s3 += w[wRow + i + 3] * x[row + i + 3];
      }
      for (; i < inFeatures; i++) s0 += w[wRow + i] * x[row + i];
      y[t * outFeatures + o] = (bias ? bias[o] : 0) + (s0 + s1) + (s2 + s3);
    }
  }
  return y;
}

/** LayerNorm over each row of x (T, C): biased variance, eps 1e-5 inside the root. */
function layerNorm(x, T, C, weight, bias) {
  const y = new Float32Array(T * C);
  for (let t = 0; t < T; t++) {
    let mean = 0, variance = 0;
    for (let c = 0; c < C; c++) mean += x[t * C + c];
    mean /= C;
    for (let c = 0; c < C; c++) variance += (x[t * C + c] - mean) ** 2;
    const inv = 1 / Math.sqrt(variance / C + 1e-5);
    for (let c = 0; c < C; c++) {
      const z = (x[t * C + c] - mean) * inv * weight.data[c];
      y[t * C + c] = bias ? z + bias.data[c] : z;
    }
  }
  return y;
}

const ACTIVATIONS = {
  relu: (x) => (x > 0 ? x : 0),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), // F.gelu's exact form
  // GPT-2's tanh approximation, F.gelu(x, approximate="tanh")
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3))),
};

/**
 * softmax(q k^T / sqrt(d_head)) for each head: q (T, C), k (S, C) -> (H, T, S).
 * Query t may see keys 0 .. past + t when `past` is a number (the causal mask, with
 * `past` tokens already cached before the first query), every key when it is null.
 */
export function attentionWeights(q, k, T, S, C, H, past = null) {
  const d = C / H, scale = 1 / Math.sqrt(d);
  const weights = new Float32Array(H * T * S);
  const scores = new Float64Array(S);
  for (let h = 0; h < H; h++) {
    for (let t = 0; t < T; t++) {
      const visible = past === null ? S : Math.min(S, past + t + 1);
      let max = -Infinity;
      for (let s = 0; s < visible; s++) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += q[t * C + h * d + j] * k[s * C + h * d + j];
        scores[s] = dot * scale;
        if (scores[s] > max) max = scores[s];
      }
      let total = 0;
      for (let s = 0; s < visible; s++) {
        scores[s] = Math.exp(scores[s] - max);
        total += scores[s];
      }
      for (let s = 0; s < visible; s++) weights[(h * T + t) * S + s] = scores[s] / total;
    }
  }
  return weights;
}

/** Attention of q (T, C) over k and v (S, C), heads side by side: -> out (T, C) and
 * the weights (H, T, S); `past` as in attentionWeights. */
export function attend(q, k, v, T, S, C, H, past = null) {
  const d = C / H, out = new Float32Array(T * C);
  const weights = attentionWeights(q, k, T, S, C, H, past);
  for (let h = 0; h < H; h++) {
    for (let t = 0; t < T; t++) {
      for (let s = 0; s < S; s++) {
        const w = weights[(h * T + t) * S + s];
        if (w === 0) continue; // masked
        for (let j = 0; j < d; j++) out[t * C + h * d + j] += w * v[s * C + h * d + j];
      }
    }
  }
  return { out, weights };
}

/** Rows t of head h of weights (H, T, S), as arrays: a (T, S) attention map. */
export function headMap(weights, h, T, S) {
  return Array.from({ length: T }, (_, t) =>
    Array.from(weights.subarray((h * T + t) * S, (h * T + t + 1) * S)));
}

/** The parameter called `name`, or undefined (e.g. a bias of a model with bias=False). */
const param = (model, name) => model.tensors[name];

/**
 * One nn.MultiheadAttention-like sublayer of tinytx (MultiHeadAttention): project,
 * attend, project back. x (T, C) gives the queries, source (S, C) the keys and values.
 * With a `cache` ({k, v, length} of one layer) this call's keys and values are written
 * after the cached ones and attention covers them all.
 * @returns {{out, weights, q, k}} out (T, C); weights (H, T, keys); q (T, C); k (keys, C)
 */
function multiHead(model, prefix, x, T, source, S, past, cache = null) {
  const { n_embd: C, n_head: H } = model.config;
  const project = (name, input, rows) => linear(input, rows,
    param(model, `${prefix}.${name}.weight`), param(model, `${prefix}.${name}.bias`));
  const q = project("q_proj", x, T);
  let k = project("k_proj", source, S), v = project("v_proj", source, S);
  let keys = S;
  if (cache) {
    cache.k.set(k, cache.length * C);
    cache.v.set(v, cache.length * C);
    keys = cache.length + S;
    k = cache.k.subarray(0, keys * C);
    v = cache.v.subarray(0, keys * C);
  }
  const { out, weights } = attend(q, k, v, T, keys, C, H, past);
  return { out: project("out_proj", out, T), weights, q, k };
}

/** fc_out(activation(fc_in(x))): the feed-forward network, x (T, C) -> (T, C). */
function feedForward(model, prefix, x, T) {
  const fcIn = param(model, `${prefix}.fc_in.weight`);
  const hidden = linear(x, T, fcIn, param(model, `${prefix}.fc_in.bias`));
  const f = ACTIVATIONS[model.config.activation];
  for (let i = 0; i < hidden.length; i++) hidden[i] = f(hidden[i]);
  return linear(hidden, T, param(model, `${prefix}.fc_out.weight`),
    param(model, `${prefix}.fc_out.bias`));
}

/** x + f(LN(x)) (pre-LN) or LN(x + f(x)) (post-LN), without the `x +` when the
 * model has no residual connections: _ResidualBlock._sublayer. */
function sublayer(model, norm, x, T, f) {
  const { n_embd: C, norm: placement, residual = true } = model.config;
  const ln = (input) => layerNorm(input, T, C, param(model, `${norm}.weight`),
    param(model, `${norm}.bias`));
  const out = f(placement === "pre" ? ln(x) : x);
  if (residual) for (let i = 0; i < out.length; i++) out[i] += x[i];
  return placement === "pre" ? out : ln(out);
}

/** Token embeddings (times sqrt(C) if the config says so) plus positions start, ... */
function embed(model, table, positions, ids, start, scale = 1) {
  const C = model.config.n_embd;
  const tok = param(model, table).data, pos = param(model, positions).data;
  const x = new Float32Array(ids.length * C);
  ids.forEach((id, t) => {
    for (let c = 0; c < C; c++) {
      x[t * C + c] = tok[id * C + c] * scale + pos[(start + t) * C + c];
    }
  });
  return x;
}

/** The final LayerNorm of a pre-LN stack (post-LN stacks end normalised already). */
function finalNorm(model, name, x, T) {
  if (model.config.norm !== "pre") return x;
  return layerNorm(x, T, model.config.n_embd, param(model, `${name}.weight`),
    param(model, `${name}.bias`));
}

// ------------------------------------------------------------------------------ GPT

/** An empty KV cache for every layer of a GPT, block_size tokens long. */
export function gptCache(model) {
  const { n_layer, n_embd, block_size } = model.config;
  return {
    length: 0,
    layers: Array.from({ length: n_layer }, () => ({
      k: new Float32Array(block_size * n_embd),
      v: new Float32Array(block_size * n_embd),
    })),
  };
}

/**
 * GPT._forward: token ids (T) at positions cache.length .. -> logits (T, V), and per
 * layer the attention weights (H, T, keys) and the queries and keys that made them.
 * With a cache (gptCache) the ids continue the cached text, whose length grows by T.
 */
export function gptForward(model, ids, cache = null) {
  const { n_embd: C, n_layer } = model.config;
  const T = ids.length, past = cache ? cache.length : 0;
  let x = embed(model, "tok_embed.weight", "pos_embed.table", ids, past);
  const layers = [];
  for (let i = 0; i < n_layer; i++) {
    const block = `blocks.${i}`;
    x = sublayer(model, `${block}.ln_attn`, x, T, (h) => {
      const result = multiHead(model, `${block}.attn`, h, T, h, T, past,
        cache ? { ...cache.layers[i], length: past } : null);
      layers.push(result);
      return result.out;
    });
    x = sublayer(model, `${block}.ln_ffn`, x, T, (h) => feedForward(model, `${block}.ffn`, h, T));
  }
  if (cache) cache.length += T;
  x = finalNorm(model, "final_norm", x, T);
  const head = param(model, "head.weight") ?? param(model, "tok_embed.weight");
  return { logits: linear(x, T, head), layers };
}

/** {ids} of `text`'s last block_size characters by a character tokenizer's `chars`,
 * or {error} saying why there are none. */
export function encodeChars(chars, text, blockSize) {
  const unknown = [...new Set([...text].filter((c) => !chars.includes(c)))];
  if (unknown.length) return { error: `unknown character(s) ${JSON.stringify(unknown.join(""))}` };
  if (!text.length) return { error: "type some text" };
  return { ids: [...text].slice(-blockSize).map((c) => chars.indexOf(c)) };
}

/** The last position's logits (V) for `ids`. */
export function nextLogits(net, ids) {
  const V = net.config.vocab_size;
  return Array.from(gptForward(net, ids).logits.subarray((ids.length - 1) * V));
}

/** [[id, probability]] of the `top` most likely ids (ties by id). */
export function topTokens(probs, top) {
  return probs.map((p, i) => [i, p]).sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, top);
}

/** The first token the model reads when `length` tokens exist: tinytx.generate's
 * context_window_start (past block_size, restart from the last block_size // 2). */
export function contextWindowStart(length, blockSize) {
  if (length <= blockSize) return 0;
  const keep = Math.max(1, Math.floor(blockSize / 2));
  return length - (keep + ((length - blockSize - 1) % (blockSize - keep + 1)));
}

// ----------------------------------------------------------------- encoder-decoder

/** Seq2Seq.encode of one source (S ids): memory (S, C) and each layer's weights. */
export function seq2seqEncode(model, src) {
  const { n_embd: C, n_layer, scale_embeddings } = model.config;
  const S = src.length;
  let x = embed(model, "src_embed.weight", "src_pos.table", src, 0,
    scale_embeddings ? Math.sqrt(C) : 1);
  const layers = [];
  for (let i = 0; i < n_layer; i++) {
    const block = `encoder.${i}`;
    x = sublayer(model, `${block}.ln_attn`, x, S, (h) => {
      const result = multiHead(model, `${block}.self_attn`, h, S, h, S, null);
      layers.push(result);
      return result.out;
    });
    x = sublayer(model, `${block}.ln_ffn`, x, S, (h) => feedForward(model, `${block}.ffn`, h, S));
  }
  return { memory: finalNorm(model, "encoder_norm", x, S), layers };
}

/** Seq2Seq.decode: target ids so far (T) and memory (S, C) -> logits (T, V), and per
 * layer the self-attention (H, T, T) and cross-attention (H, T, S) weights. */
export function seq2seqDecode(model, tgt, memory, S) {
  const { n_embd: C, n_layer, scale_embeddings } = model.config;
  const T = tgt.length;
  let x = embed(model, "tgt_embed.weight", "tgt_pos.table", tgt, 0,
    scale_embeddings ? Math.sqrt(C) : 1);
  const layers = [];
  for (let i = 0; i < n_layer; i++) {
    const block = `decoder.${i}`, weights = {};
    x = sublayer(model, `${block}.ln_self`, x, T, (h) => {
      const result = multiHead(model, `${block}.self_attn`, h, T, h, T, 0);
      weights.self = result.weights;
      return result.out;
    });
    x = sublayer(model, `${block}.ln_cross`, x, T, (h) => {
      const result = multiHead(model, `${block}.cross_attn`, h, T, memory, S, null);
      weights.cross = result.weights;
      return result.out;
    });
    x = sublayer(model, `${block}.ln_ffn`, x, T, (h) => feedForward(model, `${block}.ffn`, h, T));
    layers.push(weights);
  }
  x = finalNorm(model, "decoder_norm", x, T);
  const head = param(model, "head.weight") ?? param(model, "tgt_embed.weight");
  return { logits: linear(x, T, head), layers };
}

/** Index of the largest value (the first one on ties, as torch.argmax). */
export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** Seq2Seq.translate for one source: greedy decoding from bos_id until eos_id or
 * block_size tokens. -> target ids, starting with bos_id. */
export function seq2seqTranslate(model, src) {
  const { bos_id, eos_id, block_size, tgt_vocab_size: V } = model.config;
  const { memory } = seq2seqEncode(model, src);
  const tgt = [bos_id];
  while (tgt.length < block_size) {
    const { logits } = seq2seqDecode(model, tgt, memory, src.length);
    const next = argmax(logits.subarray((tgt.length - 1) * V));
    tgt.push(next);
    if (next === eos_id) break;
  }
  return tgt;
}

// -------------------------------------------------------------- the model in a page

const pageModels = {};

/**
 * The book's exported model `name` (tinytx.teach.export), fetched and parsed once per
 * page; null outside the book. Sphinx marks its pages with <html data-content_root>,
 * the way back to the site's root, under which `make book` puts
 * _static/models/<name>.bin. A notebook has no such mark: there the widget's Python
 * side computes and the page draws what it sends.
 */
export function pageModel(name) {
  const root = document.documentElement.dataset.content_root;
  if (root === undefined) return null;
  const url = new URL(`${root}_static/models/${name}.bin`, document.baseURI).href;
  pageModels[url] ??= fetch(url)
    .then((response) => {
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      return response.arrayBuffer();
    })
    .then(readWeights);
  return pageModels[url];
}

/** Largest |a - b| over two equally long arrays (Infinity if the lengths differ). */
export function maxDifference(a, b) {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/**
 * The model a widget computes with. In the book: the page's model `name`, once loaded
 * and once `check(model)`, the largest difference from what Python saved for the
 * widget's first inputs, is below 1e-2 (the page then has the model the widget was
 * made with). Otherwise, and in a notebook, null: the widget shows Python's results.
 * `status` (an element) says which.
 */
export async function widgetModel(name, status, check) {
  const loading = pageModel(name);
  if (!loading) return null;
  status.textContent = "loading the model…";
  try {
    const model = await loading;
    const gap = check(model);
    if (!(gap < 1e-2)) {
      throw new Error(`it differs from the widget's model by ${gap.toPrecision(2)}`);
    }
    status.textContent = "the model runs in this page";
    return model;
  } catch (error) {
    status.textContent = `the model cannot run here (${error.message}); ` +
      "showing the result saved with the page";
    return null;
  }
}
