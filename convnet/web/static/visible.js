// Which layers the page draws now: those on screen and not unticked. Only these are asked for (POST /api/activations "layers"); a layer scrolled into
// view later is filled in by its own small request (onScrolled).
import {$} from "./dom.js";
import {state} from "./state.js";

// The names of the layers on screen, plus those every update needs: the last layer (the class
// bars) and the first layer reading the image (the kernel playground's feature maps).
export function wanted() {
  const names = new Set();
  for (const div of document.querySelectorAll("#layers .layer")) {
    if (div.hidden || div.dataset.name === "input") continue;
    const r = div.getBoundingClientRect();
    if (r.height && r.bottom > 0 && r.top < window.innerHeight) names.add(div.dataset.name);
  }
  const layers = state.run.layers;
  names.add(layers[layers.length - 1].name);
  const first = layers.find((l) => l.source === "input" && l.kind === "conv");
  if (first) names.add(first.name);
  return [...names];
}

// The layers wanted now that the latest answer does not hold: what a scroll brought into view.
export function missing() {
  if (!state.acts) return [];
  const have = new Set(state.acts.layers.map((l) => l.name));
  return wanted().filter((n) => !have.has(n));
}

// Call ``fill`` once scrolling or resizing has paused (a tenth of a second).
export function onScrolled(fill) {
  let timer = null;
  const later = () => { clearTimeout(timer); timer = setTimeout(fill, 100); };
  window.addEventListener("scroll", later, {passive: true});
  window.addEventListener("resize", later);
  $("#toggles").addEventListener("change", later);
}
