// Units beyond tokens (images, audio, characters, requests), as the usage, ranking and
// request-log rows carry them, in words.

import { count } from "./api.js";

const plural = (n, one, many) => `${count(n)} ${n === 1 ? one : many}`;
const LABELS = {
  image: (n) => plural(n, "image", "images"),
  audio_ms: (n) => `${(n / 1000).toFixed(1)} s audio`,
  character: (n) => plural(n, "char", "chars"),
  request: (n) => plural(n, "request", "requests"),
};

const label = (unit, n) => (LABELS[unit] || ((q) => `${count(q)} ${unit}`))(Number(n));

// {unit: quantity} (usage and ranking rows) -> "3 images · 49 chars"; "—" for none.
export const unitsText = (units) => Object.entries(units || {}).map(([unit, n]) => label(unit, n)).join(" · ") || "—";

// [{unit, variant, quantity}] (one request) -> "2 images (256x256/standard)".
export const usedText = (used) =>
  (used || []).map((u) => label(u.unit, u.quantity) + (u.variant ? ` (${u.variant})` : "")).join(" · ") || "—";
