// datasetgan annotation studio: paint class masks on sampled images (no framework, no build step).
// Labels live in a Uint8Array [H * W] of class ids (255 = not annotated); the mask layer draws them
// in palette colours; saves are 8-bit grey PNGs (class ids) encoded here.
"use strict";

const NOT_ANNOTATED = 255;
const $ = (id) => document.getElementById(id);
const S = {
  names: [], palette: [], H: 0, W: 0, samples: [], index: -1, id: null,
  labels: null, pixels: null, version: 0, dirty: false, undo: [], redo: [],
  tool: "brush", cls: 0, size: 3, tolerance: 24, opacity: 0.55,
  zoom: 1, panX: 0, panY: 0, polygon: [], painting: false, last: null, panning: null,
  savedHere: new Set(), hasInterpreter: false,
};

// ---------------------------------------------------------------- HTTP ----
async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok && response.status !== 404) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response;
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`cannot load ${url}`));
    img.src = url;
  });
}

function pixelsOf(img) {
  const c = document.createElement("canvas");
  c.width = img.width; c.height = img.height;
  const ctx = c.getContext("2d");
  ctx.drawImage(img, 0, 0);
  return ctx.getImageData(0, 0, img.width, img.height).data;
}

// --------------------------------------------------------- PNG encoding ----
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  const typed = new TextEncoder().encode(type);
  out.set(typed, 4); out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

async function zlib(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function encodeGreyPng(values, width, height) {
  const raw = new Uint8Array((width + 1) * height);
  for (let y = 0; y < height; y++) raw.set(values.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width); view.setUint32(4, height);
  header.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale, no interlace
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", header),
                 chunk("IDAT", await zlib(raw)), chunk("IEND", new Uint8Array(0))];
  return new Blob(parts, { type: "image/png" });
}

// ------------------------------------------------------------- drawing ----
function drawMask() {
  const canvas = $("mask-layer");
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(S.W, S.H);
  const alpha = Math.round(S.opacity * 255);
  for (let p = 0; p < S.labels.length; p++) {
    const k = S.labels[p];
    if (k === NOT_ANNOTATED) continue;
    const [r, g, b] = S.palette[k];
    img.data.set([r, g, b, alpha], p * 4);
  }
  ctx.putImageData(img, 0, 0);
  updateCounts();
}

function updateCounts() {
  const counts = new Array(S.names.length).fill(0);
  for (const k of S.labels) if (k !== NOT_ANNOTATED) counts[k]++;
  document.querySelectorAll("#palette li").forEach((li, k) => {
    li.querySelector(".count").textContent = counts[k];
  });
  const done = S.labels.length - counts.reduce((a, b) => a + b, 0);
  $("status-line").textContent = `${S.W}x${S.H} px, ${done} not annotated` + (S.dirty ? " (unsaved)" : "");
}

function applyTransform() {
  $("layers").style.transform = `translate(${S.panX}px, ${S.panY}px) scale(${S.zoom})`;
}

function fit() {
  const v = $("viewport");
  S.zoom = Math.max(1, Math.floor(Math.min(v.clientWidth / S.W, v.clientHeight / S.H) * 0.95));
  S.panX = (v.clientWidth - S.W * S.zoom) / 2;
  S.panY = (v.clientHeight - S.H * S.zoom) / 2;
  applyTransform();
}

function toPixel(event) {
  const rect = $("viewport").getBoundingClientRect();
  const x = (event.clientX - rect.left - S.panX) / S.zoom;
  const y = (event.clientY - rect.top - S.panY) / S.zoom;
  return [Math.floor(x), Math.floor(y)];
}

function remember() {
  S.undo.push(S.labels.slice());
  if (S.undo.length > 60) S.undo.shift();
  S.redo = [];
}

function markDirty() { S.dirty = true; drawMask(); }

function stamp(x, y, value) {
  const r = S.size / 2;
  for (let dy = Math.floor(-r); dy <= Math.ceil(r); dy++) {
    for (let dx = Math.floor(-r); dx <= Math.ceil(r); dx++) {
      if (S.size > 1 && dx * dx + dy * dy > r * r) continue;
      const px = x + dx, py = y + dy;
      if (px >= 0 && py >= 0 && px < S.W && py < S.H) S.labels[py * S.W + px] = value;
    }
  }
}

function strokeTo(x, y, value) {
  const [x0, y0] = S.last || [x, y];
  const steps = Math.max(1, Math.ceil(Math.hypot(x - x0, y - y0) / Math.max(0.5, S.size / 3)));
  for (let i = 1; i <= steps; i++) {
    stamp(Math.round(x0 + ((x - x0) * i) / steps), Math.round(y0 + ((y - y0) * i) / steps), value);
  }
  S.last = [x, y];
}

function floodFill(x, y) {
  const start = y * S.W + x;
  const seedLabel = S.labels[start];
  if (seedLabel === S.cls) return;
  const seed = S.pixels.subarray(start * 4, start * 4 + 3);
  const tol = S.tolerance;
  const seen = new Uint8Array(S.labels.length);
  const stack = [start];
  seen[start] = 1;
  while (stack.length) {
    const p = stack.pop();
    S.labels[p] = S.cls;
    const px = p % S.W, py = (p - px) / S.W;
    for (const [nx, ny] of [[px + 1, py], [px - 1, py], [px, py + 1], [px, py - 1]]) {
      if (nx < 0 || ny < 0 || nx >= S.W || ny >= S.H) continue;
      const q = ny * S.W + nx;
      if (seen[q] || S.labels[q] !== seedLabel) continue;
      const d = Math.max(...[0, 1, 2].map((c) => Math.abs(S.pixels[q * 4 + c] - seed[c])));
      if (d > tol) continue;
      seen[q] = 1;
      stack.push(q);
    }
  }
}

function fillPolygon(points) {
  const c = document.createElement("canvas");
  c.width = S.W; c.height = S.H;
  const ctx = c.getContext("2d");
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(x + 0.5, y + 0.5) : ctx.moveTo(x + 0.5, y + 0.5)));
  ctx.closePath();
  ctx.fillStyle = "#fff";
  ctx.fill();
  const a = ctx.getImageData(0, 0, S.W, S.H).data;
  for (let p = 0; p < S.labels.length; p++) if (a[p * 4 + 3] >= 128) S.labels[p] = S.cls;
}

function drawPolygonPreview(cursor) {
  const canvas = $("draw-layer");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!S.polygon.length) return;
  const pts = cursor ? [...S.polygon, cursor] : S.polygon;
  ctx.strokeStyle = `rgb(${S.palette[S.cls].join(",")})`;
  ctx.lineWidth = 1 / S.zoom;
  ctx.beginPath();
  pts.forEach(([x, y], i) => (i ? ctx.lineTo(x + 0.5, y + 0.5) : ctx.moveTo(x + 0.5, y + 0.5)));
  ctx.stroke();
}

function closePolygon() {
  if (S.polygon.length >= 3) { remember(); fillPolygon(S.polygon); markDirty(); }
  S.polygon = [];
  drawPolygonPreview(null);
}

// -------------------------------------------------------------- pointer ----
function onPointerDown(event) {
  if (!S.labels) return;
  if (event.button === 1 || (event.button === 0 && event.getModifierState("Shift"))) {
    S.panning = [event.clientX - S.panX, event.clientY - S.panY];
    return;
  }
  if (event.button !== 0) return;
  const [x, y] = toPixel(event);
  if (x < 0 || y < 0 || x >= S.W || y >= S.H) return;
  if (S.tool === "brush" || S.tool === "eraser") {
    remember();
    S.painting = true; S.last = null;
    strokeTo(x, y, S.tool === "brush" ? S.cls : NOT_ANNOTATED);
    markDirty();
  } else if (S.tool === "fill") {
    remember(); floodFill(x, y); markDirty();
  } else if (S.tool === "picker") {
    const k = S.labels[y * S.W + x];
    if (k !== NOT_ANNOTATED) selectClass(k);
  } else if (S.tool === "polygon") {
    if (event.detail >= 2) closePolygon(); else { S.polygon.push([x, y]); drawPolygonPreview(null); }
  }
}

function onPointerMove(event) {
  if (S.panning) {
    S.panX = event.clientX - S.panning[0]; S.panY = event.clientY - S.panning[1];
    applyTransform();
    return;
  }
  if (!S.labels) return;
  const [x, y] = toPixel(event);
  if (S.painting) { strokeTo(x, y, S.tool === "brush" ? S.cls : NOT_ANNOTATED); drawMask(); }
  if (S.tool === "polygon" && S.polygon.length) drawPolygonPreview([x, y]);
  if (x >= 0 && y >= 0 && x < S.W && y < S.H) {
    const k = S.labels[y * S.W + x];
    $("status-line").textContent = `(${x}, ${y}) ${k === NOT_ANNOTATED ? "not annotated" : S.names[k]}` + (S.dirty ? " (unsaved)" : "");
  }
}

function onPointerUp() {
  if (S.painting) { S.painting = false; S.last = null; markDirty(); }
  S.panning = null;
}

function onWheel(event) {
  event.preventDefault();
  const rect = $("viewport").getBoundingClientRect();
  const mx = event.clientX - rect.left, my = event.clientY - rect.top;
  const factor = event.deltaY < 0 ? 1.25 : 0.8;
  const zoom = Math.min(64, Math.max(0.5, S.zoom * factor));
  S.panX = mx - ((mx - S.panX) * zoom) / S.zoom;
  S.panY = my - ((my - S.panY) * zoom) / S.zoom;
  S.zoom = zoom;
  applyTransform();
}

// -------------------------------------------------------------- samples ----
function banner(text) {
  const b = $("banner");
  b.hidden = !text;
  b.textContent = text || "";
}

async function loadSamples() {
  S.samples = await (await api("/api/samples")).json();
  const nav = $("queue");
  nav.innerHTML = "";
  S.samples.forEach((s, i) => {
    const div = document.createElement("div");
    div.className = `thumb ${s.status}` + (s.id === S.id ? " current" : "");
    div.dataset.id = s.id;
    const score = s.score === null || s.score === undefined ? "" : ` ${s.score.toFixed(3)}`;
    div.innerHTML = `<img alt="" src="/api/samples/${s.id}/image"><div><div>#${s.id}</div><div class="meta">${score}</div></div>`;
    div.onclick = () => goTo(i);
    nav.appendChild(div);
  });
  const done = S.samples.filter((s) => s.status === "done").length;
  $("progress-text").textContent = `${done} of ${S.samples.length} annotated`;
}

async function decodeIndexPng(url) {
  const response = await api(url);
  if (response.status === 404) return null;
  const img = await loadImage(URL.createObjectURL(await response.blob()));
  const rgba = pixelsOf(img);
  const out = new Uint8Array(S.W * S.H);
  for (let p = 0; p < out.length; p++) out[p] = rgba[p * 4];
  return out;
}

async function goTo(index) {
  if (index < 0 || index >= S.samples.length) return;
  if (S.dirty) await save();
  const id = S.samples[index].id;
  S.index = index; S.id = id; S.undo = []; S.redo = []; S.polygon = []; S.savedHere.clear();
  banner("");
  const img = await loadImage(`/api/samples/${id}/image`);
  const imageLayer = $("image-layer");
  imageLayer.getContext("2d").drawImage(img, 0, 0);
  S.pixels = pixelsOf(img);
  const saved = await decodeIndexPng(`/api/annotations/${id}?as=index`);
  S.labels = saved || new Uint8Array(S.W * S.H).fill(NOT_ANNOTATED);
  S.version = (await (await api(`/api/annotations/${id}/version`)).json()).version;
  S.dirty = false;
  $("sample-id").textContent = `#${id}`;
  document.querySelectorAll(".thumb").forEach((t) => t.classList.toggle("current", Number(t.dataset.id) === id));
  drawMask();
}

async function save() {
  if (!S.labels) return;
  const body = await encodeGreyPng(S.labels, S.W, S.H);
  const response = await api(`/api/annotations/${S.id}`, {
    method: "PUT", body, headers: { "Content-Type": "image/png", "If-Match": String(S.version) },
  });
  const result = await response.json();
  S.version = result.version;
  S.savedHere.add(result.version);
  S.dirty = false;
  if (result.replaced_other_save) banner(`Saved over a mask another tab saved meanwhile (sample #${S.id}).`);
  await loadSamples();
  updateCounts();
}

async function pollVersion() {
  if (S.id === null) return;
  try {
    const { version } = await (await api(`/api/annotations/${S.id}/version`)).json();
    if (version !== S.version && !S.savedHere.has(version)) {
      banner(`Sample #${S.id} was saved from another tab after you opened it; the later save wins. Reopen it to see that version.`);
    }
  } catch (e) { /* server gone: the next action says so */ }
}

async function prelabel() {
  const labels = await decodeIndexPng(`/api/samples/${S.id}/prelabel?as=index`);
  if (!labels) return;
  remember();
  S.labels = labels;
  markDirty();
}

async function skip() {
  await api(`/api/samples/${S.id}/status`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ status: "skipped" }),
  });
  S.dirty = false;
  await loadSamples();
  await goTo(Math.min(S.index + 1, S.samples.length - 1));
}

async function retrain() {
  try {
    await api("/api/retrain", { method: "POST" });
  } catch (e) { banner(String(e.message)); return; }
  $("retrain-bar").hidden = false;
  const timer = setInterval(async () => {
    const job = await (await api("/api/retrain")).json();
    $("retrain-bar").max = Math.max(1, job.total);
    $("retrain-bar").value = job.done;
    $("retrain-text").textContent = `${job.what} ${job.done}/${job.total} ${job.message}`;
    if (job.state !== "running") {
      clearInterval(timer);
      $("retrain-bar").hidden = true;
      $("retrain-text").textContent = job.state === "done" ? `retrained: ${job.message}` : `retrain failed: ${job.message}`;
      S.hasInterpreter = S.hasInterpreter || job.state === "done";
      $("prelabel").disabled = !S.hasInterpreter;
      await loadSamples();
    }
  }, 1000);
}

// --------------------------------------------------------------- controls ----
const CLASS_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];

function selectClass(k) {
  S.cls = k;
  document.querySelectorAll("#palette li").forEach((li, i) => li.classList.toggle("active", i === k));
}

function selectTool(tool) {
  if (S.tool === "polygon" && tool !== "polygon") closePolygon();
  S.tool = tool;
  document.querySelectorAll("#tool-buttons button").forEach((b) => b.classList.toggle("active", b.dataset.tool === tool));
}

function buildPalette() {
  const ul = $("palette");
  S.names.forEach((name, k) => {
    const li = document.createElement("li");
    const key = k < 10 ? CLASS_KEYS[k] : k < 20 ? `⇧${CLASS_KEYS[k - 10]}` : "";
    li.innerHTML = `<span class="key">${key}</span><span class="swatch" style="background: rgb(${S.palette[k].join(",")})"></span><span>${name}</span><span class="count">0</span>`;
    li.onclick = () => selectClass(k);
    ul.appendChild(li);
  });
  selectClass(0);
}

function undoRedo(from, to) {
  if (!from.length) return;
  to.push(S.labels.slice());
  S.labels = from.pop();
  markDirty();
}

function onKey(event) {
  if (event.target.tagName === "INPUT") return;
  const ctrl = event.ctrlKey || event.metaKey;
  if (ctrl && event.key.toLowerCase() === "z") { event.preventDefault(); undoRedo(S.undo, S.redo); return; }
  if (ctrl && event.key.toLowerCase() === "y") { event.preventDefault(); undoRedo(S.redo, S.undo); return; }
  if (event.code.startsWith("Digit")) {
    const k = (Number(event.code.slice(5)) + 9) % 10 + (event.shiftKey ? 10 : 0);
    if (k < S.names.length) selectClass(k);
    return;
  }
  const tools = { b: "brush", e: "eraser", f: "fill", p: "polygon", i: "picker" };
  const key = event.key.toLowerCase();
  if (tools[key]) selectTool(tools[key]);
  else if (key === "s") { event.preventDefault(); save(); }
  else if (key === "k") skip();
  else if (key === "l" && S.hasInterpreter) prelabel();
  else if (key === "arrowright") goTo(S.index + 1);
  else if (key === "arrowleft") goTo(S.index - 1);
  else if (key === "enter" && S.tool === "polygon") closePolygon();
  else if (key === "escape") { S.polygon = []; drawPolygonPreview(null); }
  else if (key === "0" || key === "home") fit();
  else if (key === "[" || key === "]") {
    S.size = Math.min(32, Math.max(1, S.size + (key === "]" ? 1 : -1)));
    $("size").value = S.size; $("size-value").textContent = S.size;
  }
}

async function start() {
  const classes = await (await api("/api/classes")).json();
  S.names = classes.names; S.palette = classes.palette; [S.H, S.W] = classes.size;
  S.hasInterpreter = classes.interpreter;
  for (const id of ["image-layer", "mask-layer", "draw-layer"]) { $(id).width = S.W; $(id).height = S.H; }
  buildPalette();
  selectTool("brush");
  $("prelabel").disabled = !S.hasInterpreter;
  const v = $("viewport");
  v.addEventListener("pointerdown", onPointerDown);
  window.addEventListener("pointermove", onPointerMove);
  window.addEventListener("pointerup", onPointerUp);
  v.addEventListener("wheel", onWheel, { passive: false });
  document.addEventListener("keydown", onKey);
  document.querySelectorAll("#tool-buttons button").forEach((b) => (b.onclick = () => selectTool(b.dataset.tool)));
  $("save").onclick = save;
  $("next").onclick = () => goTo(S.index + 1);
  $("prev").onclick = () => goTo(S.index - 1);
  $("skip").onclick = skip;
  $("prelabel").onclick = prelabel;
  $("clear").onclick = () => { remember(); S.labels.fill(NOT_ANNOTATED); markDirty(); };
  $("undo").onclick = () => undoRedo(S.undo, S.redo);
  $("redo").onclick = () => undoRedo(S.redo, S.undo);
  $("zoom-fit").onclick = fit;
  $("retrain").onclick = retrain;
  $("size").oninput = (e) => { S.size = Number(e.target.value); $("size-value").textContent = S.size; };
  $("tolerance").oninput = (e) => (S.tolerance = Number(e.target.value));
  $("opacity").oninput = (e) => { S.opacity = Number(e.target.value) / 100; drawMask(); };
  window.addEventListener("beforeunload", (event) => { if (S.dirty) { event.preventDefault(); event.returnValue = ""; } });
  setInterval(pollVersion, 3000);
  await loadSamples();
  fit();
  const first = S.samples.findIndex((s) => s.status === "todo");
  await goTo(first >= 0 ? first : 0);
  document.body.dataset.ready = "1";
}

start().catch((e) => banner(`Cannot start: ${e.message}`));
