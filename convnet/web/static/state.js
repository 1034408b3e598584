// Everything the page remembers, in one object.
export const state = {
  runs: [], run: null,  // the runs served (GET /api/runs) and the one shown
  acts: null, image: null,  // the latest /api/activations answer and the image it was for
  imageSeq: 0,  // ... counted: a layer painted for an earlier one is stale (faded)
  filters: null,  // GET /api/filters of the run shown
  inflight: false, dirty: false,  // one /api/activations at a time; dirty: draw again after it
  hidden: new Set(),  // layers unticked under "layers shown"
  hover: null, unitSeq: 0,  // the unit inspected; the latest /api/unit request's number
  netRange: [0, 1],  // the whole network's value range ("whole network" colour scale)
  drawing: false,  // a pointer is down on the pad
  source: null,  // a clicked test image's data URL; null: what is on the pad is sent
  sourceLabel: null,  // ... and its true class
  invert: null,  // the "ink" control: null detects (digit runs), true inverts, false keeps
  sent: null,  // run, invert and image of the last /api/activations asked: never ask twice
};
