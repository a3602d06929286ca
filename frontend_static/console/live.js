// The live connection of the console and the wallboard: one websocket to /ws/agent/ or
// /ws/wallboard/ that survives drops (realtime/PROTOCOL.md is the contract).
//
// * Resume: the highest `seq` seen goes back as `?last_seq=`; the server then replays exactly
//   the missed events (no snapshot), or sends a snapshot with `resync: true` when it cannot —
//   the page then replaces its state. Logged events at or below the highest seq are dropped, so
//   nothing is applied twice.
// * Credentials: the session cookie (the consumer takes it when no `?ticket=` is given; a
//   ticket would cost a REST round trip per reconnect and buys nothing on our own origin).
// * Reconnect: exponential back-off with jitter; at once when the browser comes back online;
//   never while it says it is offline; never after a refusal that retrying cannot fix (44xx).
// * Heartbeat: a `ping` every `heartbeat_seconds`; one unanswered by the next beat means the
//   connection is dead (it is dropped and resumed).
// * Requests: `request(action, fields)` resolves with the `ack`'s data, rejects with the
//   `error`'s (`{code, message, field}`), or with code "disconnected" / "timeout" / "offline".

import { gettext, interpolate } from "../i18n.js";

const UNLOGGED = new Set(["snapshot", "ack", "error"]);
// Live-only signals (events/ephemeral.py): they carry the seq the socket is at, not a new one,
// so they go straight to `onEvent` without moving or checking `lastSeq`.
const EPHEMERAL = new Set(["chat.typing"]);
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30_000;
const FLOOD_BASE_MS = 5_000;
const REQUEST_TIMEOUT_MS = 20_000;
const DEBUG_EVENTS_KEPT = 1000;

// Close codes after which retrying the same way cannot help (PROTOCOL.md, "Close codes").
const TERMINAL = {
  1009: gettext("A message was too large for the server."),
  4400: gettext("The page asked for something the server does not understand. Reload the page."),
  4401: gettext("You are signed out. Log in again to go live."),
  4403: gettext("Your account may not open this live view."),
  4404: gettext("This live view does not exist."),
};

export class LiveSocket {
  /**
   * @param {object} options
   * @param {string} options.url  path (or URL) of the socket, may carry a query (?company=)
   * @param {number} [options.heartbeatSeconds]
   * @param {(data: object, frame: object) => void} options.onSnapshot
   * @param {(frame: object) => void} options.onEvent   every logged event, once, in seq order
   * @param {(state: string, detail: object) => void} [options.onState]
   */
  constructor({ url, heartbeatSeconds = 10, onSnapshot, onEvent, onState = () => {} }) {
    this.url = url;
    this.heartbeatMs = Math.max(1, heartbeatSeconds) * 1000;
    this.onSnapshot = onSnapshot;
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastSeq = null;
    this.ws = null;
    this.state = "idle";
    this.attempt = 0;
    this.retryTimer = null;
    this.heartbeatTimer = null;
    this.pingSentAt = null; // a ping still waiting for any frame back
    this.pending = new Map();
    this.requestCounter = 0;
    this.limits = { rate_per_second: 20, burst: 40, max_frame_bytes: 65536 };
    this.tokens = this.limits.burst;
    this.tokensAt = performance.now();
    this.outbox = [];
    this.outboxTimer = null;
    this.stopped = false;
    // What tests and curious developers can look at (window.switchboard.debug).
    this.debug = { events: [], connects: [], snapshots: [], duplicates: 0, closes: [] };
    window.addEventListener("online", () => this.wake());
    window.addEventListener("offline", () => {
      if (this.state !== "live") this.setState("offline");
    });
    window.addEventListener("pagehide", () => this.stop());
    // Back from the back-forward cache: resume where the page left off.
    window.addEventListener("pageshow", (event) => {
      if (event.persisted && this.stopped) this.start();
    });
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.stopHeartbeat();
    if (this.ws) {
      const ws = this.ws;
      this.detach(ws);
      ws.close(1000, "page closed");
    }
  }

  get live() {
    return this.state === "live";
  }

  // --- connecting ---------------------------------------------------------------------------

  socketUrl() {
    const url = new URL(this.url, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (this.lastSeq !== null) url.searchParams.set("last_seq", String(this.lastSeq));
    return url.toString();
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.stopped) return;
    if (navigator.onLine === false) {
      this.setState("offline");
      return;
    }
    const url = this.socketUrl();
    this.debug.connects.push(url);
    this.setState(this.lastSeq === null ? "connecting" : "reconnecting");
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (error) {
      this.scheduleRetry(1006);
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.pingSentAt = null;
      this.setState("live");
      this.startHeartbeat();
      this.flushOutbox();
    };
    ws.onmessage = (message) => this.receive(message);
    ws.onclose = (event) => this.closed(ws, event.code, event.reason);
    ws.onerror = () => {}; // a close event always follows; it decides what to do
  }

  detach(ws) {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    if (this.ws === ws) this.ws = null;
  }

  closed(ws, code, reason) {
    if (this.ws !== ws) return;
    this.detach(ws);
    this.stopHeartbeat();
    this.debug.closes.push({ code, reason, at: new Date().toISOString() });
    this.failPending(
      "disconnected",
      gettext("The connection dropped before the server answered."),
    );
    this.outbox = [];
    if (this.stopped) return;
    if (code in TERMINAL) {
      this.setState("closed", { code, message: TERMINAL[code] });
      return;
    }
    this.scheduleRetry(code);
  }

  scheduleRetry(code) {
    if (navigator.onLine === false) {
      this.setState("offline");
      return;
    }
    let delay;
    if ((code === 1001 || code === 1012) && this.attempt === 0) {
      // The server is restarting (1001 from daphne, 1012 from uvicorn): everyone comes back at
      // once, so spread out a little.
      delay = 250 + Math.random() * 1000;
    } else {
      const base = code === 4408 ? FLOOD_BASE_MS : BACKOFF_BASE_MS;
      const ceiling = Math.min(BACKOFF_CAP_MS, base * 2 ** this.attempt);
      delay = ceiling / 2 + Math.random() * (ceiling / 2); // "equal jitter"
    }
    this.attempt += 1;
    const at = Date.now() + delay;
    this.setState("waiting", { retryAt: at, code });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Try now (the browser came back online, or the user asked). */
  wake() {
    if (this.stopped || this.ws) return;
    this.attempt = 0;
    this.connect();
  }

  /** Drop the connection as a network failure would (tests, and the "reconnect" button). */
  drop() {
    if (!this.ws) return;
    const ws = this.ws;
    ws.close(4000, "dropped by the page");
    this.closed(ws, 4000, "dropped by the page");
  }

  setState(state, detail = {}) {
    this.state = state;
    this.onState(state, detail);
  }

  // --- frames from the server ---------------------------------------------------------------

  receive(message) {
    this.pingSentAt = null;
    this.attempt = 0; // a frame: this connection works, the next drop starts the back-off anew
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch (error) {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    const { type } = frame;
    if (type === "ack" || type === "error") {
      this.settle(frame);
      return;
    }
    if (type === "snapshot") {
      // Set, not raise: after "unknown_seq" (Redis was replaced) the new seq is lower.
      this.lastSeq = frame.seq;
      if (frame.data && frame.data.limits) this.limits = { ...this.limits, ...frame.data.limits };
      this.debug.snapshots.push({ seq: frame.seq, resync: !!frame.data.resync });
      this.onSnapshot(frame.data, frame);
      return;
    }
    if (UNLOGGED.has(type)) return;
    if (EPHEMERAL.has(type)) {
      this.onEvent(frame);
      return;
    }
    if (this.lastSeq !== null && frame.seq <= this.lastSeq) {
      this.debug.duplicates += 1;
      return;
    }
    this.lastSeq = frame.seq;
    const log = this.debug.events;
    log.push({ type, seq: frame.seq, id: frame.id });
    if (log.length > DEBUG_EVENTS_KEPT) log.splice(0, log.length - DEBUG_EVENTS_KEPT);
    this.onEvent(frame);
  }

  // --- requests -----------------------------------------------------------------------------

  request(action, fields = {}) {
    if (!this.ws || this.state !== "live") {
      return Promise.reject({
        code: "offline",
        message: gettext("Not connected: try again in a moment."),
      });
    }
    this.requestCounter += 1;
    const requestId = `r${Date.now().toString(36)}-${this.requestCounter}`;
    const text = JSON.stringify({ ...fields, action, request_id: requestId });
    if (new Blob([text]).size > this.limits.max_frame_bytes) {
      return Promise.reject({ code: "invalid", message: gettext("That is too long to send.") });
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject({ code: "timeout", message: gettext("The server did not answer in time.") });
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(requestId, { resolve, reject, timer, action });
      this.outbox.push(text);
      this.flushOutbox();
    });
  }

  settle(frame) {
    const data = frame.data || {};
    const entry = this.pending.get(data.request_id);
    if (!entry) return;
    this.pending.delete(data.request_id);
    clearTimeout(entry.timer);
    if (frame.type === "ack") entry.resolve(data);
    else entry.reject({ code: data.code, message: data.message, field: data.field });
  }

  failPending(code, message) {
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject({ code, message });
    }
    this.pending.clear();
  }

  // Pace our frames under the server's rate limit (a flood closes the socket with 4408).
  flushOutbox() {
    clearTimeout(this.outboxTimer);
    this.outboxTimer = null;
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const now = performance.now();
    const rate = Math.max(1, this.limits.rate_per_second - 1);
    this.tokens = Math.min(this.limits.burst, this.tokens + ((now - this.tokensAt) / 1000) * rate);
    this.tokensAt = now;
    while (this.outbox.length && this.tokens >= 1) {
      ws.send(this.outbox.shift());
      this.tokens -= 1;
    }
    if (this.outbox.length) {
      this.outboxTimer = setTimeout(() => this.flushOutbox(), Math.ceil(1000 / rate));
    }
  }

  // --- heartbeat ----------------------------------------------------------------------------

  startHeartbeat() {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => this.beat(), this.heartbeatMs);
  }

  stopHeartbeat() {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  beat() {
    if (!this.ws) return;
    // A ping that got nothing back (not even its pong) by the next beat: the connection is dead
    // even if the browser has not noticed. Measured from the ping, not from the last frame, so
    // a background tab whose timers the browser slows down is not mistaken for a dead one.
    if (this.pingSentAt !== null && performance.now() - this.pingSentAt > this.heartbeatMs) {
      this.drop(); // closing a dead socket can take long: do not wait for it
      return;
    }
    if (this.pingSentAt === null) this.pingSentAt = performance.now();
    this.request("ping").catch(() => {});
  }
}

/** Expose a page's state and the socket's debug record as `window.switchboard`. */
export function exposeDebug(live, extra = {}) {
  window.switchboard = {
    ...(window.switchboard || {}),
    ...extra,
    live,
    debug: live.debug,
    drop: () => live.drop(),
    reconnect: () => live.wake(),
  };
}

/** The words and the colour the connection indicator shows for a socket state. */
export function describeState(state, detail = {}) {
  switch (state) {
    case "live":
      return { label: gettext("Live"), tone: "live" };
    case "connecting":
      return { label: gettext("Connecting…"), tone: "pending" };
    case "reconnecting":
      return { label: gettext("Reconnecting…"), tone: "pending" };
    case "waiting": {
      const seconds = Math.max(1, Math.round((detail.retryAt - Date.now()) / 1000));
      return {
        label: interpolate(gettext("Disconnected · retrying in %(seconds)s s"), { seconds }),
        tone: "down",
      };
    }
    case "offline":
      return { label: gettext("Offline · waiting for the network"), tone: "down" };
    case "closed":
      return { label: detail.message || gettext("Disconnected"), tone: "down" };
    default:
      return { label: gettext("Starting…"), tone: "pending" };
  }
}
