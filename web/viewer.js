// The viewer page: one websocket, protocol v1 (docs/protocol.md). No libraries.
"use strict";

const MAX_LINES = 200;
const params = new URLSearchParams(location.search);
let channel = params.get("lang") || params.get("channel") || "";
let lastSeq = null; // last seq seen on `channel`, for resume
let socket = null;
let retryDelay = 500;

const select = document.getElementById("channel");
const lines = document.getElementById("lines");
const partial = document.getElementById("partial");
const statusText = document.getElementById("status");

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws/viewer`);
  socket.onopen = () => {
    statusText.textContent = "connected";
    send({ type: "hello", v: 1, channel: channel || "en", resume: lastSeq });
  };
  socket.onmessage = (frame) => handle(JSON.parse(frame.data));
  socket.onclose = (event) => {
    // 1000/1001/1011/4000 and lost connections: reconnect and resume.
    // 1008 (policy) means this page did something wrong: wait longer before trying again.
    const delay = event.code === 1008 ? 30000 : retryDelay;
    statusText.textContent = `disconnected (${event.code}); reconnecting…`;
    retryDelay = Math.min(retryDelay * 2, 10000);
    setTimeout(connect, delay);
  };
}

function handle(message) {
  switch (message.type) {
    case "welcome":
      retryDelay = 500;
      fillChannels(message.channels);
      break;
    case "subscribed":
      if (message.resume === null) clearCaptions();
      break;
    case "caption":
      if (message.channel !== channel) return;
      if (lastSeq !== null && message.seq <= lastSeq) return;
      lastSeq = message.seq;
      if (message.final) {
        addLine(message.text);
        partial.textContent = "";
      } else {
        partial.textContent = message.text;
      }
      break;
    case "gap":
      if (message.channel === channel) addLine("[…]");
      break;
    case "error":
      console.warn("server refused a message:", message.code, message.message);
      if (message.code === "unknown_channel") pickFirstChannel();
      break;
    default:
      break; // state, pong, and types of later versions
  }
}

function pickFirstChannel() {
  fetch("/api/state")
    .then((response) => response.json())
    .then((state) => {
      channel = state.channels[0];
      lastSeq = null;
      send({ type: "hello", v: 1, channel, resume: null });
    });
}

function fillChannels(channels) {
  if (!channels.includes(channel)) channel = channels[0];
  select.replaceChildren(...channels.map((id) => new Option(id, id, false, id === channel)));
}

function clearCaptions() {
  lines.replaceChildren();
  partial.textContent = "";
}

function addLine(text) {
  const p = document.createElement("p");
  p.textContent = text;
  lines.append(p);
  while (lines.childElementCount > MAX_LINES) lines.firstElementChild.remove();
  p.scrollIntoView({ block: "end" });
}

select.addEventListener("change", () => {
  channel = select.value;
  lastSeq = null;
  clearCaptions();
  const url = new URL(location.href);
  url.searchParams.set("lang", channel);
  history.replaceState(null, "", url);
  send({ type: "subscribe", v: 1, channel, resume: null });
});

connect();
