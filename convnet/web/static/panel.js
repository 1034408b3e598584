// The unit inspector, docked beside the maps: hover or click a unit, ask /api/unit, outline
// where the unit looks and show its arithmetic. The panel knows no layer kinds: every kind's
// answer carries "lines" (see convnet/kinds/units.py), rendered here the same way. A window
// with a "colour" k is outlined in the k-th colour, as are the matrices of that term; one
// with colour null is a term summed into "rest" (grey, dashed).
import {$, html, setHTML} from "./dom.js";
import {api} from "./api.js";
import {num} from "./format.js";
import {UNIT} from "./paint.js";
import {state} from "./state.js";

// Inspect the unit under the pointer of ``canvas`` (toIndex: pixel -> unit index, or null).
export function hoverable(canvas, layer, toIndex) {
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

export async function inspect(layer, index) {
  const seq = ++state.unitSeq;
  let unit;
  try {
    unit = await api("/api/unit", {run: state.run.id, image: state.image, invert: state.invert, layer, index});
  } catch (err) { $("#panel").textContent = err.message; return; }
  if (seq !== state.unitSeq) return;  // a newer hover superseded this one
  document.querySelectorAll(".outline, .winner, .selected").forEach((e) => e.remove());
  mark(layer, index.length === 3 ? {channel: index[0], y: index[1], x: index[2], h: 1, w: 1} : index[0], "selected");
  for (const w of unit.windows) mark(w.layer || unit.source, w, "outline" + colourClass(w.colour));
  for (const i of unit.inputs) mark(unit.source, i, "outline");
  if (unit.winner) mark(unit.source, {channel: unit.winner[0], y: unit.winner[1], x: unit.winner[2], h: 1, w: 1}, "winner");
  setHTML($("#panel"), explainHTML(unit));
}

// A term's colour class: c0..c7 for a listed term, "rest" for one summed into the rest.
function colourClass(k) { return k === undefined ? "" : k === null ? " rest" : ` c${k}`; }

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

// A small table of numbers to 4 significant digits (enough to check a sum by hand); ``win``
// [r, c] is highlighted, null cells are padding; ``colour`` k frames it as term k's window.
export function matrix(m, win, colour) {
  return html`<table class="m${colourClass(colour ?? undefined)}">${m.map((row, r) => html`<tr>${row.map((v, c) =>
    html`<td class="${win && win[0] === r && win[1] === c ? "win" : ""}">${v === null ? "pad" : num(v, 4)}</td>`)}</tr>`)}</table>`;
}

// One part of a line: text and numbers as they are (escaped), or a matrix.
function part(p) { return p !== null && typeof p === "object" ? matrix(p.matrix, p.mark, p.colour) : p; }

// A text line's parts, each matrix kept together with the word just before it (its caption:
// "x", "w", "w·x"), so that a narrow panel wraps between matrices, never inside a pair.
function captioned(parts) {
  const out = [];
  parts.forEach((p, i) => {
    const isMatrix = (q) => q !== null && typeof q === "object";
    if (isMatrix(parts[i + 1]) && typeof p === "string") return;  // goes with the next one
    if (isMatrix(p) && typeof parts[i - 1] === "string") {
      out.push(html`<span class="cap"><span>${parts[i - 1]}</span>${part(p)}</span>`);
    } else out.push(part(p));
  });
  return out;
}

// The lines of any kind's arithmetic: text, eq (an equation), note, or table rows.
function linesHTML(lines) {
  const out = [];
  let rows = [];
  const flush = () => { if (rows.length) out.push(html`<table class="rows">${rows}</table>`); rows = []; };
  for (const line of lines) {
    if (line.row) { rows.push(html`<tr>${line.row.map((cell) => html`<td>${cell.map(part)}</td>`)}</tr>`); continue; }
    flush();
    if (line.eq) out.push(html`<div class="eq">${line.eq.map(part)}</div>`);
    else if (line.note) out.push(html`<div class="note">${line.note.map(part)}</div>`);
    else out.push(html`<div>${captioned(line.text || [])}</div>`);
  }
  flush();
  return out;
}

// The panel: every value from the server goes in through html`...`, so it is escaped.
function explainHTML(u) {
  const a = u.arithmetic;
  return html`<b>${u.layer}</b> unit [${u.index.join(", ")}] = <b>${u.value}</b>${
    u.source ? html` · reads <b>${u.source}</b>` : ""}<br><span class="eq">${a.formula || ""}</span><div class="lines">${
    linesHTML(a.lines || [])}</div>`;
}
