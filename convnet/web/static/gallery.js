// The run's own test images to click (GET /api/samples).
import {$, el} from "./dom.js";
import {api} from "./api.js";
import {clearPad, ctx, pad} from "./pad.js";
import {state} from "./state.js";

function unmark() {
  document.querySelectorAll("#gallery .chosen").forEach((e) => e.classList.remove("chosen"));
}

// The pad is the input again (the user draws or uploads): forget the clicked test image.
export function useThePad() { state.source = null; unmark(); $("#truth").textContent = ""; }

// A test image becomes the input: shown on the pad, but its original pixels are what is sent.
export function choose(sample, button) {
  state.source = sample.image; state.sourceLabel = sample.label;
  unmark(); button.classList.add("chosen");
  $("#truth").textContent = `true class: ${sample.label} (test image #${sample.index})`;
  const img = new Image();
  img.onload = () => {
    clearPad(); ctx.imageSmoothingEnabled = false;  // big, sharp pixels
    const k = Math.min(pad.width / img.width, pad.height / img.height), w = img.width * k, h = img.height * k;
    ctx.drawImage(img, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
    ctx.imageSmoothingEnabled = true;
  };
  img.src = sample.image;
}

// The run's own test images as buttons (onClick(sample, button)), or one line saying why
// there are none; returns the samples.
export async function loadGallery(run, onClick) {
  const box = $("#gallery-box"), root = $("#gallery");
  root.replaceChildren(); $("#gallery-note").textContent = "";
  if (run.input_shape[0] === 3) $("#side").prepend(box);  // a colour run: photos come first
  else $("#upload-tools").after(box);
  let g;
  try { g = await api(`/api/samples?run=${encodeURIComponent(run.id)}&n=24`); }
  catch (err) { g = {samples: [], note: err.message}; }
  if (state.run !== run) return [];  // another run was chosen meanwhile
  $("#gallery-note").textContent = g.note || `test images of ${g.dataset}: click one`;
  for (const sample of g.samples) {
    if (!sample.image.startsWith("data:image/png;base64,")) continue;
    const button = el("button", undefined, "sample"), img = el("img");
    img.src = sample.image; img.alt = sample.label;
    button.title = `${sample.label} (test image #${sample.index})`;
    button.append(img); button.onclick = () => onClick(sample, button);
    root.append(button);
  }
  return g.samples;
}
