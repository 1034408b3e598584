// The network tab: one box per layer, its maps or units painted from /api/activations, the
// class bars under the last layer, and the guess beside the pad.
import {$, el, html, setHTML} from "./dom.js";
import {bytes} from "./api.js";
import {percent} from "./format.js";
import {drawMaps, drawRGB, sizeMaps} from "./maps.js";
import {PER_ROW, UNIT, mapValues, paint, range} from "./paint.js";
import {hoverable, inspect} from "./panel.js";
import {state} from "./state.js";

// A box per layer (and a tick box under "layers shown"), emptied until activations arrive.
export function buildLayers() {
  const root = $("#layers"), toggles = $("#toggles");
  root.replaceChildren(); toggles.replaceChildren();
  const all = [{name: "input", kind: "input", type: "as the network sees it",
                shape: state.run.input_shape, source: null}].concat(state.run.layers);
  let group = null;  // the box of the block (a ResNet block ...) being filled
  for (const meta of all) {
    group = blockBox(root, group, meta);
    const div = document.createElement("div");
    div.className = "layer"; div.dataset.name = meta.name; div.dataset.kind = meta.kind;
    const shape = meta.shape.join("×");
    const win = meta.kernel ? ` · ${meta.kernel.join("×")} window, stride ${meta.stride[0]}` : "";
    const table = (meta.table ? " · partial connection table" : "") + reads(meta);
    setHTML(div, html`<h3>${meta.name} <span class="meta">${meta.type} · ${shape}${win}${table}</span> `,
      html`<span class="meta shown"></span></h3><div class="body"></div>`);
    div.hidden = state.hidden.has(meta.name);
    (group || root).appendChild(div);
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

// Layers of one block (a ResNet block, an Inception module) share a box titled with it.
function blockBox(root, group, meta) {
  if (!meta.block) return null;
  if (group && group.dataset.block === meta.block) return group;
  const box = el("div", undefined, "block"); box.dataset.block = meta.block;
  box.append(el("div", `${meta.block} · ${meta.block_type}`, "block-title"));
  root.appendChild(box);
  return box;
}

// What a layer reads when it is no one layer's output: a residual sum, or joined maps.
function reads(meta) {
  if (meta.operands) return ` · reads ${meta.operands[0]} + ${meta.operands[1]} (the residual sum)`;
  if (meta.parts && meta.parts.length) return ` · reads the maps of ${meta.parts.join(" | ")}, joined`;
  return "";
}

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
  clearAfter(box.querySelector("canvas"), n, cols);
  div.querySelector(".shown").textContent = n < layer.shape[0] ? `(first ${n} of ${layer.shape[0]} units shown)` : "";
}

// The cells after the last unit of a vector's grid are no units: blank, not a painted 0.
function clearAfter(canvas, n, cols) {
  const ctx = canvas.getContext("2d"), rowsN = canvas.height, q = n % cols;
  if (q) ctx.clearRect(q, rowsN - 1, cols - q, 1);
}

function drawBars(div, pred) {
  const bars = div.querySelector(".bars");
  if (!bars) return;
  bars.replaceChildren(...pred.top.slice(0, 10).map((t, k) => {
    const bar = el("div", undefined, "bar" + (k === 0 ? " first" : k === 1 ? " second" : ""));
    const fill = el("div", undefined, "fill");
    fill.style.width = Math.round(200 * t.probability) + "px";
    bar.append(el("span", t.label, "name"), fill, percent(t.probability));
    return bar;
  }));
}

// Paint the latest activations, the class bars and the guess; re-inspect the unit hovered.
export function render() {
  const acts = state.acts;
  if (!acts) return;
  const ranges = Object.values(acts.ranges || {}).concat([[acts.input.min, acts.input.max]]);
  state.netRange = [Math.min(...ranges.map((r) => r[0])), Math.max(...ranges.map((r) => r[1]))];
  paintLayers([acts.input].concat(acts.layers));
  if (acts.input.shape[0] === 3) drawRGB(acts.input);
  const last = state.run.layers[state.run.layers.length - 1];
  drawBars(document.querySelector(`.layer[data-name="${CSS.escape(last.name)}"]`), acts.prediction);
  const p = acts.prediction;
  const guess = el("span", p.label); guess.id = "guess";
  $("#prediction").replaceChildren(guess, ` (${percent(p.probability)})`);
  if (p.second) $("#prediction").append(" ", el("span", `second guess: ${p.second.label} (${percent(p.second.probability)})`, "second"));
  $("#status").textContent = "";
  if (state.hover) inspect(state.hover.layer, state.hover.index);
}

// Paint these layers of the latest answer (the rest keep what they showed: they are off screen).
export function paintLayers(layers) {
  for (const layer of layers) {
    const div = document.querySelector(`.layer[data-name="${CSS.escape(layer.name)}"]`);
    if (!div) continue;
    if (layer.shape.length === 3) drawMaps(div, layer); else drawUnits(div, layer);
    div.dataset.image = state.imageSeq;  // which image it shows (a stale one is faded)
  }
  document.querySelectorAll("#layers .layer").forEach((d) => d.classList.toggle(
    "stale", d.dataset.image !== undefined && +d.dataset.image !== state.imageSeq));
}

// After the window is resized: every map to its new size, the hovered unit outlined again.
export function resized() {
  document.querySelectorAll("#layers .maps").forEach(sizeMaps);
  if (state.hover) inspect(state.hover.layer, state.hover.index);
}
