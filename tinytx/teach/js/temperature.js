// Softmax with a temperature, drawn as bars and computed in the browser.
//
// The front end of tinytx.teach.live.TemperatureWidget. Everything it draws follows
// from the widget's saved state (logits, labels, temperature), so the rendered book
// can run it with no kernel: the html-manager hands this module the saved model, and
// moving the slider recomputes the distribution here. In a notebook the slider also
// updates `temperature` on the Python side. Joined after maths.js (softmax, element).

/** Entropy in nats, with 0 ln 0 = 0. */
export function entropy(probs) {
  return -probs.reduce((sum, p) => sum + (p > 0 ? p * Math.log(p) : 0), 0);
}

function render({ model, el }) {
  const root = element("div", { fontFamily: "sans-serif", maxWidth: "640px" });
  root.className = "tinytx-temperature";
  // the slider moves log10(T), so T = 0.1, 1 and 10 sit evenly spaced
  const slider = element("input", { width: "100%" });
  Object.assign(slider, {
    type: "range",
    min: Math.log10(model.get("low")),
    max: Math.log10(model.get("high")),
    step: 0.01,
  });
  slider.setAttribute("aria-label", "temperature");
  const readout = element("div", { margin: "4px 0 8px", fontSize: "14px" });
  const bars = element("div");
  root.append(slider, readout, bars);

  function draw() {
    const temperature = model.get("temperature");
    const labels = model.get("labels");
    const probs = softmax(model.get("logits"), temperature);
    slider.value = Math.log10(temperature);
    readout.textContent =
      `T = ${temperature.toFixed(2)}   entropy = ${entropy(probs).toFixed(2)} nats ` +
      `(uniform: ${Math.log(probs.length).toFixed(2)})`;
    // what the browser test reads and compares with Python's softmax
    root.dataset.temperature = String(temperature);
    root.dataset.probs = JSON.stringify(probs);
    bars.replaceChildren(
      ...probs.map((p, i) => {
        const row = element("div", { display: "flex", alignItems: "center" });
        const name = element("span", { width: "5em", fontSize: "14px" }, labels[i]);
        const bar = element("span", {
          height: "14px",
          width: `${(100 * p).toFixed(2)}%`,
          background: "#1f77b4",
          marginRight: "6px",
        });
        const track = element("span", { flex: "1", display: "flex" });
        track.append(bar);
        row.append(name, track, element("span", { fontSize: "13px" }, p.toFixed(3)));
        return row;
      }),
    );
  }

  slider.addEventListener("input", () => {
    model.set("temperature", 10 ** Number(slider.value));
    model.save_changes(); // reaches Python in a notebook; does nothing in the book
  });
  model.on("change:temperature", draw);
  model.on("change:logits", draw);
  draw();
  el.appendChild(root);
}

export default { render };
