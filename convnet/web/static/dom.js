// DOM building: elements with text, and the one door to innerHTML (html`...` and setHTML).
// Server strings (class names, run ids, formulas) reach the page as text or escaped here.

export const $ = (sel) => document.querySelector(sel);

// An element with text (never parsed as HTML).
export function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

// Markup is only ever written through html`...`, which escapes every ${value}: a class folder
// named <img onerror=...> is text, not a tag. A nested html`...` (or a list of them) goes in as
// built; setHTML refuses anything else, so a plain string cannot reach innerHTML by mistake.
class Html { constructor(s) { this.s = s; } toString() { return this.s; } }
const ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};

function esc(v) {
  if (v instanceof Html) return v.s;
  if (Array.isArray(v)) return v.map(esc).join("");
  return String(v ?? "").replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

export function html(strings, ...values) {
  return new Html(strings.reduce((out, s, i) => out + esc(values[i - 1]) + s));
}

export function setHTML(node, ...parts) {
  if (!parts.every((p) => p instanceof Html)) throw new TypeError("setHTML takes html`...` only");
  node.innerHTML = parts.map((p) => p.s).join("");
}
