// The Train tab: start a short training, or watch any run under ./runs (a `convnet train` in a
// terminal too), live: loss and accuracy curves, the first layer's filters, one test image's
// probabilities, pause/resume, and the filters' evolution from random init to the end.
// Server side: convnet/web/training.py (API) and train_stream.py (server-sent events).
// Each drawing dispatches a "train-drawn" event on document ({what, count}), for tests; each
// epoch saved, a "run-saved" one ({run}), for the run chooser (app.js).
import {$, el, html, setHTML} from "./dom.js";
import {api} from "./api.js";

const T = {source: null, run: null, rows: [], epochs: [], view: null, snaps: null, timer: null,
           pending: false, lastDraw: -1e9};

function build() {
  setHTML($("#train-view"), html`
    <div class="tools">
      <label>model <input id="train-model" list="train-models" value="lenet5" size="30"
        title="a model name, or a spec line such as conv6@5x5 relu maxpool2 fc10"></label>
      <datalist id="train-models"></datalist>
      <label>dataset <select id="train-dataset"></select></label>
      <label>epochs <input id="train-epochs" type="number" min="1" value="1" class="num"></label>
      <label>first <input id="train-limit" type="number" min="1" placeholder="all" class="num"> images</label>
      <button id="train-start">start training</button>
    </div>
    <div class="tools">
      <label>or watch a run <select id="train-runs"></select></label>
      <button id="train-refresh">refresh</button>
      <button id="train-pause" hidden>pause</button>
    </div>
    <div id="train-status" class="status"></div>
    <div id="train-info" class="note"></div>
    <div class="row">
      <div class="curve"><canvas id="train-loss" width="380" height="190"></canvas></div>
      <div class="curve"><canvas id="train-acc" width="380" height="190"></canvas></div>
    </div>
    <div class="row">
      <div><h3>first-layer filters <span id="train-step" class="note"></span></h3>
        <canvas id="train-filters" width="8" height="8"></canvas></div>
      <div><h3>probe image <span id="train-truth" class="note"></span></h3>
        <div class="row"><img id="train-probe-image" alt="" hidden><div id="train-probe" class="bars"></div></div></div>
    </div>
    <h3>filter evolution, random init to the end
      <button id="train-play">play</button>
      <input id="train-frame" type="range" min="0" max="0" value="0">
      <span id="train-frame-step" class="note"></span></h3>
    <canvas id="train-evolution" width="8" height="8"></canvas>`);
}

function drawn(what, count) {
  document.dispatchEvent(new CustomEvent("train-drawn", {detail: {what, count}}));
}

function say(text) { $("#train-status").textContent = text; }

// ---------------------------------------------------------------- curves

function plot(canvas, title, series, yMax) {
  const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height, pad = 28;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const xMax = Math.max(1, ...xs), top = yMax ?? Math.max(1e-6, ...ys);
  const X = (x) => pad + (W - pad - 8) * x / xMax, Y = (y) => H - pad - (H - pad - 18) * y / top;
  ctx.strokeStyle = "#999"; ctx.strokeRect(pad, 18, W - pad - 8, H - pad - 18);
  ctx.fillStyle = "#333"; ctx.font = "12px system-ui";
  ctx.fillText(title, pad, 13);
  ctx.fillText(`${top.toPrecision(2)}`, 2, 26); ctx.fillText("0", 14, H - pad);
  ctx.fillText(`epoch ${xMax.toFixed(xMax < 10 ? 1 : 0)}`, W - 70, H - 8);
  let lx = pad + 120;
  for (const s of series) {
    ctx.strokeStyle = ctx.fillStyle = s.colour; ctx.beginPath();
    s.points.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
    if (s.dots) s.points.forEach(([x, y]) => ctx.fillRect(X(x) - 2, Y(y) - 2, 5, 5));
    else ctx.stroke();
    ctx.fillText(s.name, lx, 13); lx += ctx.measureText(s.name).width + 12;
  }
}

function drawCurves() {
  T.pending = false; T.lastDraw = performance.now();
  const rows = T.rows.filter((r) => r.loss != null), ep = T.epochs;
  plot($("#train-loss"), "loss", [
    {name: "train (live)", colour: "#607d8b", points: rows.map((r) => [r.epoch, r.loss])},
    {name: "test", colour: "#2e7d32", dots: true, points: ep.map((r) => [r.epoch, r.test_loss])}]);
  plot($("#train-acc"), "accuracy", [
    {name: "train (live)", colour: "#607d8b", points: rows.map((r) => [r.epoch, r.accuracy])},
    {name: "test", colour: "#2e7d32", dots: true, points: ep.map((r) => [r.epoch, r.test_accuracy])}], 1);
  const last = rows[rows.length - 1];
  if (last) $("#train-info").textContent = `step ${last.step} · epoch ${last.epoch.toFixed(2)} · ` +
    `loss ${last.loss.toFixed(4)} · accuracy ${(100 * last.accuracy).toFixed(1)} %` +
    (ep.length ? ` · test accuracy after epoch ${ep[ep.length - 1].epoch}: ${(100 * ep[ep.length - 1].test_accuracy).toFixed(2)} %` : "");
  drawn("curves", T.rows.length);
}

// A row is drawn at once, unless one was drawn in the last 100 ms: then the rows that arrive
// meanwhile (a late viewer gets the whole history at once) are one drawing, 100 ms later.
function curvesLater() {
  if (T.pending) return;
  const wait = 100 - (performance.now() - T.lastDraw);
  if (wait <= 0) drawCurves();
  else { T.pending = true; setTimeout(drawCurves, wait); }
}

// ---------------------------------------------------------------- filters

// Filters (F, C_in, k, k) as a grid of k x k tiles: red positive, blue negative, white 0, on
// one scale (max |w| of this set); an RGB first layer in colour (grey 0).
function drawFilters(canvas, weights, top) {
  const f = weights.length, cin = weights[0].length, k = weights[0][0].length;
  const s = Math.max(3, Math.round(48 / k));  // a 5x5 filter: 10 px a weight
  const cols = Math.min(f, 8), rows = Math.ceil(f / cols), side = k * s + 4;
  canvas.width = cols * side; canvas.height = rows * side;
  const ctx = canvas.getContext("2d");
  top = top || Math.max(1e-12, ...weights.flat(3).map(Math.abs));
  weights.forEach((w, i) => {
    const ox = (i % cols) * side + 2, oy = Math.floor(i / cols) * side + 2;
    for (let y = 0; y < k; y++) for (let x = 0; x < w[0][0].length; x++) {
      let rgb;
      if (cin === 3) rgb = [0, 1, 2].map((c) => 255 * (0.5 + 0.5 * w[c][y][x] / top));
      else {
        const v = w[0][y][x] / top, a = 255 * (1 - Math.min(1, Math.abs(v)));
        rgb = v >= 0 ? [255, a, a] : [a, a, 255];
      }
      ctx.fillStyle = `rgb(${rgb.map(Math.round).join(",")})`;
      ctx.fillRect(ox + x * s, oy + y * s, s, s);
    }
  });
}

function showView(v) {
  if (v.weights) {
    drawFilters($("#train-filters"), v.weights);
    $("#train-step").textContent = `${v.layer}, ` + (v.step != null ? `step ${v.step}` : "last checkpoint");
    drawn("filters", v.step);
  }
  if (v.probabilities && T.run) {
    const classes = T.run.classes, p = v.probabilities;
    const best = p.indexOf(Math.max(...p));
    setHTML($("#train-probe"), ...p.map((q, i) => html`<div class="bar ${i === best ? "first" : ""}">
      <span class="name">${classes[i] ?? i}</span><span class="fill" style="width:${Math.round(150 * q)}px"></span>
      <span>${(100 * q).toFixed(1)} %</span></div>`));
  }
}

// ---------------------------------------------------------------- evolution

function showFrame(i) {
  const s = T.snaps;
  if (!s) return;
  const top = Math.max(1e-12, ...s.weights[s.weights.length - 1].flat(3).map(Math.abs));
  drawFilters($("#train-evolution"), s.weights[i], top);  // one scale: the filters grow
  $("#train-frame").value = i;
  $("#train-frame-step").textContent = `step ${s.steps[i]} of ${s.total}` + (i === 0 ? " (random init)" : "");
}

async function loadSnapshots(id) {
  try {
    T.snaps = await api(`/api/train/${encodeURIComponent(id)}/snapshots`);
  } catch (err) {
    T.snaps = null; $("#train-frame-step").textContent = err.message; return;
  }
  $("#train-frame").max = T.snaps.steps.length - 1;
  showFrame(T.snaps.steps.length - 1);
  drawn("evolution", T.snaps.steps.length);
}

function play() {
  if (!T.snaps) return;
  clearInterval(T.timer);
  let i = 0;
  T.timer = setInterval(() => {
    showFrame(i++);
    if (i >= T.snaps.steps.length) clearInterval(T.timer);
  }, 250);
}

// ---------------------------------------------------------------- watching

function setStatus(data) {
  const page = T.run && T.run.page, status = data.status;
  say(data.error ? `${status}: ${data.error}` : "");
  $("#train-pause").hidden = !page || !["running", "paused"].includes(status);
  $("#train-pause").textContent = status === "paused" ? "resume" : "pause";
  $("#train-pause").dataset.status = status;
  $("#train-step").dataset.status = status;
  if (!data.error) $("#train-status").textContent = "";
  $("#train-info").dataset.status = status;
}

function watch(run) {
  if (T.source) T.source.close();
  Object.assign(T, {run, rows: [], epochs: [], snaps: null});
  drawCurves();  // empty axes
  T.lastDraw = -1e9;  // the first row is drawn at once
  $("#train-truth").textContent = run.probe_label != null ? `(true class: ${run.classes[run.probe_label]})` : "(runs started here only)";
  $("#train-probe-image").hidden = !run.probe_image;
  if (run.probe_image) $("#train-probe-image").src = run.probe_image;
  setHTML($("#train-probe"));
  const es = T.source = new EventSource(`/api/train/${encodeURIComponent(run.id)}/events`);
  const on = (name, f) => es.addEventListener(name, (e) => f(JSON.parse(e.data)));
  on("row", (r) => { T.rows.push(r); curvesLater(); });
  on("epoch", (r) => { T.epochs.push(r); curvesLater(); saved(run); });
  on("reset", () => { T.rows = []; T.epochs = []; });
  on("view", showView);
  on("filters", showView);
  on("status", (d) => { setStatus(d); if (d.status !== "running") loadSnapshots(run.id); });
  on("end", (d) => { es.close(); setStatus(d); loadSnapshots(run.id); refresh(null, run.id); saved(run); });
}

// An epoch's checkpoint is on disk (train.fit saves it before the metrics row): app.js lists the
// runs again, so the run chooser offers this run (and shows its newest weights).
function saved(run) {
  document.dispatchEvent(new CustomEvent("run-saved", {detail: {run: run.id}}));
}

// The run list; ``select``: choose that run and watch it; ``keep``: only show it as chosen.
async function refresh(select, keep) {
  const runs = await api("/api/train/runs");
  $("#train-runs").replaceChildren(el("option", runs.length ? "choose a run" : "no runs yet under ./runs"),
    ...runs.map((r) => { const o = el("option", `${r.id} (${r.model}, ${r.status})`); o.value = r.id; return o; }));
  T.list = runs;
  if (select) { $("#train-runs").value = select; watch(runs.find((r) => r.id === select)); }
  else if (keep) $("#train-runs").value = keep;
}

async function start() {
  say("starting...");
  const limit = $("#train-limit").value;
  try {
    const r = await api("/api/train", {model: $("#train-model").value.trim(), dataset: $("#train-dataset").value,
      epochs: Number($("#train-epochs").value), limit: limit ? Number(limit) : null});
    say("");
    await refresh(r.run);
  } catch (err) { say(err.message); }
}

async function pause() {
  const paused = $("#train-pause").dataset.status === "paused";
  try {
    const r = await api(`/api/train/${encodeURIComponent(T.run.id)}/${paused ? "resume" : "pause"}`, {});
    setStatus(r);
  } catch (err) { say(err.message); }
}

async function setup() {
  build();
  const options = await api("/api/train/options");
  $("#train-models").replaceChildren(...options.models.map((m) => { const o = el("option"); o.value = m; return o; }));
  $("#train-dataset").replaceChildren(...options.datasets.map((d) => el("option", d)));
  $("#train-epochs").max = options.max_epochs;
  if (!options.datasets.length) say("no dataset found in the data folder: start convnet serve with --data DIR");
  $("#train-start").onclick = start;
  $("#train-refresh").onclick = () => refresh();
  $("#train-runs").onchange = (e) => { const r = T.list.find((x) => x.id === e.target.value); if (r) watch(r); };
  $("#train-pause").onclick = pause;
  $("#train-play").onclick = play;
  // opening the tab lists the runs again (a terminal may have started one meanwhile)
  document.querySelector("#tabs button[data-tab=train]").addEventListener("click", () => refresh(null, T.run && T.run.id));
  $("#train-frame").oninput = (e) => showFrame(Number(e.target.value));
  await refresh();
}

setup().catch((err) => say(err.message));
