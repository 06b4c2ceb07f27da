// The fastpitch page: ask /api/synthesize, play the WAV it returns, offer it for download, plot mel + pitch.
"use strict";

const $ = (id) => document.getElementById(id);
const form = $("form");
const text = $("text");
const voiceSelect = $("voice");
const speakerSelect = $("speaker");
const speakButton = $("speak");
const download = $("download");
const statusLine = $("status");
const audio = $("audio");
const canvas = $("plot");
const keyField = $("key-field");
const keyInput = $("api-key");

const MAX_PLOT_COLUMNS = 8192; // a canvas this wide is safe everywhere; longer audio is drawn column by column
let voices = [];
let maxChars = Infinity;
let audioUrl = null;

function setStatus(message, isError = false) {
  statusLine.textContent = message;
  statusLine.classList.toggle("error", isError);
}

function authHeaders() {
  const key = keyInput.value.trim() || sessionStorage.getItem("fastpitch-key") || "";
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    return body.error?.message || `${response.status} ${response.statusText}`;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

function askForKey(message) {
  keyField.hidden = false;
  setStatus(message, true);
  keyInput.focus();
}

// --- voices -------------------------------------------------------------------------------------------------
async function loadVoices() {
  const response = await fetch("/api/voices", { headers: authHeaders() });
  if (response.status === 401) {
    askForKey(
      keyInput.value.trim()
        ? "The API key is missing or wrong."
        : "This server needs an API key. Enter it, then press Speak.",
    );
    return false;
  }
  if (!response.ok) {
    setStatus(`Could not list voices: ${await errorMessage(response)}`, true);
    return false;
  }
  const info = await response.json();
  voices = info.voices;
  maxChars = info.max_chars;
  voiceSelect.replaceChildren(
    ...voices.map((v) => new Option(v.name, v.name, v.name === info.default, v.name === info.default)),
  );
  updateSpeakers();
  updateCount();
  return true;
}

function updateSpeakers() {
  const voice = voices.find((v) => v.name === voiceSelect.value);
  const speakers = voice ? voice.speakers : [];
  speakerSelect.replaceChildren(...speakers.map((s) => new Option(s, s)));
  $("speaker-field").hidden = speakers.length < 2;
}

function updateCount() {
  const n = text.value.length;
  $("char-count").textContent = Number.isFinite(maxChars) ? `${n} / ${maxChars} characters.` : "";
}

// --- sliders ------------------------------------------------------------------------------------------------
const formats = {
  pace: (v) => `${Number(v).toFixed(2)}×`,
  pitch_shift: (v) => `${v > 0 ? "+" : ""}${v} st`,
  pitch_range: (v) => `${Number(v).toFixed(2)}×`,
};
for (const [name, fmt] of Object.entries(formats)) {
  const input = $(name);
  const show = () => {
    $(`${name}-out`).textContent = fmt(input.value);
    input.setAttribute("aria-valuetext", fmt(input.value));
  };
  input.addEventListener("input", show);
  show();
}

// --- speaking -----------------------------------------------------------------------------------------------
function base64ToBytes(b64) {
  const binary = atob(b64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

async function speak() {
  if (!text.value.trim()) {
    setStatus("Type some text first.", true);
    text.focus();
    return;
  }
  if (keyInput.value.trim()) sessionStorage.setItem("fastpitch-key", keyInput.value.trim());
  if (!voices.length && !(await loadVoices())) return;
  const request = {
    text: text.value,
    voice: voiceSelect.value || null,
    speaker: $("speaker-field").hidden ? null : speakerSelect.value,
    pace: Number($("pace").value),
    pitch_shift: Number($("pitch_shift").value),
    pitch_range: Number($("pitch_range").value),
    ssml: $("ssml").checked ? true : null,
  };
  const result = await requestSpeech("/api/synthesize", request, speakButton, "Speaking…");
  if (result?.prosody) showProsody(result.prosody, request.voice); // editor.js
}

// POST `body` to a speech endpoint (/api/synthesize, /api/prosody, /api/like) with `button` disabled meanwhile;
// show and return the result, or show the error and return null.
async function requestSpeech(url, body, button, busyMessage) {
  button.disabled = true;
  document.body.dataset.state = "busy";
  setStatus(busyMessage);
  const started = performance.now();
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify(body),
    });
    if (response.status === 401) {
      askForKey("The API key is missing or wrong.");
      document.body.dataset.state = "error";
      return null;
    }
    if (!response.ok) {
      setStatus(await errorMessage(response), true);
      document.body.dataset.state = "error";
      return null;
    }
    const result = await response.json();
    showResult(result, (performance.now() - started) / 1000);
    return result;
  } catch (err) {
    setStatus(`The request failed: ${err.message}`, true);
    document.body.dataset.state = "error";
    return null;
  } finally {
    button.disabled = false;
  }
}

function showResult(result, seconds) {
  if (audioUrl) URL.revokeObjectURL(audioUrl);
  audioUrl = URL.createObjectURL(new Blob([base64ToBytes(result.audio_wav_base64)], { type: "audio/wav" }));
  audio.src = audioUrl;
  audio.play().catch(() => {}); // autoplay may be refused; the controls are there
  download.href = audioUrl;
  download.removeAttribute("aria-disabled");
  download.removeAttribute("tabindex");
  drawPlot(result);
  showWords(result.words || []);
  setStatus(`Spoke ${result.duration_s.toFixed(2)} s of audio in ${seconds.toFixed(2)} s.`);
  document.body.dataset.state = "done";
}

// --- words, highlighted as they are said -------------------------------------------------------------------
const wordBox = $("words");
let wordSpans = [];
let wordTimes = [];
let frame = 0;

function showWords(words) {
  // The text as written: one box per written stretch ("3.5" is read as three words), lit from its first word.
  wordTimes = [];
  for (const w of words) {
    if (w.written === null && wordTimes.length) continue;
    wordTimes.push({ text: w.written ?? w.text, start: w.start });
  }
  wordBox.replaceChildren();
  wordSpans = wordTimes.map((w) => {
    const span = document.createElement("span");
    span.textContent = w.text;
    span.dataset.start = w.start;
    wordBox.append(span, " ");
    return span;
  });
  highlightWord();
}

function highlightWord() {
  const t = audio.currentTime;
  let current = -1;
  for (let i = 0; i < wordTimes.length && wordTimes[i].start <= t; i++) current = i;
  wordSpans.forEach((span, i) => span.classList.toggle("current", i === current));
  wordBox.dataset.current = String(current);
  if (!audio.paused && !audio.ended && !frame) {
    frame = requestAnimationFrame(() => {
      frame = 0;
      highlightWord();
    });
  }
}

audio.addEventListener("play", highlightWord);
audio.addEventListener("seeked", highlightWord);
audio.addEventListener("timeupdate", highlightWord);

// --- plot ---------------------------------------------------------------------------------------------------
// A perceptually ordered dark-to-bright colour map (close to "magma"), 256 entries.
const STOPS = [
  [0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39],
  [252, 253, 191],
];
const LUT = Array.from({ length: 256 }, (_, i) => {
  const x = (i / 255) * (STOPS.length - 1);
  const k = Math.min(Math.floor(x), STOPS.length - 2);
  const t = x - k;
  return STOPS[k].map((c, j) => Math.round(c + t * (STOPS[k + 1][j] - c)));
});

function niceStep(span, count) {
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
}

function drawPlot(result) {
  const dpr = window.devicePixelRatio || 1;
  const cssWidth = canvas.clientWidth || 900;
  const cssHeight = cssWidth / 3;
  canvas.width = Math.round(cssWidth * dpr);
  canvas.height = Math.round(cssHeight * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = "#0d0f14";
  ctx.fillRect(0, 0, cssWidth, cssHeight);

  const pad = { left: 44, right: 50, top: 10, bottom: 30 };
  const w = cssWidth - pad.left - pad.right;
  const h = cssHeight - pad.top - pad.bottom;
  const { n_mels: nMels, n_frames: nFrames } = result.mel;
  const duration = nFrames / result.frame_rate;

  // Mel image: one pixel per (frame, band), low bands at the bottom, scaled up with smoothing. A long text
  // has more frames than a canvas may be wide (65,535 in Chrome): then a column shows the loudest of its frames.
  if (nFrames > 0) {
    const levels = base64ToBytes(result.mel.levels_base64);
    const columns = Math.min(nFrames, MAX_PLOT_COLUMNS);
    const image = new ImageData(columns, nMels);
    for (let m = 0; m < nMels; m++) {
      const row = nMels - 1 - m;
      for (let c = 0; c < columns; c++) {
        const from = Math.floor((c * nFrames) / columns);
        const to = Math.max(from + 1, Math.floor(((c + 1) * nFrames) / columns));
        let level = 0;
        for (let t = from; t < to; t++) level = Math.max(level, levels[m * nFrames + t]);
        const [r, g, b] = LUT[level];
        const o = (row * columns + c) * 4;
        image.data[o] = r;
        image.data[o + 1] = g;
        image.data[o + 2] = b;
        image.data[o + 3] = 255;
      }
    }
    const bitmap = document.createElement("canvas");
    bitmap.width = columns;
    bitmap.height = nMels;
    bitmap.getContext("2d").putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(bitmap, pad.left, pad.top, w, h);
  }

  // Axes: time below, mel band on the left, pitch (Hz) on the right.
  ctx.fillStyle = "#c9ccd6";
  ctx.strokeStyle = "#c9ccd6";
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const tStep = niceStep(Math.max(duration, 0.1), 8);
  for (let s = 0; s <= duration + 1e-9; s += tStep) {
    const x = pad.left + (s / duration) * w;
    ctx.fillRect(x, pad.top + h, 1, 4);
    ctx.fillText(`${+s.toFixed(2)}`, x, pad.top + h + 6);
  }
  ctx.fillText("time (s)", pad.left + w / 2, pad.top + h + 17);
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const m of [0, 20, 40, 60, 80].filter((b) => b <= nMels)) {
    const y = pad.top + h - (m / nMels) * h;
    ctx.fillText(`${m}`, pad.left - 6, y);
  }
  ctx.save();
  ctx.translate(12, pad.top + h / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center";
  ctx.fillText("mel band", 0, 0);
  ctx.restore();

  const voiced = result.pitch_hz.filter((f) => f > 0);
  let description = `Mel spectrogram of ${duration.toFixed(2)} seconds of speech`;
  if (voiced.length) {
    const lo = Math.min(...voiced);
    const hi = Math.max(...voiced);
    const step = niceStep(Math.max(hi - lo, 20), 4);
    const yMin = Math.max(0, Math.floor((lo - step / 2) / step) * step);
    const yMax = Math.ceil((hi + step / 2) / step) * step;
    const yOf = (f) => pad.top + h - ((f - yMin) / (yMax - yMin)) * h;
    ctx.textAlign = "left";
    for (let f = yMin; f <= yMax + 1e-9; f += step) {
      ctx.fillText(`${Math.round(f)}`, pad.left + w + 6, yOf(f));
    }
    ctx.save();
    ctx.translate(cssWidth - 8, pad.top + h / 2);
    ctx.rotate(Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText("pitch (Hz)", 0, 0);
    ctx.restore();

    // Pitch contour: white over a darker halo so it reads on every colour; gaps where unvoiced.
    const path = new Path2D();
    let drawing = false;
    result.pitch_hz.forEach((f, t) => {
      const x = pad.left + ((t + 0.5) / nFrames) * w;
      if (f > 0) {
        if (drawing) path.lineTo(x, yOf(f));
        else path.moveTo(x, yOf(f));
        drawing = true;
      } else {
        drawing = false;
      }
    });
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#e0245e";
    ctx.lineWidth = 4;
    ctx.stroke(path);
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = 2;
    ctx.stroke(path);
    description += `; pitch between ${Math.round(lo)} and ${Math.round(hi)} Hz`;
  }
  canvas.setAttribute("aria-label", `${description}.`);
  canvas.dataset.drawn = "true";
}

// --- wiring -------------------------------------------------------------------------------------------------
form.addEventListener("submit", (event) => {
  event.preventDefault();
  speak();
});
text.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    speak();
  }
});
text.addEventListener("input", updateCount);
voiceSelect.addEventListener("change", updateSpeakers);
download.addEventListener("click", (event) => {
  if (download.getAttribute("aria-disabled") === "true") event.preventDefault();
});

loadVoices().then((ok) => {
  document.body.dataset.state = ok ? "ready" : "error";
});
