// Connection lines (as in Adam Harley's visualization): from the unit being inspected to the
// corners of every window it reads in the layer before, drawn over the network tab. They
// follow the panel's marks (.selected, .outline, .winner: panel.js) whenever those change.
import {$} from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

// Watch the network tab for new marks and draw the lines (once per frame at most).
export function setupLines() {
  const tab = $("#tab-network"), svg = document.createElementNS(SVG, "svg");
  svg.id = "lines"; svg.setAttribute("aria-hidden", "true");
  tab.appendChild(svg);
  let queued = false;
  const later = () => { if (!queued) { queued = true; requestAnimationFrame(() => { queued = false; drawLines(); }); } };
  new MutationObserver((records) => {
    if (records.some((r) => [...r.addedNodes, ...r.removedNodes].some(isMark))) later();
  }).observe($("#layers"), {childList: true, subtree: true});
  window.addEventListener("resize", later);
}

function isMark(node) { return node.classList && /\b(selected|outline|winner)\b/.test(node.className); }

// One line from the inspected unit's centre to each corner of each window it reads.
export function drawLines() {
  const svg = $("#lines"), tab = $("#tab-network"), unit = $("#layers .selected");
  svg.replaceChildren();
  if (!unit) return;
  const origin = tab.getBoundingClientRect(), u = unit.getBoundingClientRect();
  svg.setAttribute("width", tab.scrollWidth); svg.setAttribute("height", tab.scrollHeight);
  const ux = u.left + u.width / 2 - origin.left, uy = u.top + u.height / 2 - origin.top;
  for (const box of document.querySelectorAll("#layers .outline")) {
    const r = box.getBoundingClientRect(), stroke = getComputedStyle(box).borderTopColor;
    const corners = r.width > 4 || r.height > 4
      ? [[r.left, r.top], [r.right, r.top], [r.left, r.bottom], [r.right, r.bottom]]
      : [[r.left + r.width / 2, r.top + r.height / 2]];
    for (const [x, y] of corners) {
      const line = document.createElementNS(SVG, "line");
      line.setAttribute("x1", ux); line.setAttribute("y1", uy);
      line.setAttribute("x2", x - origin.left); line.setAttribute("y2", y - origin.top);
      line.setAttribute("stroke", stroke); line.setAttribute("class", "link");
      svg.appendChild(line);
    }
  }
}
