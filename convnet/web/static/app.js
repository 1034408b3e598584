// convnet serve: the drawing pad, every layer of the chosen run, and the unit inspector
// (filters.js: the filters tab and kernel playground; gallery.js: the test images to click).
// Plain JavaScript, no build step. The API is described in docs/web.md and at /docs.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = {
  runs: [], run: null, acts: null, image: null, filters: null,
  inflight: false, dirty: false, hidden: new Set(), hover: null,
  source: null,  // a clicked test image's data URL; null: what is on the pad is sent
  sourceLabel: null,  // ... and its true class
};

// An element with text (never parsed as HTML: class names and run ids come from the server).
function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

// Markup is only ever written through html`...`, which escapes every ${value}: a class folder
// named <img onerror=...> is text, not a tag. A nested html`...` (or a list of them) goes in as
// built; setHTML refuses anything else, so a plain string cannot reach innerHTML by mistake.
class Html { constructor(s) { this.s = s; } toString() { return this.s; } }
const ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};
function esc(v) {
  if (v instanceof Html) return v.s;
  if (Array.isArray(v)) return v.map(esc).join("");
  return String(v ?? "").replace(/[&<>"']/g, (c) => ENTITIES[c]);
}
function html(strings, ...values) {
  return new Html(strings.reduce((out, s, i) => out + esc(values[i - 1]) + s));
}
function setHTML(node, ...parts) {
  if (!parts.every((p) => p instanceof Html)) throw new TypeError("setHTML takes html`...` only");
  node.innerHTML = parts.map((p) => p.s).join("");
}
// A number as the panel shows it (3 significant digits); anything else as escaped text.
function num(v, digits = 3) { return typeof v === "number" ? +v.toPrecision(digits) : v; }

// ------------------------------------------------------------------ API

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body)};
  const r = await fetch(path, opts);
  const data = await r.json();
  if (!r.ok) throw new Error(data.detail || r.statusText);
  return data;
}

function bytes(b64) {
  const s = atob(b64), out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

// ------------------------------------------------------------------ colours

// Values with both signs: blue (negative) - black - orange (positive); else black -> white.
function colour(v, lo, hi) {
  if (lo < 0 && hi > 0) {
    const m = Math.max(-lo, hi), t = Math.min(1, Math.abs(v) / m);
    return v >= 0 ? [255 * t, 160 * t, 40 * t] : [60 * t, 140 * t, 255 * t];
  }
  const t = hi > lo ? (v - lo) / (hi - lo) : 0;
  return [255 * t, 255 * t, 255 * t];
}

// The range a value is coloured against: its own map, its layer, or the whole network.
function range(layer, i) {
  const mode = $("#scale").value;
  if (mode === "map") return [layer.lo[i] ?? layer.min, layer.hi[i] ?? layer.max];
  if (mode === "layer") return [layer.min, layer.max];
  return state.netRange;
}

function paint(canvas, values, w, h, lo, hi) {
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
  for (let p = 0; p < w * h; p++) {
    const [r, g, b] = colour(values[p], lo, hi);
    img.data.set([r, g, b, 255], 4 * p);
  }
  ctx.putImageData(img, 0, 0);
}

// Decode one layer's bytes back to values: map i spans lo[i]..hi[i]; vectors lo[0]..hi[0].
function mapValues(layer, raw, i, n) {
  const out = new Float32Array(n), lo = layer.lo[i], span = (layer.hi[i] - lo) / 255;
  for (let p = 0; p < n; p++) out[p] = lo + raw[i * n + p] * span;
  return out;
}

// ------------------------------------------------------------------ layout

// Maps are drawn about 96 px wide, 64 px when a layer has many: big models stay compact.
function scaleFor(h, c) { return Math.max(1, Math.min(8, Math.floor((c > 8 ? 64 : 96) / h))); }

function layerMeta(name) { return state.run.layers.find((l) => l.name === name); }

function buildLayers() {
  const root = $("#layers"), toggles = $("#toggles");
  root.replaceChildren(); toggles.replaceChildren();
  const all = [{name: "input", kind: "input", type: "as the network sees it",
                shape: state.run.input_shape, source: null}].concat(state.run.layers);
  for (const meta of all) {
    const div = document.createElement("div");
    div.className = "layer"; div.dataset.name = meta.name; div.dataset.kind = meta.kind;
    const shape = meta.shape.join("×");
    const win = meta.kernel ? ` · ${meta.kernel.join("×")} window, stride ${meta.stride[0]}` : "";
    const table = meta.table ? " · partial connection table" : "";
    setHTML(div, html`<h3>${meta.name} <span class="meta">${meta.type} · ${shape}${win}${table}</span> `,
      html`<span class="meta shown"></span></h3><div class="body"></div>`);
    div.hidden = state.hidden.has(meta.name);
    root.appendChild(div);
    const label = document.createElement("label");
    const box = el("input"); box.type = "checkbox"; box.checked = !div.hidden;
    label.append(box, " ", meta.name, el("br"));
    label.querySelector("input").onchange = (e) => {
      div.hidden = !e.target.checked;
      if (div.hidden) state.hidden.add(meta.name); else state.hidden.delete(meta.name);
    };
    toggles.appendChild(label);
  }
}

function drawMaps(div, layer) {
  const [c, h, w] = layer.shape, s = scaleFor(h, c), raw = bytes(layer.data);
  const body = div.querySelector(".body");
  let maps = body.querySelector(".maps");
  if (!maps || maps.querySelectorAll(".map").length !== layer.shown) {
    maps = el("div", undefined, "maps"); body.replaceChildren(maps);
    for (let i = 0; i < layer.shown; i++) {
      const m = document.createElement("div");
      m.className = "map"; m.dataset.channel = i; m.dataset.scale = s;
      setHTML(m, html`<canvas width="${w}" height="${h}" style="width:${w * s}px;height:${h * s}px"></canvas>`,
        html`<span class="label">${i}</span>`);
      hoverable(m.querySelector("canvas"), div.dataset.name, (x, y) => [i, Math.floor(y / s), Math.floor(x / s)]);
      maps.appendChild(m);
    }
  }
  div.querySelector(".shown").textContent = layer.shown < c ? `(first ${layer.shown} of ${c} maps shown)` : "";
  maps.querySelectorAll(".map").forEach((m, i) => {
    const [lo, hi] = range(layer, i);
    paint(m.querySelector("canvas"), mapValues(layer, raw, i, h * w), w, h, lo, hi);
  });
}

// (H, W, 3) uint8 bytes, base64, painted as they are.
function paintRGB(canvas, b64, w, h) {
  const rgb = bytes(b64), img = canvas.getContext("2d").createImageData(w, h);
  for (let p = 0; p < w * h; p++) img.data.set([rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2], 255], 4 * p);
  canvas.getContext("2d").putImageData(img, 0, 0);
}

// An RGB input is also shown in colour, on the 0..255 scale, beside its three channels.
function drawRGB(input) {
  const [, h, w] = input.shape, maps = document.querySelector('.layer[data-name="input"] .maps');
  if (!maps) return;
  let c = maps.querySelector("canvas.rgb");
  if (!c) {
    c = document.createElement("canvas"); c.className = "rgb"; c.width = w; c.height = h;
    c.style.width = w * scaleFor(h, 3) + "px"; c.title = "the input in colour"; maps.appendChild(c);
  }
  paintRGB(c, input.rgb, w, h);
}

const UNIT = 8, PER_ROW = 64;  // a vector layer: rows of 64 units, 8 px each

function drawUnits(div, layer) {
  const n = layer.shown, cols = Math.min(n, PER_ROW), rowsN = Math.ceil(n / cols);
  const body = div.querySelector(".body");
  let box = body.querySelector(".units");
  if (!box || +box.dataset.n !== n) {
    setHTML(body, html`<div class="units" data-n="${n}"><canvas width="${cols}" height="${rowsN}" `,
      html`style="width:${cols * UNIT}px;height:${rowsN * UNIT}px"></canvas></div><div class="bars"></div>`);
    box = body.querySelector(".units");
    hoverable(box.querySelector("canvas"), div.dataset.name, (x, y) => {
      const i = Math.floor(y / UNIT) * cols + Math.floor(x / UNIT);
      return i < n ? [i] : null;
    });
  }
  const vals = mapValues(layer, bytes(layer.data), 0, n), padded = new Float32Array(cols * rowsN);
  padded.set(vals);
  const [lo, hi] = range(layer, 0);
  paint(box.querySelector("canvas"), padded, cols, rowsN, lo, hi);
  div.querySelector(".shown").textContent = n < layer.shape[0] ? `(first ${n} of ${layer.shape[0]} units shown)` : "";
}

function drawBars(div, pred) {
  const bars = div.querySelector(".bars");
  if (!bars) return;
  bars.replaceChildren(...pred.top.slice(0, 10).map((t, k) => {
    const bar = el("div", undefined, "bar" + (k === 0 ? " first" : k === 1 ? " second" : ""));
    const fill = el("div", undefined, "fill");
    fill.style.width = Math.round(200 * t.probability) + "px";
    bar.append(el("span", t.label, "name"), fill, `${(100 * t.probability).toFixed(1)} %`);
    return bar;
  }));
}

function render() {
  const acts = state.acts;
  if (!acts) return;
  const all = [acts.input].concat(acts.layers);
  state.netRange = [Math.min(...all.map((l) => l.min)), Math.max(...all.map((l) => l.max))];
  for (const layer of all) {
    const div = document.querySelector(`.layer[data-name="${CSS.escape(layer.name)}"]`);
    if (!div) continue;
    if (layer.shape.length === 3) drawMaps(div, layer); else drawUnits(div, layer);
  }
  if (acts.input.shape[0] === 3) drawRGB(acts.input);
  const last = acts.layers[acts.layers.length - 1];
  drawBars(document.querySelector(`.layer[data-name="${CSS.escape(last.name)}"]`), acts.prediction);
  const p = acts.prediction, pct = (v) => `${(100 * v).toFixed(1)} %`;
  const guess = el("span", p.label); guess.id = "guess";
  $("#prediction").replaceChildren(guess, ` (${pct(p.probability)})`);
  if (p.second) $("#prediction").append(" ", el("span", `second guess: ${p.second.label} (${pct(p.second.probability)})`, "second"));
  $("#status").textContent = "";
  $("#timing").textContent = `server ${acts.server_ms} ms per update`;
  if (state.hover) inspect(state.hover.layer, state.hover.index);
}

// ------------------------------------------------------------------ the unit inspector

function hoverable(canvas, layer, toIndex) {
  const handler = (e) => {
    const index = toIndex(e.offsetX, e.offsetY);
    if (!index || !state.image) return;
    const key = layer + index.join(",");
    if (state.hover && state.hover.key === key && e.type === "mousemove") return;
    state.hover = {layer, index, key};
    inspect(layer, index);
  };
  canvas.addEventListener("mousemove", handler);
  canvas.addEventListener("click", handler);
}

let unitSeq = 0;
async function inspect(layer, index) {
  const seq = ++unitSeq;
  let unit;
  try {
    unit = await api("/api/unit", {run: state.run.id, image: state.image, layer, index});
  } catch (err) { $("#panel").textContent = err.message; return; }
  if (seq !== unitSeq) return;  // a newer hover superseded this one
  document.querySelectorAll(".outline, .winner, .selected").forEach((e) => e.remove());
  mark(layer, index.length === 3 ? {channel: index[0], y: index[1], x: index[2], h: 1, w: 1} : index[0], "selected");
  for (const w of unit.windows) mark(unit.source, w, "outline");
  for (const i of unit.inputs) mark(unit.source, i, "outline");
  if (unit.winner) mark(unit.source, {channel: unit.winner[0], y: unit.winner[1], x: unit.winner[2], h: 1, w: 1}, "winner");
  setHTML($("#panel"), explainHTML(unit));
}

// Outline a window {channel, y, x, h, w} of a map layer, or unit i of a vector layer.
function mark(layerName, where, cls) {
  const div = document.querySelector(`.layer[data-name="${CSS.escape(layerName || "")}"]`);
  if (!div) return;
  const box = document.createElement("div");
  box.className = cls;
  if (typeof where === "number") {
    const holder = div.querySelector(".units"); if (!holder) return;
    const cols = holder.querySelector("canvas").width;
    Object.assign(box.style, {left: (where % cols) * UNIT + "px", top: Math.floor(where / cols) * UNIT + "px",
                              width: UNIT + "px", height: UNIT + "px"});
    box.dataset.h = 1; box.dataset.w = 1;
    holder.appendChild(box); return;
  }
  const map = div.querySelector(`.map[data-channel="${CSS.escape(String(where.channel))}"]`);
  if (!map) return;  // a map beyond those shown
  const s = +map.dataset.scale;
  Object.assign(box.style, {left: where.x * s + 1 + "px", top: where.y * s + 1 + "px",
                            width: where.w * s + "px", height: where.h * s + "px"});
  box.dataset.h = where.h; box.dataset.w = where.w;
  map.appendChild(box);
}

function matrix(m, win) {
  return html`<table class="m">${m.map((row, r) => html`<tr>${row.map((v, c) =>
    html`<td class="${win && win[0] === r && win[1] === c ? "win" : ""}">${v === null ? "pad" : num(v)}</td>`)}</tr>`)}</table>`;
}

// The panel: every value from the server goes in through html`...`, so it is escaped.
function explainHTML(u) {
  const a = u.arithmetic;
  const head = html`<b>${u.layer}</b> unit [${u.index.join(", ")}] = <b>${u.value}</b>${
    u.source ? html` · reads <b>${u.source}</b>` : ""}<br><span class="eq">${a.formula || ""}</span><br>`;
  if (a.kind === "conv") {
    const terms = a.terms.map((t) => html`<div>map ${t.channel}: patch ${matrix(t.patch)} · filter ${matrix(t.weights)} = ${t.sum}</div>`);
    return html`${head}connected input maps: ${a.channels.join(", ")}<br>${terms}<div class="note">${a.note}</div>${
      html`<div class="eq">Σ w·x = ${num(a.total - a.bias, 6)} ; + b (${a.bias}) = ${a.total} → output ${a.output}</div>`}`;
  }
  if (a.kind === "pool") {
    const extra = a.mode === "subsample" ? ` · a = ${a.coefficient}, b = ${a.bias}, sum = ${a.sum}` : a.sum !== undefined ? ` · sum = ${a.sum}` : "";
    return html`${head}${a.mode} pooling window ${matrix(a.window, a.winner)}${a.winner ? " (red: the winner)" : ""}${extra}<br>→ output ${a.output}`;
  }
  if (a.kind === "fc") {
    const rows = a.terms.map((t) => html`<tr><td>x[${t.input}] = ${t.x}</td><td>w = ${t.w}</td><td>w·x = ${t.product}</td></tr>`);
    return html`${head}${a.n_inputs} inputs; largest terms:<table>${rows}</table>${
      html`<div class="eq">+ the other ${a.n_inputs - a.terms.length} terms (${a.rest}) + b (${a.bias}) = ${a.total} → ${a.output}</div>`}`;
  }
  if (a.kind === "softmax") return html`${head}z = ${a.z}, e^z = ${a.exp}, Σ e^z = ${a.sum_exp} (${a.note}) → ${a.output}`;
  if (a.input !== undefined) return html`${head}x = ${a.input} → ${a.output}`;
  return html`${head}${a.position ? `from position [${a.position.join(", ")}]` : ""}${a.output !== undefined ? ` → ${a.output}` : ""}`;
}

// ------------------------------------------------------------------ drawing pad

const pad = $("#pad"), ctx = pad.getContext("2d");
function clearPad() { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height); }

function stroke(e, start) {
  const r = pad.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
  const eraser = document.querySelector("input[name=tool]:checked").value === "eraser";
  ctx.strokeStyle = eraser ? "#000" : "#fff"; ctx.lineWidth = +$("#brush").value;
  ctx.lineCap = ctx.lineJoin = "round";
  if (start) { ctx.beginPath(); ctx.moveTo(x, y); }
  ctx.lineTo(x, y); ctx.stroke();
  update();
}

let drawing = false;
pad.addEventListener("pointerdown", (e) => {
  drawing = true; pad.setPointerCapture(e.pointerId); useThePad(); stroke(e, true);
});
pad.addEventListener("pointermove", (e) => { if (drawing) stroke(e, false); });
pad.addEventListener("pointerup", () => { drawing = false; update(); });
$("#clear").onclick = () => { useThePad(); clearPad(); update(); };
$("#upload").onchange = (e) => {
  const file = e.target.files[0]; if (!file) return;
  const img = new Image();
  img.onload = () => {
    useThePad(); clearPad();
    const k = Math.min(pad.width / img.width, pad.height / img.height);
    const w = img.width * k, h = img.height * k;
    ctx.drawImage(img, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
    URL.revokeObjectURL(img.src); update();
  };
  img.onerror = () => { $("#status").textContent = "that file is not an image the browser can read"; };
  img.src = URL.createObjectURL(file);
};

// The pad, halved to 140x140, as a PNG data URL: small and quick to send.
function padImage() {
  const small = document.createElement("canvas");
  small.width = small.height = 140;
  small.getContext("2d").drawImage(pad, 0, 0, 140, 140);
  return small.toDataURL("image/png");
}

// At most one request in flight; the latest drawing is sent as soon as it returns.
function padIsBlank() {
  const d = ctx.getImageData(0, 0, pad.width, pad.height).data;
  for (let i = 0; i < d.length; i += 4) if (d[i] || d[i + 1] || d[i + 2]) return false;
  return true;
}

// What to do on an empty pad: a digit run wants a drawing, a colour run a photo.
function ask() {
  $("#prediction").textContent = state.run.framing === "mnist" ? "draw a digit"
    : state.run.input_shape[0] === 3 ? "click a test image or upload a photo" : "draw or upload an image";
}

async function update() {
  if (!state.source && padIsBlank()) { ask(); return; }  // nothing to classify yet
  if (state.inflight) { state.dirty = true; return; }
  state.inflight = true; state.dirty = false;
  const image = state.source || padImage();
  try {
    state.acts = await api("/api/activations", {run: state.run.id, image});
    state.image = image;
    render();
    if ($("#tab-kernels").classList.contains("active")) playground();
  } catch (err) {
    $("#status").textContent = err.message;
    if (/blank/.test(err.message)) $("#prediction").textContent = "draw a digit";
  } finally {
    state.inflight = false;
    if (state.dirty) update();
  }
}

// ------------------------------------------------------------------ start

async function chooseRun(id) {
  state.run = state.runs.find((r) => r.id === id);
  state.acts = null; state.hover = null;
  const r = state.run;
  $("#run-info").textContent = `${r.model} · ${r.input_shape.join("×")} · ${r.classes.length} classes` +
    (r.dataset ? ` · ${r.dataset}` : "") + (r.test_accuracy != null ? ` · test accuracy ${(100 * r.test_accuracy).toFixed(2)} %` : "");
  buildLayers();
  if (state.source) {  // the chosen test image stays, for comparing runs; its index does not
    $("#truth").textContent = r.classes.includes(state.sourceLabel) ? `true class: ${state.sourceLabel}` : "";
  }
  state.filters = await api(`/api/filters?run=${encodeURIComponent(id)}`);
  drawFilters();
  const samples = await loadGallery(r);
  if (state.run !== r) return;
  // A colour run opens on its first test image, not on an empty pad.
  const first = document.querySelector("#gallery .sample");
  if (r.input_shape[0] === 3 && !state.source && padIsBlank() && samples.length && first) choose(samples[0], first);
  else update();
}

async function start() {
  clearPad();
  state.runs = await api("/api/runs");
  $("#run").replaceChildren(...state.runs.map((r) => { const o = el("option", `${r.id} (${r.model})`); o.value = r.id; return o; }));
  $("#run").onchange = (e) => chooseRun(e.target.value);
  $("#scale").onchange = render;
  const kernels = await api("/api/kernels");
  $("#kernel-name").replaceChildren(...Object.keys(kernels).map((k) => el("option", k)));
  $("#kernel-name").onchange = () => { $("#kernel-text").value = ""; playground(); };
  $("#kernel-apply").onclick = playground;
  document.querySelectorAll("#tabs button").forEach((b) => b.onclick = () => {
    document.querySelectorAll("#tabs button, .tab").forEach((e) => e.classList.remove("active"));
    b.classList.add("active"); $(`#tab-${b.dataset.tab}`).classList.add("active");
    if (b.dataset.tab === "kernels") playground();
  });
  await chooseRun(state.runs[0].id);
}

start().catch((err) => { $("#status").textContent = err.message; });
