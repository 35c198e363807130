// Captions from the segment feed (docs/segments.md), for pages behind proxies that block
// websockets, or a crowd a CDN carries: poll /live/<channel>/latest.json, fetch each new
// seg/<n>.json in order, and hand on each final once, in seq order, as the websocket's
// `caption` messages (docs/protocol.md), so the page renders both the same way.
// `AutoStream` tries the websocket first and falls back to the segments for good.
import { CaptionStream } from "./stream.js";

const CATCH_UP = 30; // segments fetched at most after a gap (older finals are skipped)
const RECENT_SECONDS = 30; // on joining: the finals of about this many seconds back
const STATE_EVERY_MS = 15000; // the state documents (broadcast, carriage): /api/state
const WELCOME_WAIT_MS = 4000; // auto: no welcome this long after starting, use segments

export class SegmentStream {
  /**
   * Same `handlers` as CaptionStream's: onCaption, onClear, onRestart, onStatus, onState
   * (from /api/state, polled), onError. `seconds`: the segment length (latest.json's wins).
   */
  constructor(channel, handlers, seconds = 2) {
    this.channel = channel;
    this.handlers = handlers;
    this.seconds = Number(seconds) > 0 ? Number(seconds) : 2;
    this.mode = "segments";
    this.stopped = true;
    this.timer = null;
    this.stateTimer = null;
    this.failures = 0;
    this.status = null;
    this.reset();
  }

  reset() {
    this.generation = (this.generation || 0) + 1; // answers for an older channel are dropped
    this.lastSegment = null; // the last segment handed on
    this.lastSeq = null; // seq of the last final handed on
    this.partialKey = null; // the partial handed on last ("seq:text")
    this.fresh = true; // the next answer starts the channel: clear, then the recent finals
  }

  start() {
    this.stopped = false;
    this.emitStatus("connecting");
    this.schedule(0);
    if (this.handlers.onState) this.pollState();
  }

  stop() {
    this.stopped = true;
    this.generation += 1;
    clearTimeout(this.timer);
    clearTimeout(this.stateTimer);
  }

  /** Watch another channel from its recent finals. */
  switchTo(channel) {
    this.channel = channel;
    this.reset();
    if (!this.stopped) this.schedule(0);
  }

  emit(name, ...args) {
    const handler = this.handlers[name];
    if (handler) handler(...args);
  }

  emitStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.emit("onStatus", status);
  }

  // About once a second, and at least twice a segment: latest.json is cached for half one.
  interval() {
    return Math.min(1000, Math.max(250, (this.seconds * 1000) / 2));
  }

  schedule(wait) {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => this.poll(), wait);
  }

  base() {
    return `/live/${encodeURIComponent(this.channel)}`;
  }

  async poll() {
    const generation = this.generation;
    let ok = false;
    try {
      ok = await this.step(generation);
    } catch (error) {
      console.warn("the caption segments could not be read:", error);
    }
    if (generation !== this.generation) return; // switched or stopped meanwhile
    this.failures = ok ? 0 : this.failures + 1;
    if (!ok) this.emitStatus("lost");
    this.schedule(ok ? this.interval() : Math.min(10000, this.interval() * 2 ** this.failures));
  }

  // One poll: true if the server answered (a 404 is "no segment yet": still connected).
  async step(generation) {
    const response = await fetch(`${this.base()}/latest.json`);
    if (generation !== this.generation) return true;
    if (response.status === 404) {
      this.startChannel();
      this.emitStatus("connected");
      return true;
    }
    if (!response.ok) return false;
    const latest = await response.json();
    if (generation !== this.generation) return true;
    this.emitStatus("connected");
    if (Number(latest.seconds) > 0) this.seconds = Number(latest.seconds);
    const newest = latest.segment;
    const first = Number.isInteger(latest.first) ? latest.first : newest;
    let from;
    if (this.fresh || this.lastSegment === null) {
      this.startChannel();
      from = Math.max(first, newest - Math.ceil(RECENT_SECONDS / this.seconds) + 1);
    } else if (newest < this.lastSegment || (this.lastSeq !== null && latest.seq < this.lastSeq)) {
      // The feed went back (a new run, its seq begun again): start over from its recent finals.
      this.lastSeq = null;
      this.emit("onRestart", this.channel);
      from = Math.max(first, newest - Math.ceil(RECENT_SECONDS / this.seconds) + 1);
    } else {
      from = Math.max(this.lastSegment + 1, first, newest - CATCH_UP + 1);
    }
    if (from <= newest) {
      const numbers = [];
      for (let n = from; n <= newest; n += 1) numbers.push(n);
      const segments = await Promise.all(numbers.map((n) => this.segment(n)));
      if (generation !== this.generation) return true;
      for (const [i, segment] of segments.entries()) {
        if (segment === undefined) return false; // not read: the next poll tries again from here
        if (segment !== null) this.take(segment);
        this.lastSegment = numbers[i];
      }
    }
    // The finals newer than the newest segment (their segment comes later: seen by seq).
    if (Array.isArray(latest.finals)) this.take({ captions: latest.finals });
    this.takePartial(latest.partial);
    return true;
  }

  startChannel() {
    if (!this.fresh) return;
    this.fresh = false;
    this.emit("onClear", this.channel);
  }

  // Segment n's document; null if it is not stored (gone), undefined if it could not be read.
  async segment(n) {
    try {
      const response = await fetch(`${this.base()}/seg/${n}.json`);
      if (response.status === 404) return null;
      return response.ok ? await response.json() : undefined;
    } catch {
      return undefined;
    }
  }

  // Its finals (its own and the carried copies) not handed on yet, in seq order.
  take(segment) {
    const cues = [...(segment.carried || []), ...(segment.captions || [])].sort((a, b) => a.seq - b.seq);
    for (const cue of cues) {
      if (this.lastSeq !== null && cue.seq <= this.lastSeq) continue; // seen already
      this.lastSeq = cue.seq;
      const message = {
        type: "caption",
        channel: this.channel,
        seq: cue.seq,
        final: true,
        text: cue.text,
        lang: cue.lang,
        at: cue.start,
      };
      if (Array.isArray(cue.lines)) message.lines = cue.lines;
      this.emit("onCaption", message);
    }
  }

  // latest.json's partial, once per change, unless its final was handed on already.
  takePartial(partial) {
    if (!partial || (this.lastSeq !== null && partial.seq <= this.lastSeq)) return;
    const key = `${partial.seq}:${partial.text}`;
    if (key === this.partialKey) return;
    this.partialKey = key;
    this.emit("onCaption", {
      type: "caption",
      channel: this.channel,
      seq: partial.seq,
      final: false,
      text: partial.text,
      lang: partial.lang,
    });
  }

  // The state documents the websocket would send (broadcast status, carriage, session).
  async pollState() {
    if (this.stopped) return;
    try {
      const response = await fetch("/api/state");
      if (response.ok) {
        const body = await response.json();
        if (!this.stopped) for (const [key, value] of Object.entries(body.state || {})) this.emit("onState", key, value);
      }
    } catch {
      /* the next poll */
    }
    if (!this.stopped) this.stateTimer = setTimeout(() => this.pollState(), STATE_EVERY_MS);
  }
}

export class AutoStream {
  /**
   * The websocket (CaptionStream) first; if its handshake fails, or no welcome comes
   * within a few seconds, the segment feed (SegmentStream) instead, for the rest of the
   * page's life: never back and forth. `handlers.onFallback()` is told when it switches.
   */
  static fellBack = false; // once one stream fell back, the page's next ones start on segments

  constructor(channel, handlers, seconds = 2) {
    this.handlers = handlers;
    this.seconds = seconds;
    this.wanted = channel;
    this.inner = null;
    this.settled = false; // the websocket said welcome: it stays
    this.timer = null;
  }

  get mode() {
    return this.inner ? this.inner.mode || "websocket" : "websocket";
  }

  get channel() {
    return this.inner ? this.inner.channel : this.wanted;
  }

  set channel(channel) {
    this.wanted = channel;
    if (this.inner) this.inner.channel = channel;
  }

  start() {
    if (AutoStream.fellBack) {
      this.useSegments();
      return;
    }
    const handlers = {
      ...this.handlers,
      onWelcome: (...args) => {
        this.settled = true;
        clearTimeout(this.timer);
        if (this.handlers.onWelcome) this.handlers.onWelcome(...args);
      },
      onStatus: (status) => {
        if (this.mode === "segments") return; // the socket left behind
        // Lost before any welcome: the handshake failed. Fall back once the socket's
        // own close handling is done (it schedules a retry that stop() then cancels).
        if (!this.settled && status === "lost") setTimeout(() => this.fallBack(), 0);
        else if (this.handlers.onStatus) this.handlers.onStatus(status);
      },
    };
    this.inner = new CaptionStream(this.wanted, handlers);
    this.timer = setTimeout(() => this.fallBack(), WELCOME_WAIT_MS);
    this.inner.start();
  }

  stop() {
    clearTimeout(this.timer);
    if (this.inner) this.inner.stop();
  }

  switchTo(channel) {
    this.wanted = channel;
    if (this.inner) this.inner.switchTo(channel);
  }

  fallBack() {
    if (this.settled || this.mode === "segments") return;
    clearTimeout(this.timer);
    if (this.inner) this.inner.stop();
    AutoStream.fellBack = true;
    this.useSegments();
    if (this.handlers.onFallback) this.handlers.onFallback();
  }

  useSegments() {
    this.inner = new SegmentStream(this.wanted, this.handlers, this.seconds);
    this.inner.start();
  }
}

/** The stream `delivery` (service.delivery: "websocket", "segments" or "auto") asks for. */
export function streamFor(delivery, channel, handlers, seconds) {
  if (delivery === "segments") return new SegmentStream(channel, handlers, seconds);
  if (delivery === "websocket") return new CaptionStream(channel, handlers);
  return new AutoStream(channel, handlers, seconds);
}
