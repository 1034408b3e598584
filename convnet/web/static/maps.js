// Feature maps on the page: sized to the window, painted through a colour table, each with its
// numeric range under it; a click opens it large (zoom.js).
import {$, el, html, setHTML} from "./dom.js";
import {bytes} from "./api.js";
import {colour, num} from "./format.js";
import {paintRGB, range} from "./paint.js";
import {hoverable} from "./panel.js";
import {openZoom} from "./zoom.js";

// A map's side on screen follows the network column: about 7 maps a row (10 for layers with
// more than 8 maps), 48-360 px, in whole pixels per value so every value stays a square.
export function mapScale(h, c) {
  const width = $("#layers").clientWidth || 600;
  const side = Math.min(360, Math.max(48, width / (c > 8 ? 10 : 7)));
  return Math.max(1, Math.floor(side / h));
}

// 256 colours, one per byte of map i (value lo[i] + byte · (hi[i] − lo[i]) / 255) against the
// range lo..hi, packed as RGBA words: painting is then one table read a pixel.
function table(layer, i, lo, hi) {
  const out = new Uint32Array(256), base = layer.lo[i], step = (layer.hi[i] - base) / 255;
  for (let b = 0; b < 256; b++) {
    const [r, g, bl] = colour(base + b * step, lo, hi);
    out[b] = (255 << 24 | Math.round(bl) << 16 | Math.round(g) << 8 | Math.round(r)) >>> 0;
  }
  return out;
}

// Paint map i of a layer's bytes (raw) on its canvas; little-endian RGBA, as every browser is.
function paintMap(canvas, layer, raw, i, lo, hi) {
  const n = canvas.width * canvas.height, ctx = canvas.getContext("2d");
  const img = ctx.createImageData(canvas.width, canvas.height), lut = table(layer, i, lo, hi);
  const px = new Uint32Array(img.data.buffer), start = i * n;
  for (let p = 0; p < n; p++) px[p] = lut[raw[start + p]];
  ctx.putImageData(img, 0, 0);
}

// The boxes of a map layer, made once per shape: canvas, channel label, range caption.
function buildMaps(div, layer) {
  const [c, h, w] = layer.shape, maps = el("div", undefined, "maps");
  Object.assign(maps.dataset, {c, h, w, shown: layer.shown});
  for (let i = 0; i < layer.shown; i++) {
    const m = el("div", undefined, "map");
    m.dataset.channel = i;
    setHTML(m, html`<canvas width="${w}" height="${h}"></canvas><span class="label">${i}</span>`,
      html`<span class="range"></span>`);
    const canvas = m.querySelector("canvas");
    hoverable(canvas, div.dataset.name, (x, y) => {
      const s = +m.dataset.scale;
      return [i, Math.min(h - 1, Math.floor(y / s)), Math.min(w - 1, Math.floor(x / s))];
    });
    canvas.addEventListener("click", () => openZoom(div.dataset.name, i));
    maps.appendChild(m);
  }
  div.querySelector(".body").replaceChildren(maps);
  sizeMaps(maps);
  return maps;
}

// Set every map's size from the column's width (again after the window is resized).
export function sizeMaps(maps) {
  const {c, h, w} = maps.dataset, s = mapScale(+h, +c);
  maps.classList.toggle("small", w * s < 64);  // too small for a caption: the title says it
  for (const m of maps.querySelectorAll(".map")) {
    m.dataset.scale = s;
    Object.assign(m.querySelector("canvas").style, {width: w * s + "px", height: h * s + "px"});
  }
  const rgb = maps.querySelector("canvas.rgb");
  if (rgb) Object.assign(rgb.style, {width: w * s + "px", height: h * s + "px"});
}

// Paint a map layer: each map against its range, the range under it and in its title.
export function drawMaps(div, layer) {
  const [c, h, w] = layer.shape, raw = bytes(layer.data);
  let maps = div.querySelector(".maps");
  if (!maps || +maps.dataset.shown !== layer.shown || +maps.dataset.h !== h) maps = buildMaps(div, layer);
  div.querySelector(".shown").textContent = layer.shown < c ? `(first ${layer.shown} of ${c} maps shown)` : "";
  maps.querySelectorAll(".map").forEach((m, i) => {
    const [lo, hi] = range(layer, i), text = `${num(lo)} … ${num(hi)}`;
    paintMap(m.querySelector("canvas"), layer, raw, i, lo, hi);
    m.querySelector(".range").textContent = text;
    m.title = `${div.dataset.name} map ${i}: colours span ${text} (own values ${num(layer.lo[i])} … ${num(layer.hi[i])})`;
  });
  legend(div, layer);
}

// The layer's colour legend: the colour ramp and the numbers at its ends (or "per map").
export function legend(div, layer) {
  let box = div.querySelector("h3 .legend");
  if (!box) { box = el("span", undefined, "legend"); div.querySelector("h3").append(box); }
  const mode = $("#scale").value, [lo, hi] = mode === "map" ? [layer.min, layer.max] : range(layer, 0);
  const stops = [lo, (lo + hi) / 2, hi].map((v) => `rgb(${colour(v, lo, hi).map(Math.round).join(",")})`);
  const ramp = el("span", undefined, "ramp");
  ramp.style.background = `linear-gradient(to right, ${stops.join(", ")})`;
  box.replaceChildren(num(lo), ramp, num(hi), mode === "map" ? " layer; each map: its own, under it" : "");
}

// An RGB input is also shown in colour, on the 0..255 scale, beside its three channels.
export function drawRGB(input) {
  const [, h, w] = input.shape, maps = document.querySelector('.layer[data-name="input"] .maps');
  if (!maps) return;
  let c = maps.querySelector("canvas.rgb");
  if (!c) {
    c = el("canvas", undefined, "rgb"); c.width = w; c.height = h; c.title = "the input in colour";
    maps.appendChild(c); sizeMaps(maps);
  }
  paintRGB(c, input.rgb, w, h);
}
