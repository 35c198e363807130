// One viewer websocket, protocol v1 (docs/protocol.md): hello, subscribe, resume after a
// drop with no gap and no duplicate. It knows nothing of the page: it calls back.

const PING_AFTER_MS = 15000; // quiet this long: ask for a pong
const DEAD_AFTER_MS = 30000; // quiet this long: the connection is gone, open a new one

export class CaptionStream {
  /**
   * `handlers`: onCaption(msg), onClear(channel), onGap(msg), onState(key, value),
   * onWelcome(channels), onStatus("connecting"|"connected"|"lost"), onRestart(channel),
   * onError(msg). Any may be left out.
   */
  constructor(channel, handlers) {
    this.channel = channel;
    this.handlers = handlers;
    this.lastSeq = null; // seq of the last caption taken on `channel`
    this.socket = null;
    this.retryDelay = 500;
    this.retryTimer = null;
    this.resuming = false; // the first caption after a resume tells whether the stream restarted
    this.lastHeard = 0;
    this.connects = 0;
    this.stopped = false;
    this.watchdog = null;
    this.onOnline = () => this.reconnectNow();
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    this.watchdog = setInterval(() => this.check(), 5000);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    clearInterval(this.watchdog);
    clearTimeout(this.retryTimer);
    if (this.socket) {
      this.abandon(this.socket);
      this.socket = null;
    }
  }

  /** Watch another channel from its recent finals (no reconnect). */
  switchTo(channel) {
    this.channel = channel;
    this.lastSeq = null;
    this.resuming = false;
    this.send({ type: "subscribe", v: 1, channel, resume: null });
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  emit(name, ...args) {
    const handler = this.handlers[name];
    if (handler) handler(...args);
  }

  connect() {
    this.retryTimer = null;
    if (this.stopped) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws/viewer`);
    this.socket = socket;
    this.connects += 1;
    this.emit("onStatus", "connecting");
    socket.onopen = () => {
      this.lastHeard = Date.now();
      this.resuming = this.lastSeq !== null;
      this.send({ type: "hello", v: 1, channel: this.channel, resume: this.lastSeq });
    };
    socket.onmessage = (frame) => {
      this.lastHeard = Date.now();
      let message;
      try {
        message = JSON.parse(frame.data);
      } catch {
        return;
      }
      this.handle(message);
    };
    socket.onclose = (event) => {
      if (socket !== this.socket || this.stopped) return;
      // 1008 (policy): this page did something wrong; try again much later.
      this.scheduleReconnect(event.code === 1008 ? 30000 : null);
    };
  }

  // Forget a socket: its events no longer count, and it is closed if it can be.
  abandon(socket) {
    socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
    try {
      socket.close(1000);
    } catch {
      /* already closed */
    }
  }

  scheduleReconnect(delay) {
    if (this.stopped || this.retryTimer) return;
    this.emit("onStatus", "lost");
    const wait = delay ?? this.retryDelay * (1 + Math.random() / 2);
    this.retryDelay = Math.min(this.retryDelay * 2, 10000);
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  // The network came back (or the socket went quiet): a fresh socket, now.
  reconnectNow() {
    if (this.stopped) return;
    if (this.socket && this.socket.readyState === WebSocket.OPEN && Date.now() - this.lastHeard < PING_AFTER_MS) {
      return;
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.socket) this.abandon(this.socket);
    this.connect();
  }

  check() {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    const quiet = Date.now() - this.lastHeard;
    if (quiet > DEAD_AFTER_MS) {
      this.abandon(this.socket);
      this.socket = null;
      this.scheduleReconnect(0);
    } else if (quiet > PING_AFTER_MS) {
      this.send({ type: "ping" });
    }
  }

  handle(message) {
    switch (message.type) {
      case "welcome":
        this.retryDelay = 500;
        this.emit("onStatus", "connected");
        this.emit("onWelcome", message.channels);
        break;
      case "subscribed":
        if (message.channel !== this.channel) break;
        if (message.resume === null) {
          this.lastSeq = null;
          this.emit("onClear", message.channel);
        }
        break;
      case "caption":
        this.take(message);
        break;
      case "gap":
        if (message.channel === this.channel) {
          this.resuming = false;
          this.emit("onGap", message);
        }
        break;
      case "state":
        this.emit("onState", message.key, message.value);
        break;
      case "error":
        this.emit("onError", message);
        break;
      default:
        break; // pong, and the types of later versions
    }
  }

  take(message) {
    if (message.channel !== this.channel) return; // queued before a switch
    if (this.resuming) {
      this.resuming = false;
      if (this.lastSeq !== null && message.seq <= this.lastSeq) {
        // The server's stream restarted (its seq began again): start over from here.
        this.lastSeq = null;
        this.emit("onRestart", message.channel);
      }
    }
    if (this.lastSeq !== null && message.seq <= this.lastSeq) return; // seen already
    this.lastSeq = message.seq;
    this.emit("onCaption", message);
  }
}
