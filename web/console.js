// The interpreter console: /ws/console (service/booths.py) plus two viewer sockets for
// the live captions of the floor and of one's own booth. No libraries; the term
// prompter's matching is prompter.js (the global `Prompter`), loaded before this module.
// Its words are in English and Korean (i18n.js CONSOLE_WORDS): the browser's language
// until the interpreter picks one with the 한국어 / English button, remembered like the
// viewer's and the dashboard's choice. On a switch it sets <html lang>, redraws, and
// tells console-mic.js with a "companion:words" event on the document.
import { CONSOLE_WORDS, chosenLanguage, rememberLanguage, translate, wordsFor } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const MAX_LINES = 30;
const MAX_PROMPTS = 6;
const state = {
  me: null, booth: null, booths: {}, channels: {}, floor: {}, names: {}, listeners: {}, evs: {},
  log: [], // this booth's events, oldest first, drawn again when the language changes
};
let ui = chosenLanguage();
let w = wordsFor(ui, CONSOLE_WORDS);
let tokenRefused = false; // why the sign-in form is back, said again in the new language
let reconnecting = false;
let socket = null;
let token = sessionStorage.getItem("console-token") || "";
let retry = 500;
// Without prompter.js (a failed load) the console works on, with no prompter.
let prompter = typeof Prompter === "object" ? Prompter.create([]) : null;
const viewers = [];

// ------------------------------------------------------------------ the words
function toggleLanguage() {
  ui = ui === "ko" ? "en" : "ko";
  rememberLanguage(ui);
  applyWords();
}

function applyWords() {
  w = wordsFor(ui, CONSOLE_WORDS);
  document.documentElement.lang = ui;
  translate(document, w);
  document.title = w.title;
  $("ui-language").lang = ui === "ko" ? "en" : "ko";
  $("loginerror").textContent = tokenRefused ? w.tokenRefused : "";
  render();
  drawLog();
  document.dispatchEvent(new Event("companion:words"));
}

// Times in the page's language, in the browser's own form of it (en-GB…).
function locale() {
  return navigator.language && navigator.language.split("-")[0] === ui ? navigator.language : ui;
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function act(action, arg = "") {
  $("message").textContent = "";
  send({ type: "action", action, arg });
}

function connect() {
  if (socket) {
    // Signing in again: the old socket must not reconnect behind the new one.
    socket.onclose = null;
    socket.close();
  }
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws/console`);
  socket.onopen = () => send({ type: "login", token });
  socket.onmessage = (frame) => handle(JSON.parse(frame.data));
  socket.onclose = (event) => {
    if (event.code === 1008) {
      // A wrong token: ask again.
      socket = null;
      sessionStorage.removeItem("console-token");
      $("desk").hidden = true;
      $("login").hidden = false;
      $("message").textContent = "";
      tokenRefused = true;
      $("loginerror").textContent = w.tokenRefused;
      $("token").select();
      return;
    }
    reconnecting = true;
    $("onair").textContent = w.reconnecting;
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 10000);
  };
}

function handle(message) {
  switch (message.type) {
    case "console":
      retry = 500;
      state.me = message.interpreter;
      state.booth = message.booth;
      state.booths = message.booths;
      state.channels = message.channels;
      state.floor = message.floor;
      state.names = message.interpreters;
      state.listeners = message.listeners;
      state.evs = message.evs || {};
      state.log = message.log;
      reconnecting = false;
      tokenRefused = false;
      $("loginerror").textContent = "";
      $("login").hidden = true;
      $("desk").hidden = false;
      $("who").textContent = message.name;
      drawLog();
      startCaptions();
      render();
      break;
    case "booth":
      state.booths[message.booth.id] = message.booth;
      if (message.event && message.event.booth === state.booth) addLog(message.event);
      render();
      break;
    case "channels":
      state.channels = message.channels;
      render();
      break;
    case "floor":
      state.floor = message.floor;
      render();
      break;
    case "listeners":
      state.listeners = message.channels;
      render();
      break;
    case "evs":
      state.evs[message.booth] = {
        seconds: message.seconds,
        interpreter: message.interpreter,
        anchors: message.anchors,
      };
      renderEvs();
      break;
    case "refused":
      $("message").textContent = message.reason;
      break;
    case "error":
      $("message").textContent = message.message;
      break;
    default:
      break;
  }
}

function nameOf(id) {
  return (id && state.names[id]) || id || "";
}

function render() {
  const b = state.booths[state.booth];
  if (!b) return;
  const meLive = b.live === state.me;
  const onair = $("onair");
  onair.classList.toggle("live", b.on_air);
  onair.classList.toggle("muted", Boolean(b.live) && !b.on_air);
  if (reconnecting) onair.textContent = w.reconnecting;
  else if (!b.live) onair.textContent = w.offAir;
  else if (b.coughing) onair.textContent = w.coughBy(nameOf(b.live));
  else if (b.muted) onair.textContent = w.mutedBy(nameOf(b.live));
  else onair.textContent = meLive ? w.youAreOnAir : w.onAir(nameOf(b.live));
  $("boothname").textContent = b.id;
  const r = b.request;
  const mine = r && r.asked_by === state.me;
  $("request").textContent = !r
    ? ""
    : mine
      ? w.waitingFor(nameOf(r.asked_by === r.giver ? r.taker : r.giver))
      : r.asked_by === r.giver
        ? w.asksYouToTakeOver(nameOf(r.giver))
        : w.asksToTakeOver(nameOf(r.taker));
  const partnerAnswer = Boolean(r) && !mine;
  $("go_live").hidden = Boolean(b.live);
  $("handover").hidden = !b.live || Boolean(r);
  $("handover").textContent = meLive ? w.handOver : w.askToTakeOver;
  $("accept").hidden = !partnerAnswer;
  $("decline").hidden = !partnerAnswer;
  $("cancel").hidden = !mine;
  $("take_over").hidden = !b.live || meLive;
  $("sign_off").hidden = !meLive;
  for (const id of ["cough", "mute", "carry", "floorset"]) $(id).disabled = !meLive;
  const floorset = $("floorset");
  const languages = [...new Set(Object.values(state.channels).map((ch) => ch.language))];
  if (floorset.options.length !== languages.length) {
    floorset.replaceChildren(...languages.map((l) => new Option(l, l)));
  }
  for (const option of floorset.options) option.text = languageName(option.value);
  floorset.value = state.floor.lang;
  $("cough").setAttribute("aria-pressed", String(b.coughing));
  $("mute").setAttribute("aria-pressed", String(b.muted));
  $("mute").textContent = b.muted ? w.unmute : w.mute;
  const listening = $("listening");
  const options = ["floor", ...b.relays];
  if (listening.options.length !== options.length) {
    listening.replaceChildren(...options.map((o) => new Option(o, o)));
  }
  for (const option of listening.options) option.text = heardFrom(option.value);
  listening.value = b.listening;
  $("carry").value = b.carry;
  const c = state.channels[b.channel] || {};
  $("listenerslabel").textContent = w.listenersOn(b.channel);
  $("listeners").textContent = String(state.listeners[b.channel] || 0);
  const fl = state.floor.lang;
  $("floorlang").textContent = `${languageName(fl) || "–"}${state.floor.by === "detected" ? w.detected : ""}`;
  $("carries").textContent = c.carries === "floor" ? w.floor : c.carries || w.nothing;
  state.shiftStarted = b.shift_started;
  renderEvs();
}

function languageName(lang) {
  return w.languages[lang] || lang || "";
}

// What a booth listens to: the floor, or a relay from another booth.
function heardFrom(source) {
  return source === "floor" ? w.floor : w.relay(source);
}

// The ear-voice span of this console's booth: how far its output lags the floor.
function renderEvs() {
  const e = state.evs[state.booth];
  const known = e && typeof e.seconds === "number" && Number.isFinite(e.seconds);
  $("evs").textContent = known ? w.seconds(e.seconds.toFixed(1)) : "–";
  const anchors = known && e.anchors ? w.anchors(e.anchors) : "";
  $("evsdetail").textContent = known ? [nameOf(e.interpreter), anchors].filter(Boolean).join(" · ") : "";
}

function tick() {
  const started = state.shiftStarted;
  if (!started) {
    $("shift").textContent = "–";
    return;
  }
  const seconds = Math.max(0, Math.floor(Date.now() / 1000 - started));
  const m = Math.floor(seconds / 60);
  const s = String(seconds % 60).padStart(2, "0");
  $("shift").textContent = `${m}:${s}`;
  $("shift").style.color = m >= 30 ? "var(--alert)" : m >= 20 ? "var(--late)" : "";
}

// The booth log, newest first: "12:03:04 Kim: take over from Park".
function addLog(event) {
  state.log.push(event);
  $("log").prepend(logLine(event));
}

function drawLog() {
  $("log").replaceChildren(...state.log.map(logLine).reverse());
}

function logLine(event) {
  const li = document.createElement("li");
  const at = new Date(event.at * 1000).toLocaleTimeString(locale());
  const action = w.actions[event.action] || event.action;
  li.textContent = `${at} ${nameOf(event.by)}: ${[action, logDetail(event)].filter(Boolean).join(" ")}`;
  return li;
}

// An event's detail (companion/booths.py writes it), in the page's words where its form
// is known: "park -> choi" (a handover; "declined" and "not answered" are the action's
// own words), "from park", on or off, what the booth listens to or its channel carries,
// the floor's language. Anything else is shown as it comes.
function logDetail({ action, detail = "" }) {
  const handover = /^(\S+) -> (\S+)(?: declined| not answered)?$/.exec(detail);
  if (handover) return `${nameOf(handover[1])} → ${nameOf(handover[2])}`;
  const from = /^from (\S+)$/.exec(detail);
  if (from && action === "take_over") return w.takenFrom(nameOf(from[1]));
  if (action === "cough" || action === "mute") return w.switched[detail] || detail;
  if (action === "listen") return heardFrom(detail);
  if (action === "carry") return { auto: w.carryAuto, floor: w.carryFloor, booth: w.carryBooth }[detail] || detail;
  if (action === "floor") return languageName(detail);
  return detail;
}

// Live captions: a viewer socket per channel; floor captions and this booth's are kept.
// The glossary first, then the captions: a floor caption that came before the terms
// would be prompted without them (the recent finals arrive at once on a new socket).
let captionsStarted = false;
function startCaptions() {
  if (captionsStarted) return;
  captionsStarted = true;
  fetch("/api/glossary")
    .then((r) => r.json())
    .then((g) => (prompter = prompter && Prompter.create(g.terms)))
    .catch(() => {
      /* no glossary: the prompter still shows numbers */
    })
    .finally(() => {
      for (const channel of Object.keys(state.channels)) viewers.push(watch(channel));
    });
}

function watch(channel) {
  let lastSeq = null;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/ws/viewer`);
  ws.onopen = () => ws.send(JSON.stringify({ type: "hello", v: 1, channel, resume: lastSeq }));
  ws.onmessage = (frame) => {
    const m = JSON.parse(frame.data);
    if (m.type !== "caption" || (lastSeq !== null && m.seq <= lastSeq)) return;
    lastSeq = m.seq;
    const own = m.source === state.booth;
    if (m.source !== "floor" && !own) return;
    const box = own ? "own" : "floor";
    if (m.final) {
      const p = document.createElement("p");
      p.textContent = m.text;
      if (m.lang) p.lang = m.lang; // read out in its own language, whatever the page's
      $(`${box}lines`).append(p);
      while ($(`${box}lines`).childElementCount > MAX_LINES) $(`${box}lines`).firstElementChild.remove();
      $(`${box}partial`).textContent = "";
    } else {
      $(`${box}partial`).textContent = m.text;
      if (m.lang) $(`${box}partial`).lang = m.lang;
    }
    if (!own) prompt(m); // partials too: a term shows as soon as it is heard
  };
  ws.onclose = () => setTimeout(() => viewers.splice(viewers.indexOf(ws), 1, watch(channel)), 2000);
  return ws;
}

// The booth's language: that of the channel it feeds.
function boothLanguage() {
  const b = state.booths[state.booth];
  const channel = b && state.channels[b.channel];
  return (channel && channel.language) || "en";
}

// The term prompter: glossary terms and numbers heard on the floor (a floor caption,
// partial or final), in the booth's language; each once per utterance, newest first.
function prompt(caption) {
  if (!prompter) return;
  const lang = boothLanguage();
  for (const item of prompter.hear(caption, lang)) {
    const li = document.createElement("li");
    li.className = item.kind;
    const shown = document.createElement("b");
    shown.lang = lang;
    shown.textContent = item.shown;
    const heard = document.createElement("small");
    if (caption.lang) heard.lang = caption.lang;
    heard.textContent = item.note ? `${item.heard} · ${item.note}` : item.heard;
    li.append(shown, heard);
    $("terms").prepend(li);
    while ($("terms").childElementCount > MAX_PROMPTS) $("terms").lastElementChild.remove();
  }
}

for (const button of document.querySelectorAll("button[data-action]")) {
  button.addEventListener("click", () => act(button.dataset.action));
}
$("mute").addEventListener("click", () => act("mute", $("mute").getAttribute("aria-pressed") === "true" ? "off" : "on"));
const cough = $("cough");
cough.addEventListener("pointerdown", () => act("cough", "on"));
cough.addEventListener("pointerup", () => act("cough", "off"));
cough.addEventListener("pointerleave", () => {
  if (cough.getAttribute("aria-pressed") === "true") act("cough", "off");
});
document.addEventListener("keydown", (e) => {
  if (e.code === "Space" && e.target === document.body && !e.repeat) {
    e.preventDefault();
    act("cough", "on");
  }
});
document.addEventListener("keyup", (e) => {
  if (e.code === "Space" && e.target === document.body) act("cough", "off");
});
$("listening").addEventListener("change", (e) => act("listen", e.target.value));
$("carry").addEventListener("change", (e) => act("carry", e.target.value));
$("floorset").addEventListener("change", (e) => act("floor", e.target.value));
$("ui-language").addEventListener("click", toggleLanguage);
$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value.trim();
  tokenRefused = false;
  $("loginerror").textContent = "";
  sessionStorage.setItem("console-token", token);
  connect();
});
applyWords();
setInterval(tick, 1000);
setInterval(() => send({ type: "ping" }), 20000);
if (token) connect();
