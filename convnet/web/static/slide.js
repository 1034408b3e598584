// The sliding kernel (CNN Explainer's detail view) on the learner's own convolution and image:
// one filter slides over the layer's input maps window after window, the output map fills in
// unit by unit, and the current window's products w·x, their sum per map, the other maps'
// sum ("rest") and the bias add up to the output the model computed. Every number comes from
// POST /api/slide (convnet/web/slide.py), exact float32; the sums are done here in float64.
import {$, el, html, setHTML} from "./dom.js";
import {api} from "./api.js";
import {colour, num} from "./format.js";
import {state} from "./state.js";
import {setupSandbox, showSandbox} from "./sandbox.js";

// One colour per listed input map: the window outline and its table share it.
const PALETTE = ["#ffeb3b", "#00e5ff", "#ff4081", "#76ff03", "#ff9100", "#b388ff", "#18ffff", "#ffd180"];
const slide = {data: null, key: null, step: 0, timer: null, seq: 0, maps: null, rest: null, out: null};

function floats(b64, Kind) {
  const s = atob(b64), buf = new ArrayBuffer(s.length), u8 = new Uint8Array(buf);
  for (let i = 0; i < s.length; i++) u8[i] = s.charCodeAt(i);
  return new Kind(buf);  // little-endian, as every browser's typed arrays are
}

// The tab's controls, built once; the page's index.html holds only an empty section.
function build() {
  setHTML($("#slide"), html`<h3>sliding kernel</h3><div class="tools">
    <label>convolution <select id="slide-layer"></select></label>
    <label>filter <select id="slide-filter"></select></label>
    <button id="slide-play">play</button><button id="slide-step">step</button>
    <button id="slide-back">back</button><button id="slide-reset">reset</button>
    <label>speed <input id="slide-speed" type="range" min="1" max="60" value="10"></label>
    <span id="slide-pos" class="note"></span></div>
    <div id="slide-note" class="note"></div><div id="slide-view" class="row"></div>
    <div id="slide-math"></div>`);
  $("#slide-layer").onchange = () => { fillFilters(); showSandbox(layerMeta()); refresh(true); };
  $("#slide-filter").onchange = () => refresh(true);
  $("#slide-play").onclick = () => (slide.timer ? pause() : play());
  $("#slide-step").onclick = () => { pause(); go(slide.step + 1); };
  $("#slide-back").onclick = () => { pause(); go(slide.step - 1); };
  $("#slide-reset").onclick = () => { pause(); go(0); };
  $("#slide-speed").oninput = () => { if (slide.timer) { pause(); play(); } };
}

function layerMeta() { return state.run.layers.find((l) => l.name === $("#slide-layer").value); }

function fillFilters() {
  const n = layerMeta().shape[0];
  $("#slide-filter").replaceChildren(...Array.from({length: n}, (_, i) => el("option", String(i))));
}

function chooseRun() {
  const convs = state.run.layers.filter((l) => l.kind === "conv");
  $("#slide-layer").replaceChildren(...convs.map((l) => el("option", l.name)));
  slide.run = state.run;
  if (!convs.length) { $("#slide-note").textContent = "this model has no convolution"; return; }
  fillFilters(); showSandbox(layerMeta());
}

// Ask for the numbers when the run, the image, the layer or the filter changed.
async function refresh(restart) {
  if (!state.run || !$("#slide-layer").value) return;
  if (!state.image) { $("#slide-note").textContent = "draw, upload or pick an image first"; return; }
  const body = {run: state.run.id, image: state.image, invert: state.invert,
                layer: $("#slide-layer").value, filter: +$("#slide-filter").value};
  const key = JSON.stringify(body);
  if (key === slide.key) return;
  slide.key = key;
  const seq = ++slide.seq;
  let d;
  try { d = await api("/api/slide", body); } catch (err) { $("#slide-note").textContent = err.message; return; }
  if (seq !== slide.seq) return;  // a newer choice superseded this one
  const [, h, w] = d.in_shape, [ho, wo] = d.out_shape;
  slide.data = d;
  slide.maps = floats(d.inputs, Float32Array);  // (shown, H, W)
  slide.out = floats(d.output, Float32Array);   // (H_out, W_out): the model's own map
  slide.rest = d.rest ? floats(d.rest, Float64Array) : null;
  if (restart || slide.step >= ho * wo) { pause(); slide.step = 0; }
  const [t, b, l, r] = d.padding;
  $("#slide-note").textContent = `${d.layer} filter ${d.filter} of ${d.filters}: ${d.kernel.join("×")} kernel, stride ${d.stride[0]}` +
    (d.dilation[0] > 1 ? `, dilation ${d.dilation[0]}` : "") +
    (t + b + l + r ? `, zero padding top ${t} bottom ${b} left ${l} right ${r} (grey)` : ", no padding") +
    ` · reads ${d.source || "a computed input"}: ${d.channels.length} of ${d.in_shape[0]} maps of ${h}×${w}` +
    (d.rest ? ` (the first ${d.shown.length} drawn, the other ${d.channels.length - d.shown.length} summed as "rest")` : "") +
    ` · output ${ho}×${wo}`;
  drawView();
  go(slide.step);
}

// Canvases: each listed input map with its padding, and the output map being filled in.
function drawView() {
  const d = slide.data, [, h, w] = d.in_shape, [t, b, l, r] = d.padding, H = h + t + b, W = w + l + r;
  const side = d.shown.length > 2 ? 150 : 240;  // eight maps of 34 px fit a laptop's width
  const s = Math.max(1, Math.min(12, Math.floor(side / Math.max(H, W))));
  const boxes = d.shown.map((c, k) => {
    const values = slide.maps.subarray(k * h * w, (k + 1) * h * w);
    const [lo, hi] = extent(values), canvas = canvasOf(W, H, s), img = pixels(canvas);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const inside = y >= t && y < t + h && x >= l && x < l + w;
      img.data.set(inside ? [...colour(values[(y - t) * w + (x - l)], lo, hi), 255] : [150, 150, 150, 255], 4 * (y * W + x));
    }
    canvas.getContext("2d").putImageData(img, 0, 0);
    return mapBox(canvas, `map ${c}`, `slide-in-${k}`, PALETTE[k]);
  });
  const [ho, wo] = d.out_shape, so = Math.max(1, Math.min(12, Math.floor(200 / Math.max(ho, wo))));
  const out = mapBox(canvasOf(wo, ho, so), `${d.layer} map ${d.filter}`, "slide-out", "#00e5ff");
  out.querySelector("canvas").onclick = (e) => { pause(); go(Math.floor(e.offsetY / so) * wo + Math.floor(e.offsetX / so) + 1); };
  $("#slide-view").replaceChildren(...boxes, el("span", "→", "slide-arrow"), out);
  slide.scales = [s, so];
}

function canvasOf(w, h, s) {
  const c = document.createElement("canvas");
  c.width = w; c.height = h; c.style.width = w * s + "px"; c.style.height = h * s + "px";
  return c;
}
function pixels(canvas) { return canvas.getContext("2d").createImageData(canvas.width, canvas.height); }
function extent(values) { let lo = Infinity, hi = -Infinity; for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); } return [lo, hi]; }

function mapBox(canvas, label, id, border) {
  const box = el("div", undefined, "slide-map"), frame = el("div", undefined, "map");
  const win = el("div", undefined, "slide-window"); win.id = id; win.style.borderColor = border;
  frame.append(canvas, win); box.append(el("div", label, "note"), frame);
  return box;
}

// Show unit ``n`` of the output: units 0..n-1 are filled in, unit n is computed now.
function go(n) {
  const d = slide.data;
  if (!d) return;
  const [ho, wo] = d.out_shape, total = ho * wo;
  slide.step = Math.max(0, Math.min(n, total - 1));
  const y = Math.floor(slide.step / wo), x = slide.step % wo;
  const [s, so] = slide.scales, [kh, kw] = d.kernel, [dh, dw] = d.dilation;
  d.shown.forEach((_, k) => place($(`#slide-in-${k}`), y * d.stride[0], x * d.stride[1], (kh - 1) * dh + 1, (kw - 1) * dw + 1, s));
  place($("#slide-out"), y, x, 1, 1, so);
  const canvas = $("#slide-out").parentNode.querySelector("canvas"), img = pixels(canvas);
  for (let p = 0; p < total; p++) {
    img.data.set(p <= slide.step ? [...colour(slide.out[p], d.lo, d.hi), 255] : [235, 235, 235, 255], 4 * p);
  }
  canvas.getContext("2d").putImageData(img, 0, 0);
  $("#slide-view").dataset.filled = slide.step + 1;
  $("#slide-pos").textContent = `unit ${slide.step + 1} of ${total}: [${d.filter}, ${y}, ${x}]`;
  showMath(y, x);
}

function place(box, y, x, h, w, s) {
  Object.assign(box.style, {top: y * s + "px", left: x * s + "px", width: w * s + "px", height: h * s + "px"});
}

// The window's numbers: per listed map x, w and w·x, their sum; then Σ + rest + b = output.
function showMath(y, x) {
  const d = slide.data, [, h, w] = d.in_shape, [kh, kw] = d.kernel, [dh, dw] = d.dilation;
  const [top, , left] = d.padding, y0 = y * d.stride[0] - top, x0 = x * d.stride[1] - left;
  const tables = [], sums = [];
  d.shown.forEach((c, k) => {
    const xs = [], ws = d.weights[k], ps = [];
    let sum = 0;
    for (let i = 0; i < kh; i++) {
      xs.push([]); ps.push([]);
      for (let j = 0; j < kw; j++) {
        const yy = y0 + i * dh, xx = x0 + j * dw, inside = yy >= 0 && yy < h && xx >= 0 && xx < w;
        const v = inside ? slide.maps[k * h * w + yy * w + xx] : null, p = (v ?? 0) * ws[i][j];
        xs[i].push(v); ps[i].push(p); sum += p;
      }
    }
    sums.push(sum);
    tables.push(html`<div class="slide-term" style="border-color:${PALETTE[k]}"><div>map ${c}</div>
      ${grid(xs, "x")}<span>⊙</span>${grid(ws, "w")}<span>=</span>${grid(ps, "w·x")}<div>Σ = <b>${num(sum, 6)}</b></div></div>`);
  });
  const rest = slide.rest ? slide.rest[y * d.out_shape[1] + x] : null;
  const total = sums.reduce((a, b) => a + b, 0) + (rest ?? 0) + d.bias;
  const model = slide.out[y * d.out_shape[1] + x];
  const terms = sums.map((v) => `(${num(v, 6)})`).join(" + ") + (rest === null ? "" : ` + rest (${num(rest, 6)})`);
  setHTML($("#slide-math"), html`<div class="row">${tables}</div><div class="eq">${terms} + b (${num(d.bias, 6)}) = `,
    html`<b id="slide-total">${num(total, 6)}</b></div><div class="note">the model's ${d.layer}[${d.filter}, ${y}, ${x}] = `,
    html`<span id="slide-model">${num(model, 6)}</span>${rest === null ? "" : ` · rest: the other ${d.channels.length - d.shown.length} maps' Σ w·x`}</div>`);
}

// A k×k table of numbers; null cells are padding.
function grid(m, title) {
  return html`<table class="m" title="${title}">${m.map((row) => html`<tr>${row.map((v) =>
    html`<td class="${v === null ? "pad" : ""}">${v === null ? "0" : num(v, 4)}</td>`)}</tr>`)}</table>`;
}

function play() {
  if (!slide.data) return;
  const total = slide.data.out_shape[0] * slide.data.out_shape[1];
  if (slide.step >= total - 1) go(0);
  $("#slide-play").textContent = "pause";
  const jump = Math.max(1, Math.round(total / 1000));  // a 224×224 map plays in 1,000 ticks
  slide.timer = setInterval(() => {
    if (slide.step >= total - 1) { pause(); return; }
    go(slide.step + jump);
  }, 1000 / +$("#slide-speed").value);
}

function pause() {
  clearInterval(slide.timer); slide.timer = null;
  if ($("#slide-play")) $("#slide-play").textContent = "play";
}

// The page's other modules own the run and the image (state.js); the tab follows them while shown.
function follow() {
  if (!$("#tab-slide").classList.contains("active") || !state.run) return;
  if (slide.run !== state.run) { slide.key = null; chooseRun(); }
  refresh(false);
}

build();
setupSandbox();
setInterval(follow, 300);
