// The whole network at a glance (node-link, as in Adam Harley's view): one column per layer, one
// node per map or unit (at most 16), edges to the layer each reads. Nodes are coloured by their
// map's mean for the latest image; hovering a node shows what it reads here and inspects its
// middle unit below (panel.js); a click scrolls to its layer.
import {$} from "./dom.js";
import {colour} from "./format.js";
import {inspect} from "./panel.js";
import {state} from "./state.js";

const SVG = "http://www.w3.org/2000/svg", NODES = 16, HEIGHT = 150, PAD = 12;
const SAME_CHANNEL = new Set(["act", "bn", "pool"]);  // map i reads map i of its source
let columns = [];  // [{meta, x, ys}] in layer order

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// Lay the chosen run out: columns spread over the tab's width, nodes down each column.
export function buildOverview() {
  let box = $("#overview");
  if (!box) { box = document.createElement("div"); box.id = "overview"; $("#tab-network").prepend(box); }
  const width = Math.max(320, box.clientWidth);
  const all = [{name: "input", kind: "input", shape: state.run.input_shape}].concat(state.run.layers);
  const step = (width - 2 * PAD) / Math.max(1, all.length - 1);
  columns = all.map((meta, i) => {
    const n = Math.min(NODES, meta.shape[0]), gap = (HEIGHT - 2 * PAD) / Math.max(1, n - 1);
    return {meta, x: PAD + i * step, ys: Array.from({length: n}, (_, k) => n === 1 ? HEIGHT / 2 : PAD + k * gap)};
  });
  const byName = new Map(columns.map((c) => [c.meta.name, c]));
  const svg = svgEl("svg", {viewBox: `0 0 ${width} ${HEIGHT}`, width, height: HEIGHT});
  const edges = svgEl("g", {class: "edges"}), hot = svgEl("g", {class: "hot"}), nodes = svgEl("g", {});
  const r = Math.max(1.5, Math.min(4, step / 3, (HEIGHT - 2 * PAD) / NODES / 2.5));
  for (const col of columns) {
    for (const src of sources(col.meta).map((s) => byName.get(s)).filter(Boolean)) {
      edges.appendChild(svgEl("path", {d: links(col, src).map(([a, b]) => `M${src.x},${src.ys[a]}L${col.x},${col.ys[b]}`).join("")}));
    }
    col.nodes = col.ys.map((y, k) => {
      const c = svgEl("circle", {cx: col.x, cy: y, r, class: "node"});
      c.dataset.layer = col.meta.name; c.dataset.index = k;
      c.appendChild(svgEl("title", {})).textContent = `${col.meta.name} ${col.meta.shape.length === 3 ? "map" : "unit"} ${k}`;
      c.addEventListener("mouseenter", () => hover(col, k, byName, hot));
      c.addEventListener("click", () => document.querySelector(`.layer[data-name="${CSS.escape(col.meta.name)}"]`)?.scrollIntoView({block: "center"}));
      nodes.appendChild(c);
      return c;
    });
  }
  svg.append(edges, hot, nodes);
  box.replaceChildren(svg);
  paintOverview();
}

// The layers a layer reads: its source, the two operands of a residual sum, or joined parts.
function sources(meta) { return meta.source ? [meta.source] : meta.operands || meta.parts || []; }

// Which source nodes feed which nodes: map to same map, a connection table, or all to all.
function links(col, src) {
  const out = [], n = col.ys.length, m = src.ys.length, table = col.meta.table;
  for (let b = 0; b < n; b++) {
    for (let a = 0; a < m; a++) {
      const same = SAME_CHANNEL.has(col.meta.kind) || Boolean(col.meta.operands);  // a sum: map by map
      if (same ? a === b : !table || (table[b] && table[b][a])) out.push([a, b]);
    }
  }
  return out;
}

// Highlight node k of a column and the nodes it reads; inspect its middle unit below.
function hover(col, k, byName, hot) {
  hot.replaceChildren();
  document.querySelectorAll("#overview .node.on").forEach((c) => c.classList.remove("on"));
  col.nodes[k].classList.add("on");
  for (const src of sources(col.meta).map((s) => byName.get(s)).filter(Boolean)) {
    for (const [a] of links(col, src).filter(([, b]) => b === k)) {
      hot.appendChild(svgEl("line", {x1: src.x, y1: src.ys[a], x2: col.x, y2: col.ys[k]}));
      src.nodes[a].classList.add("on");
    }
  }
  if (!state.image || col.meta.name === "input") return;
  const s = col.meta.shape;
  const index = s.length === 3 ? [k, Math.floor(s[1] / 2), Math.floor(s[2] / 2)] : [k];
  state.hover = {layer: col.meta.name, index, key: col.meta.name + index.join(",")};
  inspect(col.meta.name, index);
}

// Colour each node by its map's mean (the latest answer's "overview"), per layer's range.
export function paintOverview() {
  const means = state.acts && state.acts.overview;
  for (const col of columns) {
    const v = means && means[col.meta.name];
    if (!v || !col.nodes) continue;
    const lo = Math.min(...v), hi = Math.max(...v);
    col.nodes.forEach((c, k) => c.setAttribute("fill", `rgb(${colour(v[k] ?? 0, lo, hi).map(Math.round).join(",")})`));
  }
}
