// The organizer dashboard (docs/pages.md): broadcasts, listeners, booths, captioners and
// transcripts, refreshed every two seconds. Every admin call carries the organizer token
// (`Authorization: Bearer`); the token is kept for this tab only (sessionStorage).
const $ = (id) => document.getElementById(id);
const REFRESH_MS = 2000;
const TOKEN_KEY = "companion.organizer";
let token = "";
let timer = null;
let eventId = "event";
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
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
}

function since(unix) {
  return unix ? ago(Date.now() / 1000 - unix) : "—";
}

function when(iso) {
  const t = iso ? Date.parse(iso) : NaN;
  // "Outside the programme" has no times of its own (the epoch).
  return t > 86400000 ? new Date(t).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "—";
}

function number(value, digits = 2) {
  return value == null ? "—" : Number(value).toFixed(digits);
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
      let broadcast = "not tracked";
      if (b) broadcast = [b.status, b.tracking && b.tracking !== "on" ? `tracking ${b.tracking}` : "", b.note].filter(Boolean).join(" · ");
      let carries = "—";
      if (c) carries = c.carries === "floor" ? `floor (${c.language})` : c.carries || "nothing on air";
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
      .map(([id, d]) => ` · feed of ${id} failed (${d.feed_error}): reading its uploads instead`);
    $("tracker").textContent =
      `Tracker: ${t.tracking ? "on" : "off"}` + (t.last_error ? ` · last error: ${t.last_error}` : "") + (t.next_check ? ` · next check ${when(t.next_check)}` : "") + feeds.join("");
    showPosters(youtube);
  } else {
    $("quota").textContent = "YouTube: not configured for this service.";
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
      row(cell(channel), cell(p.active ? "yes" : "no"), cell(p.captions, "num"), cell(p.retries, "num"), cell(p.rejected, "num"), cell(p.stale_dropped, "num"), cell(skewCell(p)), cell(p.skew_warning || p.last_error), cell(trialCell(channel, latest[channel]))),
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
  button.textContent = "Send a test caption";
  button.setAttribute("aria-label", `Send a test caption on channel ${channel}`);
  const mine = trials[channel];
  button.disabled = Boolean(mine && mine.busy);
  button.addEventListener("click", () => sendTrial(channel));
  const out = document.createElement("div");
  out.id = `trial-${channel}`;
  out.setAttribute("role", "status");
  if (mine && mine.busy) out.append(span("sending…", "muted"));
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
    accepted: [`accepted (seq ${r.seq})`, "ok"],
    refused: [`refused (HTTP ${r.status})${r.message ? `: ${r.message}` : ""}`, "bad"],
    no_answer: [`no answer from YouTube (${r.message})`, "bad"],
    expired: [`not sent: ${r.message}`, "warn"],
    sending: [`sent as post ${r.seq}; waiting for YouTube's answer…`, "warn"],
  }[r.outcome] || [r.outcome, ""];
  const lines = [span(head[0], head[1])];
  if (r.round_trip_ms != null) lines.push(span(` · round trip ${Math.round(r.round_trip_ms)} ms`));
  if (r.clock_skew != null) {
    const far = Math.abs(r.clock_skew) > 10;
    lines.push(span(` · clock skew ${r.clock_skew > 0 ? "+" : ""}${r.clock_skew.toFixed(1)} s`, far ? "bad" : ""));
    if (far) lines.push(span(` — ${r.skew_warning || "more than 10 s: check this machine's clock (NTP)"}`, "bad"));
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
    answer = ok ? { result: body } : { error: (body && body.message) || `The service answered ${response.status}.` };
  } catch {
    answer = { error: "The service cannot be reached." };
  }
  trials[channel] = { ...answer, at: Date.now() / 1000 };
  if (youtubeNow) showPosters(youtubeNow);
}

// YouTube's clock minus this machine's, from the poster's replies (docs/youtube.md):
// past 10 s it is marked, and the warning says what to check.
function skewCell(p) {
  if (p.clock_skew === null || p.clock_skew === undefined) return "not measured";
  const s = `${p.clock_skew > 0 ? "+" : ""}${p.clock_skew.toFixed(1)} s`;
  return span(s, p.skew_warning ? "bad" : "");
}

// YouTube's two daily buckets (docs/youtube.md): units for most calls, and
// search.list's own count of calls. A spent one says why and until when.
function quotaLine(q) {
  if (q.error) return `YouTube API quota: unknown (${q.error}); resets ${when(q.resets_at)}`;
  const bucket = (b, unit) => {
    if (!b) return `? ${unit}`;
    const spent = b.spent ? ` — SPENT until ${when(b.spent_until)}: ${b.spent}` : "";
    return `${b.used} of ${b.limit} ${unit} (${b.left} left)${spent}`;
  };
  return (
    `YouTube API quota today: ${bucket(q.units, "units")}; ` +
    `searches ${bucket(q.searches, "calls")}; resets ${when(q.resets_at)}`
  );
}

function showBooths(desk) {
  $("booths-box").hidden = !desk;
  if (!desk) return;
  const name = (id) => (id ? desk.interpreters[id] || id : null);
  const floor = desk.floor || {};
  $("floor").textContent = floor.lang ? `Floor language: ${floor.lang} (${floor.by || "?"}, ${since(floor.at)})` : "";
  $("booths").replaceChildren(
    ...Object.values(desk.booths).map((b) => {
      let air = b.live ? name(b.live) : "nobody";
      if (b.live && b.muted) air += " (muted)";
      if (b.live && b.coughing) air += " (coughing)";
      if (b.request) air += ` · handover asked: ${name(b.request.giver)} → ${name(b.request.taker)}`;
      const onAir = cell(span(air, b.on_air ? "ok" : "warn"));
      onAir.id = `onair-${b.id}`;
      const evs = (desk.evs || {})[b.id];
      const lag = evs ? `${number(evs.seconds, 1)} s (${name(evs.interpreter) || "?"})` : null;
      return row(
        cell(b.id),
        cell(b.channel),
        onAir,
        cell(b.listening),
        cell(b.last_handover ? since(b.last_handover) : "none yet"),
        cell(lag, "num"),
      );
    }),
  );
}

function showCaptioners(captioners) {
  $("captioners").replaceChildren(
    ...Object.entries(captioners).map(([id, c]) => {
      const last = c.last_caption ? `${c.last_caption.final ? "" : "(partial) "}${c.last_caption.text} · ${ago(c.last_caption.age_seconds)}` : null;
      const status = cell(span(c.status, STATUS_CLASS[c.status] || ""));
      status.id = `captioner-${id}`;
      return row(
        cell(id),
        status,
        cell(c.source),
        cell(c.lag_seconds == null ? null : `${number(c.lag_seconds, 1)} s`, "num"),
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
    $("archive").textContent = `Archiver: ${archive.status}` + (a.waiting != null ? ` · ${a.waiting} captions waiting` : "") + (a.last_error ? ` · ${a.last_error}` : "");
  }
  const current = sessions.current && sessions.current.id;
  $("sessions").replaceChildren(
    ...sessions.sessions.map((s) => {
      const title = cell(`${s.title || s.id}${s.id === current ? " (now)" : ""}`);
      const links = document.createElement("div");
      links.className = "downloads";
      for (const path of s.downloads) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = path.split("/").pop();
        button.setAttribute("aria-label", `Download ${s.title || s.id}, ${button.textContent}`);
        button.addEventListener("click", () => download(path, `${eventId}-${s.id}.${button.textContent}`));
        links.append(button);
      }
      return row(title, cell(`${when(s.scheduled_start)} – ${when(s.scheduled_end)}`), cell(s.start ? `${when(s.start)} – ${s.end ? when(s.end) : "running"}` : "not yet"), cell(links));
    }),
  );
}

async function download(path, filename) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) {
    $("updated").textContent = `Download failed: ${response.status}`;
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
function refused(result) {
  if (result.status === 401) return "An organizer token is required.";
  if (result.status === 403) return "Refused: this token is not an organizer's.";
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
    $("updated").textContent = `The service did not answer (${captioners.status || "no connection"}); retrying…`;
    return true;
  }
  $("signin").hidden = true;
  $("board").hidden = false;
  showChannels(state.body, youtube.status === 200 ? youtube.body : null);
  showBooths(booths.status === 200 ? booths.body : null);
  showCaptioners(captioners.body.captioners);
  showTranscripts(sessions.status === 200 ? sessions.body : null, archive.status === 200 ? archive.body : null);
  $("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  return true;
}

async function loop() {
  clearTimeout(timer);
  if (!token) return;
  if (await refresh()) timer = setTimeout(loop, REFRESH_MS);
}

function signOut(message) {
  clearTimeout(timer);
  keepToken("");
  $("board").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("token").value = "";
  $("token").focus();
}

$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  $("signin-error").textContent = "";
  keepToken($("token").value.trim());
  loop();
});
$("signout").addEventListener("click", () => signOut("Signed out."));

async function start() {
  try {
    const info = await (await fetch("/api/event")).json();
    if (info.event && info.event.title) {
      $("event-title").textContent = `Organizer dashboard · ${info.event.title}`;
      eventId = info.event.id || eventId;
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
