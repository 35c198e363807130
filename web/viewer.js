// The viewer page (docs/pages.md): a language channel's YouTube broadcast and its live
// captions, with a caption delay, both languages at once, a searchable transcript, and
// the page's own words in Korean and English. No libraries, no build step.
import { translate, wordsFor } from "./i18n.js";
import { BroadcastPlayer } from "./player.js";
import { streamFor } from "./segments.js";

const $ = (id) => document.getElementById(id);
const store = {
  get(name) {
    try {
      return localStorage.getItem(`companion.${name}`);
    } catch {
      return null; // storage refused (private mode): nothing is remembered
    }
  },
  set(name, value) {
    try {
      localStorage.setItem(`companion.${name}`, String(value));
    } catch {
      /* not remembered */
    }
  },
};

const SHOWN_LINES = 2; // lines on screen at a time, as the captioner laid them out
const KEPT_TRANSCRIPT = 5000;
const params = new URLSearchParams(location.search);
const page = {
  event: { id: "", title: "", title_ko: "" },
  channels: [], // [{id, language, name, caption_delay}]
  channel: params.get("lang") || params.get("channel") || store.get("channel") || "",
  second: store.get("second") || "",
  dual: store.get("dual") === "1",
  delay: store.get("delay") === null ? null : Number(store.get("delay")),
  fontScale: Number(store.get("fontScale")) || 1,
  ui: store.get("ui"), // null: follows the channel's language
  broadcasts: {}, // channel -> "broadcast:<channel>" state document (docs/youtube.md)
  carriages: {}, // channel -> "channel:<channel>" document: what it carries now
  session: null, // the "session" document: the programme's session running now
  downloads: null, // "public" or "organizer" (GET /api/sessions), null: unknown
  sessions: [],
  status: "connecting",
  delivery: "auto", // service.delivery (GET /api/event): "websocket", "segments" or "auto"
  segmentSeconds: 2,
};

// ------------------------------------------------------------------ caption tracks
// One caption box: captions wait `page.delay` seconds, then show; finals are kept, the
// partial after them changes until its final replaces it.
class Track {
  constructor(section, onFinalShown) {
    this.section = section;
    this.box = section.querySelector(".caption");
    this.onFinalShown = onFinalShown;
    this.reset(null);
  }

  reset(channel) {
    this.channel = channel;
    this.section.dataset.channel = channel || "";
    this.finals = []; // recent final lines
    this.partial = []; // the partial's lines
    this.queue = []; // [{message, arrived}] waiting for the delay
    clearTimeout(this.timer);
    this.render();
  }

  push(message) {
    this.queue.push({ message, arrived: performance.now() });
    this.pump();
  }

  pump() {
    clearTimeout(this.timer);
    const wait = Math.max(0, page.delay || 0) * 1000;
    const now = performance.now();
    while (this.queue.length && this.queue[0].arrived + wait <= now) {
      this.show(this.queue.shift().message);
    }
    if (this.queue.length) {
      this.timer = setTimeout(() => this.pump(), this.queue[0].arrived + wait - now);
    }
  }

  show(message) {
    const lines = message.lines && message.lines.length ? message.lines : [message.text];
    if (message.final) {
      this.finals.push(...lines.filter((line) => line.trim()));
      this.finals.splice(0, Math.max(0, this.finals.length - SHOWN_LINES));
      this.partial = [];
      this.onFinalShown(message);
    } else {
      this.partial = lines.filter((line) => line.trim());
    }
    this.render();
  }

  render() {
    const rows = [
      ...this.finals.map((text) => ({ text, kind: "final" })),
      ...this.partial.map((text) => ({ text, kind: "partial" })),
    ].slice(-SHOWN_LINES);
    if (!rows.length) {
      const empty = document.createElement("span");
      empty.className = "empty";
      empty.textContent = words().noCaptions;
      this.box.replaceChildren(empty);
      return;
    }
    this.box.replaceChildren(
      ...rows.map(({ text, kind }) => {
        const span = document.createElement("span");
        span.className = `line ${kind}`;
        span.textContent = text;
        return span;
      }),
    );
  }
}

const primary = new Track($("track-primary"), (message) => {
  addToTranscript(message);
  announce(message);
});
const second = new Track($("track-second"), () => {});
const player = new BroadcastPlayer($("player-box"), "YouTube");

// ------------------------------------------------------------------ the words
function uiLanguage() {
  if (page.ui === "ko" || page.ui === "en") return page.ui;
  return languageOf(page.channel) === "ko" ? "ko" : "en";
}

function words() {
  return wordsFor(uiLanguage());
}

function languageOf(channel) {
  const info = page.channels.find((c) => c.id === channel);
  return info ? info.language : channel;
}

function channelName(channel) {
  const info = page.channels.find((c) => c.id === channel);
  if (info && info.name) return info.name;
  const lang = info ? info.language : channel;
  return words().languages[lang] || channel;
}

function applyWords() {
  const w = words();
  const ui = uiLanguage();
  document.documentElement.lang = ui;
  translate(document, w);
  const title = ui === "ko" ? page.event.title_ko || page.event.title : page.event.title;
  $("event-title").textContent = title || w.title;
  document.title = title ? `${w.title} · ${title}` : w.title;
  $("ui-language").lang = ui === "ko" ? "en" : "ko";
  $("keys-list").replaceChildren(
    ...w.keys.map(([key, what]) => {
      const li = document.createElement("li");
      const kbd = document.createElement("kbd");
      kbd.textContent = key;
      li.append(kbd, ` ${what}`);
      return li;
    }),
  );
  fillChannelLists();
  showStatus();
  showDelay();
  showBroadcast();
  showCarriages();
  showMatches();
  primary.render();
  second.render();
}

// ------------------------------------------------------------------ channels
function fillChannelLists() {
  const option = (id, selected) => new Option(channelName(id), id, false, selected);
  const ids = page.channels.map((c) => c.id);
  $("channel").replaceChildren(...ids.map((id) => option(id, id === page.channel)));
  $("second").replaceChildren(
    ...ids.filter((id) => id !== page.channel).map((id) => option(id, id === page.second)),
  );
  $("track-primary").querySelector(".name").textContent = channelName(page.channel);
  $("track-primary").lang = languageOf(page.channel);
  $("track-second").querySelector(".name").textContent = page.dual ? channelName(page.second) : "";
  $("track-second").lang = languageOf(page.second);
}

function pickSecond() {
  const others = page.channels.map((c) => c.id).filter((id) => id !== page.channel);
  if (!others.includes(page.second)) page.second = others[0] || "";
}

function choose(channel) {
  if (channel === page.channel || !page.channels.some((c) => c.id === channel)) return;
  const previous = page.channel;
  page.channel = channel;
  if (page.second === channel) page.second = previous;
  pickSecond();
  store.set("channel", channel);
  store.set("second", page.second);
  const url = new URL(location.href);
  url.searchParams.set("lang", channel);
  history.replaceState(null, "", url);
  primary.reset(channel);
  clearTranscript();
  if (stream) stream.switchTo(channel);
  if (page.dual && secondStream && secondStream.channel !== page.second) {
    second.reset(page.second);
    secondStream.switchTo(page.second);
  }
  applyWords();
}

function setDual(on) {
  page.dual = on;
  store.set("dual", on ? "1" : "0");
  $("dual").checked = on;
  $("second-box").hidden = !on || page.channels.length < 3;
  $("track-second").hidden = !on;
  $("tracks").classList.toggle("dual", on);
  if (on && !secondStream && page.second) {
    second.reset(page.second);
    const handlers = {
      onCaption: (message) => second.push(message),
      onClear: () => second.reset(page.second),
      onRestart: () => second.reset(page.second),
    };
    secondStream = streamFor(page.delivery, page.second, handlers, page.segmentSeconds);
    secondStream.start();
  } else if (!on && secondStream) {
    secondStream.stop();
    secondStream = null;
    second.reset(null);
  }
  fillChannelLists();
  showCarriages();
}

// ------------------------------------------------------------------ status lines
function showStatus() {
  const w = words();
  const conn = $("conn");
  const segments = Boolean(stream) && stream.mode === "segments";
  conn.dataset.state = page.status;
  conn.dataset.delivery = segments ? "segments" : "websocket";
  conn.title = segments ? w.viaSegments : "";
  if (page.status === "connected") conn.textContent = segments ? w.connectedSegments : w.connected;
  else conn.textContent = page.status === "lost" ? w.reconnecting : w.connecting;
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

function showBroadcast() {
  const w = words();
  const b = page.broadcasts[page.channel];
  const status = $("broadcast-status");
  const detail = $("broadcast-detail");
  status.replaceChildren();
  detail.replaceChildren();
  player.setTitle(`YouTube: ${channelName(page.channel)}`);
  if (!b) {
    player.show(null);
    return;
  }
  player.show(b.video_id, b.embed_url, b.status === "live");
  const badge = (kind, text) => {
    const span = document.createElement("span");
    span.className = `badge ${kind}`;
    span.textContent = text;
    status.append(span);
  };
  if (b.status === "live") {
    badge("live", w.live);
    if (b.concurrent_viewers != null) detail.textContent = w.watching(Number(b.concurrent_viewers));
  } else if (b.status === "upcoming") {
    badge("upcoming", w.upcoming);
    if (b.scheduled_start) {
      const start = new Date(b.scheduled_start);
      const left = (start - Date.now()) / 1000;
      const at = start.toLocaleString(uiLanguage(), { dateStyle: "medium", timeStyle: "short" });
      detail.textContent = left > 0 ? `${w.startsIn(clock(left))} ${w.startsAt(at)}` : w.startingSoon;
    }
  } else if (b.status === "ended") {
    badge("ended", w.ended);
    const link = document.createElement("a");
    link.textContent = w.readTranscript;
    link.href = transcriptLink();
    link.id = "transcript-link";
    if (link.getAttribute("href") === "#transcript") {
      link.addEventListener("click", () => showTranscriptPane(true, true));
    }
    detail.append(link);
  } else if (b.status === "not_found") {
    detail.textContent = w.notFound;
  }
}

// The archive's text transcript when anyone may download it, else the page's own pane:
// the session running now, else the last that ran, else the captions outside the programme.
function transcriptLink() {
  if (page.downloads !== "public") return "#transcript";
  const current = page.session && page.session.id;
  const ran = page.sessions.filter((s) => s.start).map((s) => s.id);
  const outside = page.sessions.some((s) => s.id === "unscheduled") ? "unscheduled" : null;
  const session = current || ran[ran.length - 1] || outside;
  if (!session) return "#transcript";
  return `/api/transcripts/${encodeURIComponent(session)}/${encodeURIComponent(page.channel)}.txt`;
}

function showCarriages() {
  carriage($("track-primary"), page.channel);
  carriage($("track-second"), page.dual ? page.second : null);
}

// "Now: floor, Korean" or "Now: interpretation from booth-en".
function carriage(section, channel) {
  const w = words();
  const c = channel ? page.carriages[channel] : null;
  const out = section.querySelector(".carries");
  if (!c) out.textContent = "";
  else if (c.carries === "floor") out.textContent = w.nowFloor(w.languages[c.language] || c.language);
  else if (c.carries) out.textContent = w.nowBooth(c.carries);
  else out.textContent = w.nowNothing;
}

function showDelay() {
  $("delay-value").textContent = words().seconds(page.delay || 0);
}

function setDelay(seconds) {
  page.delay = Math.min(60, Math.max(0, Math.round(seconds * 2) / 2));
  store.set("delay", page.delay);
  showDelay();
  primary.pump();
  second.pump();
}

// ------------------------------------------------------------------ transcript
const list = $("transcript-list");
const bySeq = new Map(); // seq -> li, for the primary channel

function clearTranscript() {
  list.replaceChildren();
  bySeq.clear();
  $("gap-notice").hidden = true;
  showMatches();
}

// One line per utterance: a long utterance's final comes in parts (cut at its pauses,
// each `end_of_utterance: false` but the last); a part joins the line it continues.
function continueLine(message) {
  if (message.utterance === undefined || !bySeq.size) return false;
  const last = Math.max(...bySeq.keys());
  const li = bySeq.get(last);
  if (last > message.seq || li !== list.lastElementChild) return false;
  if (li.dataset.open !== "1" || li.dataset.utterance !== String(message.utterance)) return false;
  const span = li.querySelector(".text");
  span.textContent = `${span.textContent} ${message.text}`;
  li.dataset.open = message.end_of_utterance ? "0" : "1";
  bySeq.set(message.seq, li);
  filter(li);
  return true;
}

function addToTranscript(message) {
  if (bySeq.has(message.seq)) return;
  const stuck = list.scrollTop + list.clientHeight >= list.scrollHeight - 40;
  if (continueLine(message)) {
    showMatches();
    if (stuck) list.scrollTop = list.scrollHeight;
    return;
  }
  const li = document.createElement("li");
  if (message.utterance !== undefined) li.dataset.utterance = String(message.utterance);
  li.dataset.open = message.end_of_utterance === false ? "1" : "0";
  li.dataset.seq = message.seq;
  li.dataset.lang = message.lang || "";
  li.dataset.at = message.at ? String(message.at) : "";
  li.lang = message.lang || "";
  const time = document.createElement("time");
  if (message.at) {
    const at = new Date(message.at * 1000);
    time.dateTime = at.toISOString();
    time.textContent = at.toLocaleTimeString(uiLanguage(), { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = message.text;
  li.append(time, text);
  const later = [...bySeq.keys()].filter((seq) => seq > message.seq);
  const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 40;
  if (later.length) list.insertBefore(li, bySeq.get(Math.min(...later)));
  else list.append(li);
  bySeq.set(message.seq, li);
  while (bySeq.size > KEPT_TRANSCRIPT) {
    const first = list.querySelector("li[data-seq]");
    for (const [seq, item] of bySeq) if (item === first) bySeq.delete(seq);
    first.remove();
  }
  filter(li);
  showMatches();
  if (stick) list.scrollTop = list.scrollHeight;
}

function addNote(text) {
  const li = document.createElement("li");
  li.className = "gap";
  li.textContent = text;
  list.append(li);
}

function query() {
  return $("search").value.trim().normalize("NFC").toLowerCase();
}

// Show `li` only if it matches the search, with the match marked.
function filter(li) {
  const span = li.querySelector(".text");
  if (!span) return;
  const text = span.textContent;
  const q = query();
  const at = q ? text.normalize("NFC").toLowerCase().indexOf(q) : -1;
  li.hidden = Boolean(q) && at < 0;
  if (at < 0) {
    span.replaceChildren(text);
  } else {
    const mark = document.createElement("mark");
    mark.textContent = text.slice(at, at + q.length);
    span.replaceChildren(text.slice(0, at), mark, text.slice(at + q.length));
  }
}

function showMatches() {
  const q = query();
  const shown = list.querySelectorAll("li[data-seq]:not([hidden])").length;
  $("matches").textContent = q ? words().matches(shown) : "";
}

function download() {
  const lines = [...list.querySelectorAll("li[data-seq]")].map((li) => {
    const time = li.querySelector("time").dateTime;
    const stamp = time ? `[${new Date(time).toLocaleTimeString("en-GB")}] ` : "";
    return stamp + li.querySelector(".text").textContent;
  });
  const title = channelName(page.channel);
  const head = [page.event.title || document.title, title, new Date().toLocaleString()].filter(Boolean);
  const blob = new Blob([`${head.join("\n")}\n\n${lines.join("\n")}\n`], { type: "text/plain;charset=utf-8" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  const day = new Date().toISOString().slice(0, 10);
  a.download = `${page.event.id || "captions"}-${page.channel}-${day}.txt`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

function showTranscriptPane(on, focus = false) {
  $("transcript").hidden = !on;
  $("layout").classList.toggle("with-transcript", on);
  $("transcript-toggle").setAttribute("aria-pressed", String(on));
  store.set("transcript", on ? "1" : "0");
  if (on && focus) $("search").focus();
}

// When anyone may download transcripts, the pane starts with the session so far.
async function loadSessionSoFar() {
  const id = page.session && page.session.id;
  if (page.downloads !== "public" || !id) return;
  const channel = page.channel;
  try {
    const response = await fetch(`/api/transcripts/${encodeURIComponent(id)}/${encodeURIComponent(channel)}.json`);
    if (!response.ok || channel !== page.channel) return;
    const body = await response.json();
    // Only what came before the first caption shown (by seq and by time: after a restart
    // of the in-memory bus the archive holds an earlier run's numbers).
    const first = Math.min(...bySeq.keys(), Infinity);
    const firstAt = Math.min(...[...bySeq.values()].map((li) => Number(li.dataset.at) || Infinity), Infinity);
    for (const c of body.captions || []) {
      const at = Date.parse(c.at) / 1000;
      if (c.seq < first && at < firstAt) addToTranscript({ seq: c.seq, text: c.text, lang: body.lang, at });
    }
  } catch (error) {
    console.warn("the transcript so far could not be read:", error);
  }
}

// The screen reader hears each final caption of the main channel when it is shown.
const announcer = $("announce");
function announce(message) {
  const p = document.createElement("p");
  p.lang = message.lang || "";
  p.textContent = message.text;
  announcer.append(p);
  while (announcer.childElementCount > 3) announcer.firstElementChild.remove();
}

// ------------------------------------------------------------------ settings
function setFontScale(scale) {
  page.fontScale = Math.min(2.5, Math.max(0.75, scale));
  store.set("fontScale", page.fontScale);
  document.documentElement.style.setProperty("--caption-size", `${1.6 * page.fontScale}rem`);
}

function setContrast(on) {
  document.documentElement.classList.toggle("contrast", on);
  $("contrast").setAttribute("aria-pressed", String(on));
  store.set("contrast", on ? "1" : "0");
}

function setDark(on) {
  document.documentElement.dataset.theme = on ? "dark" : "light";
  $("dark").setAttribute("aria-pressed", String(on));
  store.set("theme", on ? "dark" : "light");
}

function toggleUi() {
  page.ui = uiLanguage() === "ko" ? "en" : "ko";
  store.set("ui", page.ui);
  applyWords();
}

function nextChannel() {
  const ids = page.channels.map((c) => c.id);
  if (ids.length > 1) choose(ids[(ids.indexOf(page.channel) + 1) % ids.length]);
}

const KEYS = {
  l: nextChannel,
  b: () => setDual(!page.dual),
  "+": () => setFontScale(page.fontScale + 0.125),
  "=": () => setFontScale(page.fontScale + 0.125),
  "-": () => setFontScale(page.fontScale - 0.125),
  "[": () => setDelay((page.delay || 0) - 0.5),
  "]": () => setDelay((page.delay || 0) + 0.5),
  t: () => showTranscriptPane($("transcript").hidden),
  "/": () => showTranscriptPane(true, true),
  c: () => setContrast(!document.documentElement.classList.contains("contrast")),
  d: () => setDark(document.documentElement.dataset.theme !== "dark"),
  k: toggleUi,
};

document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (target.closest && target.closest("input, select, textarea, [contenteditable]")) {
    if (event.key === "Escape") target.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const action = KEYS[event.key.length === 1 ? event.key.toLowerCase() : event.key];
  if (!action) return;
  event.preventDefault();
  action();
});

$("channel").addEventListener("change", (event) => choose(event.target.value));
$("second").addEventListener("change", (event) => {
  page.second = event.target.value;
  store.set("second", page.second);
  if (secondStream) {
    second.reset(page.second);
    secondStream.switchTo(page.second);
  }
  fillChannelLists();
  showCarriages();
});
$("dual").addEventListener("change", (event) => setDual(event.target.checked));
$("delay-less").addEventListener("click", () => setDelay((page.delay || 0) - 0.5));
$("delay-more").addEventListener("click", () => setDelay((page.delay || 0) + 0.5));
$("smaller").addEventListener("click", () => setFontScale(page.fontScale - 0.125));
$("larger").addEventListener("click", () => setFontScale(page.fontScale + 0.125));
$("contrast").addEventListener("click", () => setContrast(!document.documentElement.classList.contains("contrast")));
$("dark").addEventListener("click", () => setDark(document.documentElement.dataset.theme !== "dark"));
$("transcript-toggle").addEventListener("click", () => showTranscriptPane($("transcript").hidden));
$("ui-language").addEventListener("click", toggleUi);
$("download").addEventListener("click", download);
$("search").addEventListener("input", () => {
  for (const li of list.querySelectorAll("li[data-seq]")) filter(li);
  showMatches();
});

// ------------------------------------------------------------------ the socket
// The websocket, the segment feed, or the websocket falling back to the segments
// (service.delivery, docs/pages.md): created by start() once /api/event has said which.
let stream = null;
let secondStream = null;
const handlers = {
  onCaption: (message) => primary.push(message),
  onClear: () => {
    primary.reset(page.channel);
    clearTranscript();
    loadSessionSoFar();
  },
  onRestart: () => {
    primary.reset(page.channel);
    addNote(words().restarted);
  },
  onGap: () => {
    addNote(words().gapLine);
    const notice = $("gap-notice");
    notice.textContent = words().gap;
    notice.hidden = false;
  },
  onState: (key, value) => {
    if (key.startsWith("broadcast:")) {
      page.broadcasts[key.slice("broadcast:".length)] = value;
      showBroadcast();
    } else if (key.startsWith("channel:")) {
      page.carriages[key.slice("channel:".length)] = value;
      showCarriages();
    } else if (key === "session") {
      page.session = value;
      showBroadcast();
    }
  },
  onWelcome: (channels) => {
    const known = page.channels.map((c) => c.id);
    if (channels.join() === known.join()) return;
    page.channels = channels.map(
      (id) => page.channels.find((c) => c.id === id) || { id, language: id, name: "", caption_delay: 0 },
    );
    applyWords();
  },
  onStatus: (status) => {
    page.status = status;
    showStatus();
  },
  onError: (message) => {
    console.warn("the server refused a message:", message.code, message.message);
    if (message.code === "unknown_channel" && page.channels.length) choose(page.channels[0].id);
  },
  onFallback: () => {
    console.info("the websocket did not connect: captions come from the segment feed");
    showStatus();
  },
};

async function getJson(url) {
  try {
    const response = await fetch(url);
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

function setUpControls() {
  $("dual").checked = page.dual;
  $("contrast").setAttribute("aria-pressed", String(document.documentElement.classList.contains("contrast")));
  $("dark").setAttribute("aria-pressed", String(document.documentElement.dataset.theme === "dark"));
  // On a phone the pane starts closed (T or the button opens it), unless it was left open.
  const kept = store.get("transcript");
  showTranscriptPane(kept === null ? !matchMedia("(max-width: 40rem)").matches : kept === "1");
}

async function start() {
  const info = (await getJson("/api/event")) || (await getJson("/api/state"));
  if (info && info.event) page.event = info.event;
  if (info && ["websocket", "segments", "auto"].includes(info.delivery)) page.delivery = info.delivery;
  if (info && Number(info.segment_seconds) > 0) page.segmentSeconds = Number(info.segment_seconds);
  if (info && info.channels) {
    page.channels = info.channels.map((c) =>
      typeof c === "string" ? { id: c, language: c, name: "", caption_delay: 0 } : c,
    );
  }
  const ids = page.channels.map((c) => c.id);
  if (!ids.includes(page.channel)) page.channel = ids[0] || "en";
  if (page.delay === null || Number.isNaN(page.delay)) {
    const info = page.channels.find((c) => c.id === page.channel);
    page.delay = info ? Number(info.caption_delay) || 0 : 0;
  }
  pickSecond();
  primary.reset(page.channel);
  setUpControls();
  applyWords();
  stream = streamFor(page.delivery, page.channel, handlers, page.segmentSeconds);
  stream.start();
  if (page.dual) setDual(true);
  const sessions = await getJson("/api/sessions");
  if (sessions) {
    page.downloads = sessions.downloads;
    page.sessions = sessions.sessions || [];
    showBroadcast();
    loadSessionSoFar();
  }
}

setInterval(() => {
  const b = page.broadcasts[page.channel];
  if (b && b.status === "upcoming") showBroadcast(); // the countdown
}, 1000);

start();
