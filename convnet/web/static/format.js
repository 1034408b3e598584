// Numbers and colours as the page shows them.

// A number to 3 significant digits (the panel's matrices); anything else unchanged.
export function num(v, digits = 3) { return typeof v === "number" ? +v.toPrecision(digits) : v; }

// A probability as a percentage: 0.9614 -> "96.1 %".
export function percent(p) { return `${(100 * p).toFixed(1)} %`; }

// Values with both signs: blue (negative) - black - orange (positive); else black -> white.
export function colour(v, lo, hi) {
  if (lo < 0 && hi > 0) {
    const m = Math.max(-lo, hi), t = Math.min(1, Math.abs(v) / m);
    return v >= 0 ? [255 * t, 160 * t, 40 * t] : [60 * t, 140 * t, 255 * t];
  }
  const t = hi > lo ? (v - lo) / (hi - lo) : 0;
  return [255 * t, 255 * t, 255 * t];
}
