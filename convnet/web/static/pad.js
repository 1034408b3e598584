// The drawing pad: pencil, eraser, clear and upload; what it holds is sent as a small PNG.
import {$} from "./dom.js";
import {state} from "./state.js";

export const pad = $("#pad"), ctx = pad.getContext("2d");

export function clearPad() { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height); }

// onStart: the pad becomes the input (a drawing or an upload begins); onChange: it changed.
export function setupPad(onStart, onChange) {
  const stroke = (e, start) => {
    const r = pad.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
    const eraser = document.querySelector("input[name=tool]:checked").value === "eraser";
    ctx.strokeStyle = eraser ? "#000" : "#fff"; ctx.lineWidth = +$("#brush").value;
    ctx.lineCap = ctx.lineJoin = "round";
    if (start) { ctx.beginPath(); ctx.moveTo(x, y); }
    ctx.lineTo(x, y); ctx.stroke();
    onChange();
  };
  pad.addEventListener("pointerdown", (e) => {
    state.drawing = true; pad.setPointerCapture(e.pointerId); onStart(); stroke(e, true);
  });
  pad.addEventListener("pointermove", (e) => { if (state.drawing) stroke(e, false); });
  pad.addEventListener("pointerup", () => { state.drawing = false; onChange(); });
  $("#clear").onclick = () => { onStart(); clearPad(); onChange(); };
  $("#upload").onchange = (e) => {
    const file = e.target.files[0]; if (!file) return;
    const img = new Image();
    img.onload = () => {
      onStart(); clearPad();
      const k = Math.min(pad.width / img.width, pad.height / img.height);
      const w = img.width * k, h = img.height * k;
      ctx.drawImage(img, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
      state.source = asItIs(img);  // the pad shows it letterboxed; the server gets it unpadded
      URL.revokeObjectURL(img.src); onChange();
    };
    img.onerror = () => { $("#status").textContent = "that file is not an image the browser can read"; };
    img.src = URL.createObjectURL(file);
  };
}

// An uploaded image at its own aspect ratio (longer side at most 1024 px) as a data URL: black
// letterbox bars around a dark-on-light photo would hide which way round its ink is. Small
// images go as PNG (transparency kept), photos as JPEG (small to send).
function asItIs(img) {
  const k = Math.min(1, 1024 / Math.max(img.width, img.height)), c = document.createElement("canvas");
  c.width = Math.max(1, Math.round(img.width * k)); c.height = Math.max(1, Math.round(img.height * k));
  c.getContext("2d").drawImage(img, 0, 0, c.width, c.height);
  return Math.max(c.width, c.height) <= 512 ? c.toDataURL("image/png") : c.toDataURL("image/jpeg", 0.92);
}

// The pad, halved to 140x140, as a PNG data URL: small and quick to send.
export function padImage() {
  const small = document.createElement("canvas");
  small.width = small.height = 140;
  small.getContext("2d").drawImage(pad, 0, 0, 140, 140);
  return small.toDataURL("image/png");
}

export function padIsBlank() {
  const d = ctx.getImageData(0, 0, pad.width, pad.height).data;
  for (let i = 0; i < d.length; i += 4) if (d[i] || d[i + 1] || d[i + 2]) return false;
  return true;
}
