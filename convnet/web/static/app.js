// convnet serve: the drawing pad, every layer of the chosen run, and the unit inspector.
// Plain JavaScript modules, no build step: dom.js (elements, the escaping door to innerHTML),
// format.js, api.js, state.js, paint.js, layers.js (the network tab), panel.js (the unit
// inspector), pad.js, gallery.js (test images), filters.js (filters tab, kernel playground),
// norun.js (no trained run yet: the notes, the Train tab first).
// The API is described in docs/web.md and at /docs.
import {$, el} from "./dom.js";
import {api} from "./api.js";
import {drawFilters, playground} from "./filters.js";
import {choose, loadGallery, useThePad} from "./gallery.js";
import {buildLayers, paintLayers, render, resized} from "./layers.js";
import {clearPad, padImage, padIsBlank, setupPad} from "./pad.js";
import {state} from "./state.js";
import {setupLines} from "./lines.js";
import {buildOverview, paintOverview} from "./overview.js";
import {missing, onScrolled, wanted} from "./visible.js";
import {showNoRun} from "./norun.js";
import {refreshZoom} from "./zoom.js";

// What to do on an empty pad: a digit run wants a drawing, a colour run a photo.
function ask() {
  $("#prediction").textContent = state.run.framing === "mnist" ? "draw a digit"
    : state.run.input_shape[0] === 3 ? "click a test image or upload a photo" : "draw or upload an image";
}

// At most one request in flight; the latest drawing is sent as soon as it returns.
async function update() {
  if (!state.run) return;  // no trained run yet (norun.js)
  if (!state.source && padIsBlank()) { ask(); return; }  // nothing to classify yet
  if (state.inflight) { state.dirty = true; return; }
  const image = state.source || padImage(), invert = state.invert;
  const key = `${state.run.id}|${invert}|${image}`;
  if (key === state.sent) return;  // a click's pointerup: the pad has not changed since
  state.inflight = true; state.dirty = false; state.sent = key;
  const t0 = performance.now();
  try {
    state.acts = await api("/api/activations", {run: state.run.id, image, invert, layers: wanted()});
    state.image = image; state.imageSeq++;
    render();
    paintOverview();
    refreshZoom();
    timed(performance.now() - t0);
    if ($("#tab-kernels").classList.contains("active")) playground();
  } catch (err) {
    $("#status").textContent = err.message;
    if (/blank/.test(err.message)) $("#prediction").textContent = "draw a digit";
  } finally {
    state.inflight = false;
    if (state.dirty) update();
  }
}

// How long an update took, from the request to the last canvas painted: shown under the guess,
// and told to whoever listens (benchmarks/web_latency.py) as an "updated" event.
function timed(ms) {
  $("#timing").textContent = `update ${Math.round(ms)} ms (server ${state.acts.server_ms} ms)`;
  document.dispatchEvent(new CustomEvent("updated", {detail: {ms, server_ms: state.acts.server_ms}}));
}

// Layers scrolled into view (or ticked) since the last update: ask for just those, same image.
async function fill() {
  const names = missing(), acts = state.acts;
  if (!names.length || state.inflight) return;
  const more = await api("/api/activations", {run: state.run.id, image: state.image, invert: state.invert, layers: names});
  if (state.acts !== acts) return;  // a newer update came first
  acts.layers.push(...more.layers);
  paintLayers(more.layers);
}

// A clicked test image is the input now.
function pick(sample, button) { choose(sample, button); update(); }

async function chooseRun(id) {
  state.run = state.runs.find((r) => r.id === id);
  state.acts = null; state.hover = null;
  const r = state.run;
  $("#run-info").textContent = `${r.model} · ${r.input_shape.join("×")} · ${r.classes.length} classes` +
    (r.dataset ? ` · ${r.dataset}` : "") + (r.test_accuracy != null ? ` · test accuracy ${(100 * r.test_accuracy).toFixed(2)} %` : "") +
    (r.weights && r.weights.file === "best.safetensors" ? ` · weights of epoch ${r.weights.epoch}, chosen on the validation split` : "");
  buildLayers();
  buildOverview();
  if (state.source) {  // the chosen test image stays, for comparing runs; its index does not
    $("#truth").textContent = r.classes.includes(state.sourceLabel) ? `true class: ${state.sourceLabel}` : "";
  }
  state.filters = await api(`/api/filters?run=${encodeURIComponent(id)}`);
  drawFilters();
  const samples = await loadGallery(r, pick);
  if (state.run !== r) return;
  // A colour run opens on its first test image, not on an empty pad.
  const first = document.querySelector("#gallery .sample");
  if (r.input_shape[0] === 3 && !state.source && padIsBlank() && samples.length && first) pick(samples[0], first);
  else update();
}

// The run chooser's options: the runs served, the one shown chosen.
function fillChooser() {
  $("#run").replaceChildren(...(state.runs.length ? state.runs.map((r) => { const o = el("option", `${r.id} (${r.model})`); o.value = r.id; return o; })
    : [el("option", "no trained run yet")]));
  if (state.run) $("#run").value = state.run.id;
}

// The runs again (GET /api/runs serves runs that saved a checkpoint since: discover.py). The
// first run to appear is shown; the run shown is shown again when its weights changed (another
// epoch of a training under way). One call at a time; a call asked for meanwhile follows it.
async function listRuns() {
  if (listRuns.busy) { listRuns.again = true; return; }
  listRuns.busy = true; listRuns.again = false;
  try {
    state.runs = await api("/api/runs");
    const now = state.run && state.runs.find((r) => r.id === state.run.id);
    const changed = now && JSON.stringify([now.weights, now.test_accuracy]) !== JSON.stringify([state.run.weights, state.run.test_accuracy]);
    fillChooser();
    if (!state.run && state.runs.length) { showNoRun(false); await chooseRun(state.runs[0].id); }
    else if (changed) await chooseRun(now.id);
  } finally {
    listRuns.busy = false;
    if (listRuns.again) listRuns().catch(say);
  }
}

async function start() {
  clearPad();
  setupPad(useThePad, update);
  state.runs = await api("/api/runs");
  fillChooser();
  $("#run").onchange = (e) => chooseRun(e.target.value);
  $("#scale").onchange = () => { render(); refreshZoom(); };
  onScrolled(() => fill().catch(say));
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing); resizing = setTimeout(() => { if (state.run) { resized(); buildOverview(); } }, 150);
  });
  setupLines();
  $("#invert").onchange = (e) => { state.invert = e.target.value === "" ? null : e.target.value === "true"; update(); };
  const kernels = await api("/api/kernels");
  $("#kernel-name").replaceChildren(...Object.keys(kernels).map((k) => el("option", k)));
  $("#kernel-name").onchange = () => { $("#kernel-text").value = ""; playground(); };
  $("#kernel-apply").onclick = playground;
  document.querySelectorAll("#tabs button").forEach((b) => b.onclick = () => {
    document.querySelectorAll("#tabs button, .tab").forEach((e) => e.classList.remove("active"));
    b.classList.add("active"); $(`#tab-${b.dataset.tab}`).classList.add("active");
    if (b.dataset.tab === "kernels") playground();
    if (b.dataset.tab !== "train") listRuns().catch(say);  // a run trained meanwhile
  });
  // a checkpoint saved by a run the Train tab shows (train.js); without a run, every 5 s
  document.addEventListener("run-saved", () => listRuns().catch(say));
  setInterval(() => { if (!state.run) listRuns().catch(say); }, 5000);
  if (state.runs.length) await chooseRun(state.runs[0].id);
  else showNoRun(true);
}

// A failed request's one line, in the status bar.
function say(err) { $("#status").textContent = err.message; }

start().catch(say);
