// No trained run yet (`convnet serve` with no RUNDIR, on a fresh machine): the tabs that need a
// run say so, the drawing pad and unit inspector step aside (style.css: body.no-run), and the
// page opens on the Train tab. app.js lists the runs again as they appear (GET /api/runs, which
// serves each new run once it has saved a checkpoint: convnet/web/discover.py).
import {$, html, setHTML} from "./dom.js";

// The tabs that need a run, and the element each one's note goes before ("": at the top).
const NEEDS_A_RUN = {network: "", filters: "", kernels: "h3", slide: "", features: ""};

function note() {
  const p = document.createElement("p");
  p.className = "no-run-note";
  setHTML(p, html`no trained run yet: start one on the <a href="#" class="to-train">Train tab</a>,
    or run <code>convnet train lenet5</code>`);
  p.querySelector(".to-train").onclick = (e) => { e.preventDefault(); openTab("train"); };
  return p;
}

export function openTab(name) {
  document.querySelector(`#tabs button[data-tab=${name}]`).click();
}

// ``none``: no run to show (the notes appear, the Train tab opens); else the notes go.
export function showNoRun(none) {
  document.body.classList.toggle("no-run", none);
  $("#run").disabled = none;
  if (none && !document.querySelector(".no-run-note")) {
    for (const [tab, before] of Object.entries(NEEDS_A_RUN)) {
      const section = $(`#tab-${tab}`);
      section.insertBefore(note(), before ? section.querySelector(before) : section.firstChild);
    }
  }
  if (none) openTab("train");
}
