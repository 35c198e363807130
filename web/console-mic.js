// The console microphone: for a booth whose source is "console", the interpreter's own
// microphone feeds the booth's captioner over /ws/booth-audio (service/booth_audio.py).
// Little-endian signed 16-bit mono PCM at 16 kHz, in 100 ms frames. No libraries.
//
// Uses console.html's button #mic, its level #mic-level (a <meter>) and #mic-status.
// Its words are console.js's (i18n.js CONSOLE_WORDS), in the page's language (<html
// lang>, which console.js sets before this module runs); a "companion:words" event on
// the document says the language changed, and the status is said again in it.
import { CONSOLE_WORDS, wordsFor } from "./i18n.js";

const RATE = 16000;
const FRAME_SAMPLES = RATE / 10; // 100 ms
const MAX_BUFFERED = 64 * 1024; // bytes waiting in the socket: past this, frames are dropped

const $ = (id) => document.getElementById(id);
const button = $("mic");
const meter = $("mic-level");
const status = $("mic-status");

let on = false;
let stream = null;
let context = null;
let socket = null;
let retry = 500;
let downsampler = null;
let pending = new Int16Array(FRAME_SAMPLES);
let filled = 0;
let w = wordsFor(document.documentElement.lang, CONSOLE_WORDS);
let saying = () => ""; // what the status says, in the words of the moment
let refusal = null; // why the service refused: words, or its own message

// `said`: a function that gives the words, so that they can be said again in another language.
function say(said) {
  saying = said;
  if (status) status.textContent = said();
}

document.addEventListener("companion:words", () => {
  w = wordsFor(document.documentElement.lang, CONSOLE_WORDS);
  say(saying);
});

function showLevel(rms) {
  if (meter) meter.value = Math.min(1, Math.sqrt(rms) * 2); // closer to what ears hear
}

// Box-filtered decimation from the context's rate to 16 kHz, keeping its phase
// between blocks: each output sample is the mean of the input samples it covers.
function makeDownsampler(inputRate) {
  const step = inputRate / RATE;
  let position = 0; // where the next output sample starts, in input samples
  let carry = new Float32Array(0);
  return (block) => {
    const input = new Float32Array(carry.length + block.length);
    input.set(carry);
    input.set(block, carry.length);
    const out = [];
    while (position + step <= input.length) {
      const start = Math.floor(position);
      const end = Math.max(start + 1, Math.floor(position + step));
      let sum = 0;
      for (let i = start; i < end; i++) sum += input[i];
      out.push(sum / (end - start));
      position += step;
    }
    const keep = Math.floor(position);
    carry = input.slice(keep);
    position -= keep;
    return out;
  };
}

function take(block) {
  for (const sample of downsampler(block)) {
    const clipped = Math.max(-1, Math.min(1, sample));
    pending[filled++] = clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff;
    if (filled === FRAME_SAMPLES) {
      send(pending);
      pending = new Int16Array(FRAME_SAMPLES);
      filled = 0;
    }
  }
}

function send(samples) {
  if (!socket || socket.readyState !== WebSocket.OPEN) return;
  if (socket.bufferedAmount > MAX_BUFFERED) return; // a slow network: keep the live edge
  const bytes = new DataView(new ArrayBuffer(samples.length * 2));
  samples.forEach((s, i) => bytes.setInt16(i * 2, s, true)); // little-endian on every CPU
  socket.send(bytes.buffer);
}

function connect() {
  refusal = null;
  const token = sessionStorage.getItem("console-token") || "";
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws/booth-audio`);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => socket.send(JSON.stringify({ type: "login", token }));
  socket.onmessage = (frame) => {
    const message = JSON.parse(frame.data);
    if (message.type === "ready") {
      retry = 500;
      say(() => w.micSending);
    } else if (message.type === "level") {
      showLevel(message.rms);
      if (message.live) say(() => w.micSending);
    } else if (message.type === "error") {
      refusal = () => w.micRefused[message.code] || message.message;
      say(refusal);
    }
  };
  socket.onclose = (event) => {
    if (!on) return;
    if (event.code === 1008) {
      stop(refusal); // refused: a wrong token, or this booth takes no console audio
      return;
    }
    say(() => w.micReconnecting);
    setTimeout(() => on && connect(), retry);
    retry = Math.min(retry * 2, 10000);
  };
}

async function tap(source) {
  if (context.audioWorklet) {
    await context.audioWorklet.addModule(new URL("console-mic-worklet.js", import.meta.url));
    const node = new AudioWorkletNode(context, "companion-mic-tap", {
      numberOfInputs: 1,
      numberOfOutputs: 0,
      channelCount: 1,
      channelCountMode: "explicit",
    });
    node.port.onmessage = (event) => take(event.data);
    source.connect(node);
    return;
  }
  // Older browsers: a ScriptProcessor, which must reach the destination to run.
  const node = context.createScriptProcessor(4096, 1, 1);
  const mute = context.createGain();
  mute.gain.value = 0;
  node.onaudioprocess = (event) => take(event.inputBuffer.getChannelData(0));
  source.connect(node);
  node.connect(mute);
  mute.connect(context.destination);
}

async function start() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say(() => w.micUnsupported);
    return;
  }
  on = true;
  button.setAttribute("aria-pressed", "true");
  say(() => w.micStarting);
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false },
    });
    if (!on) {
      stop();
      return;
    }
    context = new AudioContext();
    downsampler = makeDownsampler(context.sampleRate);
    filled = 0;
    await tap(context.createMediaStreamSource(stream));
    connect();
  } catch (error) {
    stop(() => w.micFailed(error.message || error.name));
  }
}

// Stops sending; `why` (words, as `say` takes them) is said, else that nothing is sent.
function stop(why = null) {
  on = false;
  button.setAttribute("aria-pressed", "false");
  if (socket) {
    socket.onclose = null;
    socket.close(1000);
    socket = null;
  }
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
  if (context) context.close();
  context = null;
  showLevel(0);
  say(why || (() => w.micOff));
}

button.addEventListener("click", () => (on ? stop() : start()));
