// Values to pixels: colour scales, maps and vectors painted on canvases, the layout's sizes.
import {$} from "./dom.js";
import {bytes} from "./api.js";
import {colour} from "./format.js";
import {state} from "./state.js";

export const UNIT = 8, PER_ROW = 64;  // a vector layer: rows of 64 units, 8 px each

// Maps are drawn about 96 px wide, 64 px when a layer has many: big models stay compact.
export function scaleFor(h, c) { return Math.max(1, Math.min(8, Math.floor((c > 8 ? 64 : 96) / h))); }

// The range a value is coloured against: its own map, its layer, or the whole network.
export function range(layer, i) {
  const mode = $("#scale").value;
  // a map of one value (a 1x1 map, a constant one) has no range of its own: use its layer's
  if (mode === "map" && layer.hi[i] > layer.lo[i]) return [layer.lo[i], layer.hi[i]];
  if (mode === "map") return [layer.min, layer.max];
  if (mode === "layer") return [layer.min, layer.max];
  return state.netRange;
}

export function paint(canvas, values, w, h, lo, hi) {
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
  for (let p = 0; p < w * h; p++) {
    const [r, g, b] = colour(values[p], lo, hi);
    img.data.set([r, g, b, 255], 4 * p);
  }
  ctx.putImageData(img, 0, 0);
}

// Decode one layer's bytes back to values: map i spans lo[i]..hi[i]; vectors lo[0]..hi[0].
export function mapValues(layer, raw, i, n) {
  const out = new Float32Array(n), lo = layer.lo[i], span = (layer.hi[i] - lo) / 255;
  for (let p = 0; p < n; p++) out[p] = lo + raw[i * n + p] * span;
  return out;
}

// (H, W, 3) uint8 bytes, base64, painted as they are.
export function paintRGB(canvas, b64, w, h) {
  const rgb = bytes(b64), img = canvas.getContext("2d").createImageData(w, h);
  for (let p = 0; p < w * h; p++) img.data.set([rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2], 255], 4 * p);
  canvas.getContext("2d").putImageData(img, 0, 0);
}
