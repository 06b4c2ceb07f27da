// The prosody editor: a row of symbol boxes as wide as their durations with the pitch contour over them.
// Drag a box's right edge (duration), drag pitch points (Shift+click selects several), click a word (loudness);
// "Speak edits" sends the document to /api/prosody. Uses app.js's requestSpeech and setStatus (loaded before
// this file). One element per symbol and one per pitch point; a drag moves only
// what follows the edited box, so 500 symbols stay smooth.
"use strict";

const editorSection = $("editor");
const track = $("edit-track");
const pitchSvg = $("edit-pitch");
const pitchLine = $("edit-line");
const energyField = $("energy-field");
const energyInput = $("edit-energy");
const SVG_NS = "http://www.w3.org/2000/svg";
const PITCH_HEIGHT = 180; // px of the pitch area
const MAX_TRACK_PX = 30000; // a browser draws wider elements poorly
const HISTORY_LIMIT = 200;

const state = {
  doc: null, // the document being edited
  predicted: null, // the one the voice predicted (Reset)
  voice: null,
  past: [], // JSON of earlier documents (Undo)
  future: [], // JSON of undone documents (Redo)
  items: [], // one per box: {sentence, index} for a symbol, {sentence, pause: true} for a pause
  boxes: [],
  points: [], // {item, circle}
  selected: new Set(), // indexes into items of the selected pitch points
  words: [], // {el, sentence, word, first, last}: a word and its first and last box
  lefts: [], // x of each box
  word: null, // {sentence, word, base: [energies]} of the selected word
  px: 5, // pixels per frame
  hzLow: 80,
  hzHigh: 400,
};

function frames(item) {
  const sentence = state.doc.sentences[item.sentence];
  return item.pause ? sentence.pause_frames || 0 : sentence.symbols[item.index].frames || 0;
}

function setFrames(item, value) {
  const sentence = state.doc.sentences[item.sentence];
  if (item.pause) sentence.pause_frames = value;
  else {
    sentence.symbols[item.index].frames = value;
    sentence.symbols[item.index].ms = null; // frames rule; the server recomputes ms
  }
}

function symbolOf(item) {
  return item.pause ? null : state.doc.sentences[item.sentence].symbols[item.index];
}

const yOfHz = (hz) =>
  PITCH_HEIGHT * (1 - Math.log(hz / state.hzLow) / Math.log(state.hzHigh / state.hzLow));
const hzOfY = (y) => state.hzLow * (state.hzHigh / state.hzLow) ** (1 - y / PITCH_HEIGHT);

// --- building and laying out -------------------------------------------------------------------------------
// What the editor reads of a document, checked before anything is replaced: a file that is not one leaves the
// editor and its undo history as they were. The server checks the values themselves.
function documentProblem(doc) {
  if (!doc || typeof doc !== "object") return "it is not a JSON object";
  if (doc.format !== "fastpitch-prosody") return "it is not a fastpitch prosody document";
  if (!Array.isArray(doc.sentences) || !doc.sentences.length) return "it has no sentences";
  for (const [k, s] of doc.sentences.entries()) {
    const where = `sentence ${k + 1}`;
    if (!s || !Array.isArray(s.symbols) || !s.symbols.length) return `${where} has no symbols`;
    if (!Array.isArray(s.words)) return `${where} has no words`;
    for (const [i, sp] of s.symbols.entries()) {
      if (!sp || typeof sp.symbol !== "string") return `${where}, symbol ${i + 1} has no symbol`;
      if (sp.word !== null && !(Number.isInteger(sp.word) && sp.word >= 0 && sp.word < s.words.length))
        return `${where}, symbol ${i + 1}: its word is not one of the sentence's`;
      for (const field of ["frames", "pitch", "energy"])
        if (sp[field] != null && !Number.isFinite(sp[field])) return `${where}, symbol ${i + 1}: ${field} is not a number`;
    }
  }
  return null;
}

function showProsody(doc, voice) {
  state.predicted = JSON.stringify(doc);
  state.voice = voice ?? state.voice;
  state.past = [];
  state.future = [];
  load(doc);
}

function load(doc) {
  state.doc = doc;
  state.items = [];
  doc.sentences.forEach((sentence, s) => {
    sentence.symbols.forEach((_, i) => state.items.push({ sentence: s, index: i }));
    state.items.push({ sentence: s, pause: true });
  });
  const pitches = state.items.map(symbolOf).filter((sp) => sp && sp.pitch).map((sp) => sp.pitch);
  const lo = pitches.length ? Math.min(...pitches) : 100;
  const hi = pitches.length ? Math.max(...pitches) : 300;
  state.hzLow = lo / 1.6;
  state.hzHigh = hi * 1.6;
  const total = state.items.reduce((n, item) => n + frames(item), 0);
  state.px = Math.max(0.25, Math.min(5, MAX_TRACK_PX / Math.max(total * 1.5, 1))); // long texts: under 1 px a frame
  state.selected.clear();
  selectWord(null);
  build();
  editorSection.hidden = false;
  updateButtons();
}

function build() {
  for (const el of track.querySelectorAll(".edit-word, .edit-sym")) el.remove();
  pitchSvg.querySelectorAll("circle").forEach((c) => c.remove());
  state.boxes = state.items.map((item, k) => {
    const box = document.createElement("div");
    const sp = symbolOf(item);
    box.className = `edit-sym${item.pause ? " pause" : sp.word === null ? " silent" : ""}`;
    box.textContent = item.pause ? "pause" : sp.symbol;
    box.dataset.item = String(k);
    box.title = item.pause ? "silence after the sentence" : sp.symbol;
    const edge = document.createElement("div");
    edge.className = "edit-edge";
    edge.addEventListener("pointerdown", (event) => dragEdge(event, k));
    box.append(edge);
    track.append(box);
    return box;
  });
  state.words = [];
  state.doc.sentences.forEach((sentence, s) => {
    sentence.words.forEach((text, w) => {
      const el = document.createElement("div");
      el.className = "edit-word";
      el.textContent = text;
      el.dataset.sentence = String(s);
      el.dataset.word = String(w);
      el.addEventListener("click", () => selectWord({ sentence: s, word: w }));
      track.append(el);
      const own = state.items
        .map((item, k) => [item, k])
        .filter(([item]) => !item.pause && item.sentence === s && symbolOf(item).word === w)
        .map(([, k]) => k);
      if (own.length) state.words.push({ el, sentence: s, word: w, first: own[0], last: own[own.length - 1] });
    });
  });
  state.points = [];
  state.items.forEach((item, k) => {
    const sp = symbolOf(item);
    if (!sp || sp.pitch === null || sp.pitch === undefined) return;
    const circle = document.createElementNS(SVG_NS, "circle");
    circle.setAttribute("r", "5");
    circle.dataset.item = String(k);
    circle.addEventListener("pointerdown", (event) => dragPitch(event, k));
    pitchSvg.append(circle);
    state.points.push({ item: k, circle });
  });
  layout(0);
}

// Positions from box `from` on (a drag changes nothing before the box it edits).
function layout(from) {
  let x = 0;
  const lefts = [];
  state.items.forEach((item, k) => {
    lefts.push(x);
    const width = frames(item) * state.px;
    if (k >= from) {
      const box = state.boxes[k];
      box.style.left = `${x}px`;
      box.style.width = `${Math.max(width, 2)}px`;
    }
    x += width;
  });
  state.lefts = lefts;
  track.style.width = `${Math.max(x + 40, 200)}px`;
  pitchSvg.setAttribute("width", String(Math.max(x + 40, 200)));
  pitchSvg.setAttribute("height", String(PITCH_HEIGHT));
  for (const { el, first, last } of state.words) {
    el.style.left = `${lefts[first]}px`;
    el.style.width = `${Math.max(lefts[last] + frames(state.items[last]) * state.px - lefts[first], 2)}px`;
  }
  drawPitch();
}

function drawPitch() {
  const coords = state.points.map(({ item, circle }) => {
    const x = state.lefts[item] + (frames(state.items[item]) * state.px) / 2;
    const y = yOfHz(symbolOf(state.items[item]).pitch);
    circle.setAttribute("cx", x.toFixed(1));
    circle.setAttribute("cy", y.toFixed(1));
    circle.classList.toggle("selected", state.selected.has(item));
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  pitchLine.setAttribute("points", coords.join(" "));
}

// --- editing -----------------------------------------------------------------------------------------------
function commit(before) {
  if (before === JSON.stringify(state.doc)) return;
  state.past.push(before);
  if (state.past.length > HISTORY_LIMIT) state.past.shift();
  state.future = [];
  updateButtons();
}

// Follow the pointer from `event` until it is released: `move(dx, dy)` on each move, then one history entry.
function drag(event, move) {
  const before = JSON.stringify(state.doc);
  const target = event.currentTarget;
  const x0 = event.clientX;
  const y0 = event.clientY;
  target.setPointerCapture(event.pointerId);
  const onMove = (e) => move(e.clientX - x0, e.clientY - y0);
  const onUp = () => {
    target.removeEventListener("pointermove", onMove);
    target.removeEventListener("pointerup", onUp);
    commit(before);
  };
  target.addEventListener("pointermove", onMove);
  target.addEventListener("pointerup", onUp);
}

function dragEdge(event, k) {
  event.preventDefault();
  event.stopPropagation();
  const start = frames(state.items[k]);
  drag(event, (dx) => {
    const value = Math.max(0, Math.round(start + dx / state.px));
    if (value !== frames(state.items[k])) {
      setFrames(state.items[k], value);
      layout(k);
    }
  });
}

function dragPitch(event, k) {
  event.preventDefault();
  if (event.shiftKey) {
    if (state.selected.has(k)) state.selected.delete(k);
    else state.selected.add(k);
  } else if (!state.selected.has(k)) {
    state.selected = new Set([k]);
  }
  drawPitch();
  if (!state.selected.has(k)) return; // Shift+click took it out of the selection
  const start = new Map([...state.selected].map((i) => [i, symbolOf(state.items[i]).pitch]));
  drag(event, (_, dy) => {
    // The same interval for every selected point: a factor in Hz, read off the dragged point's move.
    const factor = hzOfY(yOfHz(start.get(k)) + dy) / start.get(k);
    for (const [i, hz] of start) {
      symbolOf(state.items[i]).pitch = Math.min(2000, Math.max(20, Math.round(hz * factor * 100) / 100));
    }
    drawPitch();
  });
}

function selectWord(choice) {
  for (const { el, sentence, word } of state.words || []) {
    el.classList.toggle("selected", !!choice && choice.sentence === sentence && choice.word === word);
  }
  if (!choice) {
    state.word = null;
    energyField.hidden = true;
    return;
  }
  const symbols = state.doc.sentences[choice.sentence].symbols.filter((sp) => sp.word === choice.word);
  state.word = { ...choice, symbols, base: symbols.map((sp) => sp.energy), before: JSON.stringify(state.doc) };
  $("energy-word").textContent = `“${state.doc.sentences[choice.sentence].words[choice.word]}”`;
  energyInput.value = "0";
  showEnergy();
  energyField.hidden = false;
}

function showEnergy() {
  $("edit-energy-out").textContent = `${Math.exp(Number(energyInput.value)).toFixed(2)}×`;
}

// Energy is the model's log frame energy: scaling the loudness by k adds ln(k).
energyInput.addEventListener("input", () => {
  if (!state.word) return;
  const offset = Number(energyInput.value);
  state.word.symbols.forEach((sp, i) => {
    const base = state.word.base[i];
    sp.energy = base === null || base === undefined ? null : Math.round((base + offset) * 1e4) / 1e4;
  });
  showEnergy();
});
energyInput.addEventListener("change", () => {
  if (!state.word) return;
  commit(state.word.before);
  state.word.before = JSON.stringify(state.doc);
});

function restore(json) {
  const word = state.word;
  load(JSON.parse(json));
  if (word) selectWord(word);
}

function updateButtons() {
  $("edit-undo").disabled = !state.past.length;
  $("edit-redo").disabled = !state.future.length;
  const link = $("edit-download");
  if (link.dataset.url) URL.revokeObjectURL(link.dataset.url);
  if (state.doc) {
    link.dataset.url = URL.createObjectURL(new Blob([JSON.stringify(state.doc, null, 1)], { type: "application/json" }));
    link.href = link.dataset.url;
  }
}

$("edit-undo").addEventListener("click", () => {
  if (!state.past.length) return;
  state.future.push(JSON.stringify(state.doc));
  restore(state.past.pop());
  updateButtons();
});
$("edit-redo").addEventListener("click", () => {
  if (!state.future.length) return;
  state.past.push(JSON.stringify(state.doc));
  restore(state.future.pop());
  updateButtons();
});
$("edit-reset").addEventListener("click", () => {
  if (!state.predicted) return;
  const before = JSON.stringify(state.doc);
  load(JSON.parse(state.predicted));
  commit(before);
});
$("edit-download").addEventListener("mousedown", updateButtons);
$("edit-load").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  try {
    const doc = JSON.parse(await file.text());
    const problem = documentProblem(doc);
    if (problem) throw new Error(problem);
    showProsody(doc, state.voice);
    setStatus(`Loaded ${file.name}: press Speak edits to hear it.`);
  } catch (err) {
    setStatus(`Could not load ${file.name}: ${err.message}`, true);
  }
  event.target.value = "";
});

async function speakEdits() {
  if (!state.doc) return;
  const body = { voice: state.voice, prosody: state.doc };
  await requestSpeech("/api/prosody", body, $("edit-speak"), "Speaking the edits…");
}
$("edit-speak").addEventListener("click", speakEdits);
