// The shape and parameter sandbox (CNN Explainer's hyperparameter view) on the learner's own
// convolution: change k, s, p and the number of filters and see o = ⌊(i + 2p − k)/s⌋ + 1 and
// k·k·C_in·C_out + C_out with the numbers in, what cannot work flagged, and two verdicts: PyTorch
// builds the layer (a stride that does not fit is floored: a note counts the input rows never
// covered) and what Network.from_spec does with it as a spec token. The numbers come from
// GET /api/sandbox (convnet/web/sandbox.py, which uses convnet/shapes.py), never from here.
import {$, html, setHTML} from "./dom.js";
import {api} from "./api.js";
import {state} from "./state.js";

const FIELDS = [["kernel", "kernel k"], ["stride", "stride s"], ["padding", "padding p"], ["filters", "filters C_out"]];
const box = {layer: null, seq: 0};

export function setupSandbox() {
  setHTML($("#sandbox"), html`<h3>shape and parameter sandbox</h3><div class="tools">${FIELDS.map(([name, label]) =>
    html`<label>${label} <input id="sandbox-${name}" type="number" step="1" size="5"></label>`)}
    <button id="sandbox-own">this layer's own</button></div><div id="sandbox-out"></div>`);
  for (const [name] of FIELDS) $(`#sandbox-${name}`).oninput = ask;
  $("#sandbox-own").onclick = () => showSandbox(box.layer);
}

// A layer was chosen: start from its own settings.
export function showSandbox(layer) {
  box.layer = layer;
  for (const [name] of FIELDS) $(`#sandbox-${name}`).value = "";
  ask();
}

async function ask() {
  if (!box.layer || !state.run) return;
  const params = new URLSearchParams({run: state.run.id, layer: box.layer.name});
  for (const [name] of FIELDS) {
    const v = $(`#sandbox-${name}`).value.trim();
    if (v !== "") params.set(name, v);
  }
  const seq = ++box.seq;
  let s;
  try { s = await api(`/api/sandbox?${params}`); } catch (err) {
    if (seq === box.seq) setHTML($("#sandbox-out"), html`<div class="sandbox-problem">${err.message}</div>`);
    return;
  }
  if (seq !== box.seq) return;
  for (const [name] of FIELDS) if ($(`#sandbox-${name}`).value === "") $(`#sandbox-${name}`).placeholder = s.own[name];
  render(s);
}

function render(s) {
  const [c, h, w] = s.input, sides = h === w ? [["o", s.height]] : [["o_h", s.height], ["o_w", s.width]];
  const out = s.output ? html`output <b>${s.output.join(" × ")}</b> · ${s.mult_adds.toLocaleString("en")} multiply-adds per image` : "no output";
  const own = s.own, spec = s.spec;
  setHTML($("#sandbox-out"), html`<div class="note">${s.layer} reads ${c} map${c > 1 ? "s" : ""} of ${h}×${w} (i = ${h === w ? h : `${h}, ${w}`});`,
    html` its own settings: k ${own.kernel}, s ${own.stride}, p ${own.padding}, ${own.filters} filters</div>`,
    html`${sides.map(([name, a]) => html`<div class="eq">${name} = ⌊(i + 2p − k)/s⌋ + 1 = ${a ? a.numbers : "—"}${
      a && a.exact !== null && !a.fits ? html` <span class="note">(exactly ${+a.exact.toFixed(4)}, floored)</span>` : ""}</div>`)}`,
    html`<div class="eq">params = ${s.params ? html`${s.params.formula} = ${s.params.numbers}` : "—"}</div><div>${out}</div>`,
    html`${s.problems.map((p) => html`<div class="sandbox-problem" data-what="${p.what}">✗ ${p.text}</div>`)}`,
    html`${s.ok ? html`<div class="sandbox-ok">✓ these settings fit: PyTorch builds this layer</div>` : ""}${s.notes.map((n) => html`<div class="note">${n}</div>`)}`,
    html`${spec ? html`<div class="sandbox-spec ${spec.ok ? "" : "sandbox-bad"}" data-ok="${spec.ok}">Network.from_spec: ${spec.ok ? "✓" : "✗"} ${spec.text}</div>` : ""}`);
}
