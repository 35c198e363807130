// The interpreter console: /ws/console (service/booths.py) plus two viewer sockets for
// the live captions of the floor and of one's own booth. No libraries; the term
// prompter's matching is prompter.js (the global `Prompter`), loaded before this file.
"use strict";

const $ = (id) => document.getElementById(id);
const LANGUAGE_NAMES = { ko: "Korean", en: "English" };
const MAX_LINES = 30;
const MAX_PROMPTS = 6;
const state = { me: null, booth: null, booths: {}, channels: {}, floor: {}, names: {}, listeners: {}, evs: {} };
let socket = null;
let token = sessionStorage.getItem("console-token") || "";
let retry = 500;
// Without prompter.js (a failed load) the console works on, with no prompter.
let prompter = typeof Prompter === "object" ? Prompter.create([]) : null;
const viewers = [];

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
      $("loginerror").textContent = "That token was not accepted: check it and sign in again.";
      $("token").select();
      return;
    }
    $("onair").textContent = "RECONNECTING…";
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
      $("loginerror").textContent = "";
      $("login").hidden = true;
      $("desk").hidden = false;
      $("who").textContent = message.name;
      $("log").replaceChildren();
      message.log.forEach(addLog);
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
  if (!b.live) onair.textContent = "OFF AIR · nobody is live";
  else if (b.coughing) onair.textContent = `COUGH · ${nameOf(b.live)}`;
  else if (b.muted) onair.textContent = `MUTED · ${nameOf(b.live)}`;
  else onair.textContent = meLive ? "YOU ARE ON AIR" : `ON AIR · ${nameOf(b.live)}`;
  $("boothname").textContent = b.id;
  const r = b.request;
  const mine = r && r.asked_by === state.me;
  $("request").textContent = !r
    ? ""
    : mine
      ? `Waiting for ${nameOf(r.asked_by === r.giver ? r.taker : r.giver)} to answer your handover…`
      : r.asked_by === r.giver
        ? `${nameOf(r.giver)} asks you to take over.`
        : `${nameOf(r.taker)} asks to take over from you.`;
  const partnerAnswer = Boolean(r) && !mine;
  $("go_live").hidden = Boolean(b.live);
  $("handover").hidden = !b.live || Boolean(r);
  $("handover").textContent = meLive ? "Hand over" : "Ask to take over";
  $("accept").hidden = !partnerAnswer;
  $("decline").hidden = !partnerAnswer;
  $("cancel").hidden = !mine;
  $("take_over").hidden = !b.live || meLive;
  $("sign_off").hidden = !meLive;
  for (const id of ["cough", "mute", "carry", "floorset"]) $(id).disabled = !meLive;
  const floorset = $("floorset");
  const languages = [...new Set(Object.values(state.channels).map((ch) => ch.language))];
  if (floorset.options.length !== languages.length) {
    floorset.replaceChildren(...languages.map((l) => new Option(LANGUAGE_NAMES[l] || l, l)));
  }
  floorset.value = state.floor.lang;
  $("cough").setAttribute("aria-pressed", String(b.coughing));
  $("mute").setAttribute("aria-pressed", String(b.muted));
  $("mute").textContent = b.muted ? "Unmute" : "Mute";
  const listening = $("listening");
  const options = ["floor", ...b.relays];
  if (listening.options.length !== options.length) {
    listening.replaceChildren(...options.map((o) => new Option(o === "floor" ? "floor" : `relay: ${o}`, o)));
  }
  listening.value = b.listening;
  $("carry").value = b.carry;
  const c = state.channels[b.channel] || {};
  $("channelname").textContent = b.channel;
  $("listeners").textContent = String(state.listeners[b.channel] || 0);
  const fl = state.floor.lang;
  $("floorlang").textContent = `${LANGUAGE_NAMES[fl] || fl || "–"}${state.floor.by === "detected" ? " (detected)" : ""}`;
  $("carries").textContent = c.carries === "floor" ? "floor" : c.carries || "nothing";
  state.shiftStarted = b.shift_started;
  renderEvs();
}

// The ear-voice span of this console's booth: how far its output lags the floor.
function renderEvs() {
  const e = state.evs[state.booth];
  const known = e && typeof e.seconds === "number" && Number.isFinite(e.seconds);
  $("evs").textContent = known ? `${e.seconds.toFixed(1)} s` : "–";
  const anchors = known && e.anchors ? `${e.anchors} anchor${e.anchors === 1 ? "" : "s"}` : "";
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
  $("shift").style.color = m >= 30 ? "#c00" : m >= 20 ? "#b60" : "";
}

function addLog(event) {
  const li = document.createElement("li");
  const at = new Date(event.at * 1000).toLocaleTimeString();
  li.textContent = `${at} ${nameOf(event.by)}: ${event.action.replace("_", " ")} ${event.detail || ""}`;
  $("log").prepend(li);
}

// Live captions: a viewer socket per channel; floor captions and this booth's are kept.
function startCaptions() {
  if (viewers.length) return;
  for (const channel of Object.keys(state.channels)) viewers.push(watch(channel));
  fetch("/api/glossary")
    .then((r) => r.json())
    .then((g) => (prompter = prompter && Prompter.create(g.terms)))
    .catch(() => {
      /* no glossary: the prompter still shows numbers */
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
      $(`${box}lines`).append(p);
      while ($(`${box}lines`).childElementCount > MAX_LINES) $(`${box}lines`).firstElementChild.remove();
      $(`${box}partial`).textContent = "";
    } else {
      $(`${box}partial`).textContent = m.text;
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
$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value.trim();
  $("loginerror").textContent = "";
  sessionStorage.setItem("console-token", token);
  connect();
});
setInterval(tick, 1000);
setInterval(() => send({ type: "ping" }), 20000);
if (token) connect();
