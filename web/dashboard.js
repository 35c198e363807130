// The organizer dashboard (docs/pages.md): broadcasts, listeners, booths, captioners and
// transcripts, refreshed every two seconds. Every admin call carries the organizer token
// (`Authorization: Bearer`); the token is kept for this tab only (sessionStorage). Its
// words are in English and Korean (i18n.js): the browser's language until the organizer
// picks one with the 한국어 / English button, remembered like the viewer page's choice.
import { DASHBOARD_WORDS, chosenLanguage, rememberLanguage, translate, wordsFor } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 2000;
const TOKEN_KEY = "companion.organizer";
let token = "";
let timer = null;
let eventInfo = { id: "event", title: "", title_ko: "" };
let ui = chosenLanguage();
let w = wordsFor(ui, DASHBOARD_WORDS);
let shown = null; // the latest refresh's answers, drawn again when the language changes
let signInMessage = ""; // a key of the words: why the sign-in form is back
let youtubeNow = null; // the latest /api/admin/youtube, to redraw the posters between refreshes
const trials = {}; // channel -> this page's own test caption: { busy } or { result | error, at }

function keepToken(value) {
  token = value;
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* this tab only */
  }
}

// ------------------------------------------------------------------ the words
function toggleLanguage() {
  ui = ui === "ko" ? "en" : "ko";
  rememberLanguage(ui);
  applyWords();
}

function applyWords() {
  w = wordsFor(ui, DASHBOARD_WORDS);
  document.documentElement.lang = ui;
  translate(document, w);
  $("ui-language").lang = ui === "ko" ? "en" : "ko";
  const title = (ui === "ko" && eventInfo.title_ko) || eventInfo.title;
  $("event-title").textContent = title ? w.titleOf(title) : w.title;
  document.title = $("event-title").textContent;
  $("signin-error").textContent = signInMessage ? w[signInMessage] : "";
  if (shown) draw(shown);
}

async function call(path, admin = true) {
  try {
    const headers = admin ? { Authorization: `Bearer ${token}` } : {};
    const response = await fetch(path, { headers, cache: "no-store" });
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    return { status: response.status, body };
  } catch {
    return { status: 0, body: null }; // the service cannot be reached
  }
}

// ------------------------------------------------------------------ helpers
function cell(content, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (content instanceof Node) td.append(content);
  else td.textContent = content == null || content === "" ? "—" : String(content);
  return td;
}

function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells);
  return tr;
}

function span(text, className) {
  const s = document.createElement("span");
  s.textContent = text;
  if (className) s.className = className;
  return s;
}

function ago(seconds) {
  if (seconds == null || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return w.secondsAgo(s);
  if (s < 3600) return w.minutesAgo(Math.floor(s / 60));
  return w.hoursAgo(Math.floor(s / 3600), Math.floor((s % 3600) / 60));
}

function since(unix) {
  return unix ? ago(Date.now() / 1000 - unix) : "—";
}

// Dates and times in the page's language, in the browser's own form of it (en-GB…).
function locale() {
  return navigator.language && navigator.language.split("-")[0] === ui ? navigator.language : ui;
}

function when(iso) {
  const t = iso ? Date.parse(iso) : NaN;
  // "Outside the programme" has no times of its own (the epoch).
  return t > 86400000 ? new Date(t).toLocaleString(locale(), { dateStyle: "short", timeStyle: "short" }) : "—";
}

function number(value, digits = 2) {
  return value == null ? "—" : Number(value).toFixed(digits);
}

function seconds(value) {
  return value == null ? null : w.seconds(number(value, 1));
}

function signed(skew) {
  return w.seconds(`${skew > 0 ? "+" : ""}${skew.toFixed(1)}`);
}

// A status word the service sends (alive, writing…) in the page's language.
function statusWord(status, words = w.status) {
  return words[status] || status;
}

const STATUS_CLASS = { alive: "ok", live: "bad", writing: "ok", stale: "warn", stopped: "bad", failing: "bad", missing: "muted", ended: "muted" };

// ------------------------------------------------------------------ sections
function showChannels(state, youtube) {
  const docs = state.state || {};
  $("channels").replaceChildren(
    ...state.channels.map((channel) => {
      const b = docs[`broadcast:${channel}`];
      const c = docs[`channel:${channel}`];
      const listeners = cell(state.listeners[channel] ?? 0, "num");
      listeners.id = `listeners-${channel}`;
      let broadcast = w.notTracked;
      if (b) {
        const tracking = b.tracking && b.tracking !== "on" ? w.tracking[b.tracking] || b.tracking : "";
        broadcast = [statusWord(b.status, w.broadcastStatus), tracking, b.note].filter(Boolean).join(" · ");
      }
      let carries = "—";
      if (c) carries = c.carries === "floor" ? w.carriesFloor(w.languages[c.language] || c.language) : c.carries || w.nothingOnAir;
      return row(
        cell(channel),
        listeners,
        cell(span(broadcast, b && b.status === "live" ? "bad" : "")),
        cell(b ? b.concurrent_viewers : null, "num"),
        cell(carries),
      );
    }),
  );
  if (youtube) {
    $("quota").textContent = quotaLine(youtube.quota || {});
    const t = youtube.tracker || {};
    // A channel's feed that fails is not a tracker error: its uploads playlist stands in.
    const feeds = Object.entries(t.discovery || {})
      .filter(([, d]) => d.feed === "failed")
      .map(([id, d]) => w.feedFailed(id, d.feed_error));
    $("tracker").textContent =
      (t.tracking ? w.trackerOn : w.trackerOff) + (t.last_error ? w.lastError(t.last_error) : "") + (t.next_check ? w.nextCheck(when(t.next_check)) : "") + feeds.join("");
    showPosters(youtube);
  } else {
    $("quota").textContent = w.youtubeOff;
    $("tracker").textContent = "";
  }
}

function showPosters(youtube) {
  youtubeNow = youtube;
  const posters = Object.entries(youtube.posters || {});
  const latest = youtube.test_captions || {};
  $("posters-box").hidden = !posters.length;
  $("posters").replaceChildren(
    ...posters.map(([channel, p]) =>
      row(cell(channel), cell(p.active ? w.yes : w.no), cell(p.captions, "num"), cell(p.retries, "num"), cell(p.rejected, "num"), cell(p.stale_dropped, "num"), cell(skewCell(p)), cell(skewWarning(p) || p.last_error), cell(trialCell(channel, latest[channel]))),
    ),
  );
}

// ------------------------------------------------------------------ test captions
// "Send a test caption": the channel's running poster sends one marked cue as its next
// post and the service answers with YouTube's answer (docs/youtube.md, "A test caption").
// This page's own answer shows until a newer one comes with the refresh.
function trialCell(channel, latest) {
  const box = document.createElement("div");
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = w.sendTrial;
  button.setAttribute("aria-label", w.sendTrialOn(channel));
  const mine = trials[channel];
  button.disabled = Boolean(mine && mine.busy);
  button.addEventListener("click", () => sendTrial(channel));
  const out = document.createElement("div");
  out.id = `trial-${channel}`;
  out.setAttribute("role", "status");
  if (mine && mine.busy) out.append(span(w.sending, "muted"));
  else if (mine && mine.error && !(latest && latest.at > mine.at)) out.append(span(mine.error, "bad"));
  else {
    const shown = mine && mine.result && !(latest && latest.at > mine.result.at) ? mine.result : latest;
    if (shown) out.append(...trialLines(shown));
  }
  box.append(button, out);
  return box;
}

function trialLines(r) {
  const head = {
    accepted: [w.accepted(r.seq), "ok"],
    refused: [w.refused(r.status, r.message), "bad"],
    no_answer: [w.unanswered(r.message), "bad"],
    expired: [w.expired(r.message), "warn"],
    sending: [w.waiting(r.seq), "warn"],
  }[r.outcome] || [r.outcome, ""];
  const lines = [span(head[0], head[1])];
  if (r.round_trip_ms != null) lines.push(span(w.roundTrip(Math.round(r.round_trip_ms))));
  if (r.clock_skew != null) {
    const far = Math.abs(r.clock_skew) > SKEW_WARN;
    lines.push(span(w.clockSkew(signed(r.clock_skew)), far ? "bad" : ""));
    if (far) lines.push(span(` — ${w.skewWarning(Math.abs(r.clock_skew).toFixed(1), r.clock_skew > 0)}`, "bad"));
  }
  lines.push(span(` · ${since(r.at)}`, "muted"));
  return lines;
}

async function sendTrial(channel) {
  trials[channel] = { busy: true };
  if (youtubeNow) showPosters(youtubeNow);
  let answer;
  try {
    const response = await fetch("/api/admin/youtube/test-caption", {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ channel, by: "organizer (dashboard)" }),
      cache: "no-store",
    });
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    const ok = (response.status === 200 || response.status === 202) && body;
    answer = ok ? { result: body } : { error: (body && body.message) || w.serviceAnswered(response.status) };
  } catch {
    answer = { error: w.unreachable };
  }
  trials[channel] = { ...answer, at: Date.now() / 1000 };
  if (youtubeNow) showPosters(youtubeNow);
}

// YouTube's clock minus this machine's, from the poster's replies (docs/youtube.md):
// past 10 s it is marked, and the warning says what to check. The poster decides when
// to warn (its `skew_warning`); the page says it in its own words.
const SKEW_WARN = 10; // seconds, as workers/poster/clock.py

function skewCell(p) {
  if (p.clock_skew === null || p.clock_skew === undefined) return w.notMeasured;
  return span(signed(p.clock_skew), p.skew_warning ? "bad" : "");
}

function skewWarning(p) {
  if (!p.skew_warning || p.clock_skew == null) return p.skew_warning || "";
  return w.skewWarning(Math.abs(p.clock_skew).toFixed(1), p.clock_skew > 0);
}

// YouTube's two daily buckets (docs/youtube.md): units for most calls, and
// search.list's own count of calls. A spent one says why and until when.
function quotaLine(q) {
  if (q.error) return w.quotaUnknown(q.error, when(q.resets_at));
  const bucket = (b, unit) => {
    if (!b) return `? ${unit}`;
    const spent = b.spent ? w.spent(when(b.spent_until), b.spent) : "";
    return w.bucket(b.used, b.limit, unit, b.left) + spent;
  };
  return w.quotaToday(bucket(q.units, w.units), bucket(q.searches, w.calls), when(q.resets_at));
}

function showBooths(desk) {
  $("booths-box").hidden = !desk;
  if (!desk) return;
  const name = (id) => (id ? desk.interpreters[id] || id : null);
  const floor = desk.floor || {};
  const by = w.floorBy[floor.by] || name(floor.by) || "?"; // heard, configured or set by a booth
  $("floor").textContent = floor.lang ? w.floorLanguage(w.languages[floor.lang] || floor.lang, by, since(floor.at)) : "";
  $("booths").replaceChildren(
    ...Object.values(desk.booths).map((b) => {
      let air = b.live ? name(b.live) : w.nobody;
      if (b.live && b.muted) air += w.muted;
      if (b.live && b.coughing) air += w.coughing;
      if (b.request) air += w.handoverAsked(name(b.request.giver), name(b.request.taker));
      const onAir = cell(span(air, b.on_air ? "ok" : "warn"));
      onAir.id = `onair-${b.id}`;
      const evs = (desk.evs || {})[b.id];
      const lag = evs ? `${seconds(evs.seconds)} (${name(evs.interpreter) || "?"})` : null;
      return row(
        cell(b.id),
        cell(b.channel),
        onAir,
        cell(b.listening === "floor" ? w.floor : w.relay(b.listening)),
        cell(b.last_handover ? since(b.last_handover) : w.noneYet),
        cell(lag, "num"),
      );
    }),
  );
}

function showCaptioners(captioners) {
  $("captioners").replaceChildren(
    ...Object.entries(captioners).map(([id, c]) => {
      const last = c.last_caption ? `${c.last_caption.final ? "" : w.partial}${c.last_caption.text} · ${ago(c.last_caption.age_seconds)}` : null;
      const status = cell(span(statusWord(c.status), STATUS_CLASS[c.status] || ""));
      status.id = `captioner-${id}`;
      return row(
        cell(id),
        status,
        cell(c.source),
        cell(seconds(c.lag_seconds), "num"),
        cell(number(c.real_time_factor), "num"),
        cell(last),
        cell(c.error ? span(c.error, "bad") : null),
      );
    }),
  );
}

function showTranscripts(sessions, archive) {
  $("transcripts-box").hidden = !sessions;
  if (!sessions) return;
  if (archive) {
    const a = archive.archiver || {};
    $("archive").textContent = w.archiver(statusWord(archive.status)) + (a.waiting != null ? w.captionsWaiting(a.waiting) : "") + (a.last_error ? ` · ${a.last_error}` : "");
  }
  const current = sessions.current && sessions.current.id;
  $("sessions").replaceChildren(
    ...sessions.sessions.map((s) => {
      const named = (ui === "ko" && s.title_ko) || s.title || s.id;
      const title = cell(`${named}${s.id === current ? w.now : ""}`);
      const links = document.createElement("div");
      links.className = "downloads";
      for (const path of s.downloads) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = path.split("/").pop();
        button.setAttribute("aria-label", w.download(named, button.textContent));
        button.addEventListener("click", () => download(path, `${eventInfo.id}-${s.id}.${button.textContent}`));
        links.append(button);
      }
      return row(title, cell(`${when(s.scheduled_start)} – ${when(s.scheduled_end)}`), cell(s.start ? `${when(s.start)} – ${s.end ? when(s.end) : w.running}` : w.notYet), cell(links));
    }),
  );
}

async function download(path, filename) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) {
    $("updated").textContent = w.downloadFailed(response.status);
    return;
  }
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await response.blob());
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ------------------------------------------------------------------ the loop
// Why the token was refused (a key of the words), or null.
function refused(result) {
  if (result.status === 401) return "tokenRequired";
  if (result.status === 403) return "tokenRefused";
  return null;
}

async function refresh() {
  const [captioners, state, youtube, booths, sessions, archive] = await Promise.all([
    call("/api/admin/captioners"),
    call("/api/state", false),
    call("/api/admin/youtube"),
    call("/api/admin/booths"),
    call("/api/sessions", false),
    call("/api/archive"),
  ]);
  const refusal = refused(captioners);
  if (refusal) {
    signOut(refusal);
    return false;
  }
  if (captioners.status !== 200 || state.status !== 200) {
    $("updated").textContent = w.noAnswer(captioners.status || w.noConnection);
    return true;
  }
  $("signin").hidden = true;
  $("board").hidden = false;
  const ok = (result) => (result.status === 200 ? result.body : null);
  draw({
    state: state.body,
    youtube: ok(youtube),
    booths: ok(booths),
    captioners: captioners.body.captioners,
    sessions: ok(sessions),
    archive: ok(archive),
    at: new Date(),
  });
  return true;
}

function draw(answers) {
  shown = answers;
  showChannels(answers.state, answers.youtube);
  showBooths(answers.booths);
  showCaptioners(answers.captioners);
  showTranscripts(answers.sessions, answers.archive);
  $("updated").textContent = w.updated(answers.at.toLocaleTimeString(locale()));
}

async function loop() {
  clearTimeout(timer);
  if (!token) return;
  if (await refresh()) timer = setTimeout(loop, REFRESH_MS);
}

function signOut(why) {
  clearTimeout(timer);
  keepToken("");
  shown = null;
  signInMessage = why || "";
  $("board").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = why ? w[why] : "";
  $("token").value = "";
  $("token").focus();
}

$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signInMessage = "";
  $("signin-error").textContent = "";
  keepToken($("token").value.trim());
  loop();
});
$("signout").addEventListener("click", () => signOut("signedOut"));
$("ui-language").addEventListener("click", toggleLanguage);

async function start() {
  applyWords();
  try {
    const info = await (await fetch("/api/event")).json();
    if (info.event) {
      eventInfo = { ...eventInfo, ...info.event, id: info.event.id || eventInfo.id };
      applyWords();
    }
  } catch {
    /* the title is a nicety */
  }
  // A link may carry the token in its fragment (never sent to the server); it is removed.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    keepToken(fragment.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  } else {
    try {
      token = sessionStorage.getItem(TOKEN_KEY) || "";
    } catch {
      token = "";
    }
  }
  if (token) loop();
  else $("token").focus();
}

start();
