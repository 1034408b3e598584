// The filters tab and the kernel playground. Server strings reach the page as text, or
// escaped by html`...`.
import {$, el, html, setHTML} from "./dom.js";
import {api, bytes} from "./api.js";
import {mapValues, paint, paintRGB, range} from "./paint.js";
import {matrix} from "./panel.js";
import {state} from "./state.js";

function filterCanvas(w, lo, hi, s) {
  const k = w.length, c = document.createElement("canvas");
  c.width = w[0].length; c.height = k; c.style.width = c.width * s + "px"; c.style.height = k * s + "px";
  paint(c, w.flat(), c.width, k, lo, hi);
  return c;
}

// An RGB filter as one picture: (k, k, 3) bytes from the server (grey = 0, see viz.filters).
function colourCanvas(b64, k, s) {
  const c = document.createElement("canvas");
  c.width = c.height = k; c.style.width = c.style.height = k * s + "px";
  paintRGB(c, b64, k, k);
  return c;
}

// The nearest classic kernel, named only above the server's threshold; the closest in the tooltip.
function nearestText(n) { return n.name ? `${n.name} ${n.similarity}` : "no match"; }
function nearestTitle(n, min) {
  return `nearest classic kernel: ${n.closest}, cosine ${n.similarity}` + (n.name ? "" : ` (named only from ${min})`);
}

export function drawFilters() {
  const root = $("#filters"); root.replaceChildren();
  for (const f of state.filters.layers) {
    const m = Math.max(-f.min, f.max), div = document.createElement("div");
    div.className = "layer filters";
    const [co, ci, kh, kw] = f.shape;
    const meta = `${co} filters ${kh}×${kw} × ${ci} input maps` +
      (f.shown[0] < co || (!f.colour && f.shown[1] < ci) ? ` (first ${f.colour ? f.shown[0] : f.shown.join(" × ")} shown)` : "") +
      (f.colour ? " · in colour: R, G, B weights, each filter scaled to its own max |w|, grey = 0" : "") +
      (f.connected ? " · faded: not connected (connection table)" : "");
    setHTML(div, html`<h3>${f.name} <span class="meta">${meta}</span></h3>`);
    if (f.colour) {  // the first layer of an RGB model: one colour picture per filter
      const row = el("div", undefined, "row");
      f.colour.forEach((b64, r) => {
        const box = el("div", undefined, "filter");
        box.title = `filter ${r}` + (f.bias ? `, bias ${f.bias[r]}` : "") + (f.nearest ? `; ${nearestTitle(f.nearest[r], f.min_similarity)}` : "");
        box.append(colourCanvas(b64, kh, Math.max(3, Math.floor(48 / kh))), el("br"));
        if (f.nearest) box.append(nearestText(f.nearest[r]));
        row.append(box);
      });
      div.appendChild(row); root.appendChild(div); continue;
    }
    const table = document.createElement("table");
    f.weights.forEach((row, r) => {
      const tr = table.insertRow();
      row.forEach((w, c) => {
        const td = tr.insertCell(), off = f.connected && !f.connected[r][c];
        td.className = "filter" + (off ? " off" : "");
        td.title = `filter ${r}, input map ${c}` + (f.bias ? `, bias ${f.bias[r]}` : "") +
          (f.nearest && c === 0 ? `; ${nearestTitle(f.nearest[r], f.min_similarity)}` : "");
        td.appendChild(filterCanvas(w, -m, m, Math.max(2, Math.floor(40 / kh))));
        if (f.nearest && c === 0) td.append(el("br"), nearestText(f.nearest[r]));  // over all input maps
      });
    });
    div.appendChild(table); root.appendChild(div);
  }
}

// Before anything is drawn the playground works on this example: a ring, a bar and a square.
function exampleImage() {
  const c = document.createElement("canvas"), g = c.getContext("2d");
  c.width = c.height = 140; g.fillStyle = "#000"; g.fillRect(0, 0, 140, 140);
  g.strokeStyle = g.fillStyle = "#fff"; g.lineWidth = 10;
  g.beginPath(); g.arc(45, 50, 25, 0, 2 * Math.PI); g.stroke();
  g.fillRect(85, 20, 12, 100); g.fillRect(20, 95, 45, 30);
  return c.toDataURL("image/png");
}

export async function playground() {
  const text = $("#kernel-text").value.trim(), kernel = text || $("#kernel-name").value;
  const view = $("#kernel-view"), seq = (playground.seq = (playground.seq || 0) + 1);
  try {
    const r = await api("/api/kernel", {image: state.image || exampleImage(), kernel});
    if (seq !== playground.seq) return;  // a newer kernel was asked for
    view.replaceChildren();
    const input = state.image ? "input (grayscale)" : "an example (draw or pick an image to use yours)";
    for (const [title, layer] of [[input, r.input], [`${text ? "your kernel" : kernel}`, r.output]]) {
      const [, h, w] = layer.shape, c = document.createElement("canvas"), box = document.createElement("div");
      c.width = w; c.height = h; c.style.width = 2 * w + "px";
      paint(c, mapValues(layer, bytes(layer.data), 0, h * w), w, h, layer.lo[0], layer.hi[0]);
      box.className = "kernel"; box.append(c, el("br"), title);
      view.appendChild(box);
    }
    const k = el("div", undefined, "kernel");
    setHTML(k, matrix(r.kernel.map((row) => row.map((v) => (typeof v === "number" ? +v.toFixed(3) : v)))));
    view.append(k);
  } catch (err) {  // the last result would read as this kernel's: say what went wrong instead
    if (seq === playground.seq) view.replaceChildren(el("div", err.message, "status"));
  }
  learned();
}

// The first convolution's filters (with the nearest classic kernel) beside its feature maps.
function learned() {
  const root = $("#kernel-learned"); root.replaceChildren();
  const f = state.filters && state.filters.layers[0];
  if (!f) return;
  const m = Math.max(-f.min, f.max), maps = state.acts && state.acts.layers.find((l) => l.name === f.name);
  f.weights.forEach((row, r) => {
    const box = document.createElement("div"), k = row[0].length, s = Math.max(2, Math.floor(40 / k));
    box.className = "kernel";
    box.appendChild(f.colour ? colourCanvas(f.colour[r], k, s) : filterCanvas(row[0], -m, m, s));
    if (maps && r < maps.shown) {
      const [, h, w] = maps.shape, c = document.createElement("canvas");
      c.width = w; c.height = h; c.style.width = 2 * w + "px";
      paint(c, mapValues(maps, bytes(maps.data), r, h * w), w, h, ...range(maps, r));
      box.append(" ", c);
    }
    box.append(el("br"), `filter ${r}` + (f.nearest ? `: ${nearestText(f.nearest[r])}` : ""));
    if (f.nearest) box.title = nearestTitle(f.nearest[r], f.min_similarity);
    root.appendChild(box);
  });
}
