// What each layer learned (Zeiler & Fergus): for a chosen convolution, each channel's top test
// patches, cropped to the pixels its units see. The grid is drawn by the server
// (GET /api/features, convnet/web/features_api.py: the same picture as `convnet features`);
// the first request for a layer runs the whole test split, so the tab says it is working.
import {$, el, html, setHTML} from "./dom.js";
import {api} from "./api.js";
import {state} from "./state.js";

const view = {run: null, key: null, seq: 0};

function build() {
  setHTML($("#features"), html`<h3>what each layer learned</h3><div class="tools">
    <label>convolution <select id="features-layer"></select></label>
    <label>channels <select id="features-channels"><option>8</option><option selected>16</option>
      <option>32</option><option>64</option></select></label></div>
    <p class="note">each row: one channel and the test images that excite it most, each
      cropped to the receptive field of the unit where it peaked (grey: outside the image)</p>
    <div id="features-note" class="note"></div><img id="features-grid" alt="">`);
  $("#features-grid").style.maxWidth = "100%";
  $("#features-layer").onchange = refresh;
  $("#features-channels").onchange = refresh;
}

function chooseRun() {
  view.run = state.run;
  view.key = null;
  const convs = state.run.layers.filter((l) => l.kind === "conv");
  $("#features-layer").replaceChildren(...convs.map((l) => el("option", l.name)));
  if (!convs.length) $("#features-note").textContent = "this model has no convolution";
}

async function refresh() {
  const layer = $("#features-layer").value;
  const channels = $("#features-channels").value;
  const key = `${state.run.id}|${layer}|${channels}`;
  if (!layer || key === view.key) return;
  view.key = key;
  const seq = ++view.seq;
  $("#features-note").textContent = `searching the test split for ${layer}'s favourite patches…`;
  try {
    const q = new URLSearchParams({run: state.run.id, layer, channels});
    const data = await api(`/api/features?${q}`);
    if (seq !== view.seq) return;  // a later choice is on its way
    const [h, w] = data.field.size;
    $("#features-grid").src = data.image;
    $("#features-grid").alt = data.title;
    $("#features-note").textContent = `${data.shown.length} of ${data.channels} channels, ` +
      `${data.images} ${data.dataset} test images searched; each patch ${h}x${w} pixels, ` +
      `one unit to the next ${data.field.jump[0]} pixel(s)`;
  } catch (e) {
    if (seq !== view.seq) return;
    view.key = null;
    $("#features-grid").removeAttribute("src");
    $("#features-note").textContent = e.message;
  }
}

// The page's other modules own the run (state.js); the tab follows it while shown.
function follow() {
  if (!$("#tab-features").classList.contains("active") || !state.run) return;
  if (view.run !== state.run) chooseRun();
  refresh();
}

build();
setInterval(follow, 300);
