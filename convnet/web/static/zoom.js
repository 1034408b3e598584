// A map opened large: click any map; its units can be hovered there too. Esc, ✕ or a click
// outside closes it. It repaints from the small map after every update (refreshZoom).
import {$, el} from "./dom.js";
import {hoverable} from "./panel.js";

let open = null;  // {layer, channel} of the map shown large

function box() {
  let z = $("#zoom");
  if (z) return z;
  z = el("div"); z.id = "zoom"; z.hidden = true;
  const close = el("button", "✕", "close"); close.title = "close (Esc)";
  close.onclick = closeZoom;
  z.append(el("div", "", "title"), close, el("canvas"), el("div", "", "legend"));
  document.body.appendChild(z);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeZoom(); });
  document.addEventListener("pointerdown", (e) => {
    if (open && !z.contains(e.target) && !e.target.closest(".map")) closeZoom();
  });
  return z;
}

export function closeZoom() { const z = $("#zoom"); if (z) z.hidden = true; open = null; }

// Show map ``channel`` of ``layer`` large, hoverable unit by unit.
export function openZoom(layer, channel) {
  const z = box(), small = mapCanvas(layer, channel);
  if (!small) return;
  open = {layer, channel};
  const big = z.querySelector("canvas"), h = small.height, w = small.width;
  big.replaceWith(big.cloneNode());  // drop the previous map's hover handlers
  const canvas = z.querySelector("canvas");
  canvas.width = w; canvas.height = h;
  const side = Math.min(window.innerWidth * 0.8, window.innerHeight * 0.7, 640);
  const s = Math.max(1, Math.floor(side / Math.max(h, w)));
  Object.assign(canvas.style, {width: w * s + "px", height: h * s + "px"});
  hoverable(canvas, layer, (x, y) => [channel, Math.min(h - 1, Math.floor(y / s)), Math.min(w - 1, Math.floor(x / s))]);
  z.hidden = false;
  refreshZoom();
}

// Repaint the open zoom from its small map (after an update, or a change of colour scale).
export function refreshZoom() {
  if (!open) return;
  const z = $("#zoom"), small = mapCanvas(open.layer, open.channel);
  if (!small) { closeZoom(); return; }
  const canvas = z.querySelector("canvas");
  canvas.getContext("2d").drawImage(small, 0, 0);
  z.querySelector(".title").textContent = `${open.layer} · map ${open.channel} · ${small.height}×${small.width}`;
  const map = small.closest(".map"), ramp = small.closest(".layer").querySelector("h3 .legend .ramp");
  const legend = z.querySelector(".legend");
  legend.replaceChildren(map.querySelector(".range").textContent.split(" … ")[0],
    ramp ? ramp.cloneNode() : "", map.querySelector(".range").textContent.split(" … ")[1] || "");
}

function mapCanvas(layer, channel) {
  return document.querySelector(`.layer[data-name="${CSS.escape(layer)}"] .map[data-channel="${channel}"] canvas`);
}
