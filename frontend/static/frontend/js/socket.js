// The room websocket (docs/protocol.md): one envelope for every frame, requests matched to
// their reply by `id`/`ref`, a keep-alive ping, and reconnecting by itself with backoff after
// a lost connection, never after a close the protocol calls final (removed, denied, ended...).

const PROTOCOL_VERSION = 1;
const PING_EVERY_MS = 20_000;
const PONG_WITHIN_MS = 10_000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15_000;

// Closes after which reconnecting can help (docs/protocol.md "Close codes"), plus the codes a
// browser reports for a dropped connection or a server going away.
const RETRY_CODES = new Set([1001, 1005, 1006, 1011, 1012, 1013, 1014, 3000, 4503]);
// Our own close when the keep-alive goes unanswered.
const CLOSE_NO_PONG = 3000;

export const CLOSE_NOT_AUTHENTICATED = 4401;

export class RoomSocket extends EventTarget {
  // `afterSeq()` gives the last chat seq the page holds, asked at every (re)connect.
  constructor(roomId, { afterSeq = () => null } = {}) {
    super();
    this.roomId = roomId;
    this.afterSeq = afterSeq;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.attempt = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.stopped = false;
    this.state = "idle";
    window.addEventListener("online", () => this.retryNow());
  }

  url() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const url = new URL(`${scheme}://${window.location.host}/ws/rooms/${encodeURIComponent(this.roomId)}/`);
    const seq = this.afterSeq();
    if (seq !== null && seq !== undefined) {
      url.searchParams.set("after_seq", String(seq));
    }
    return url.toString();
  }

  connect() {
    if (this.stopped) {
      return;
    }
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (ws !== this.ws) {
        return;
      }
      this.setState("open");
      this.startPing();
    });
    ws.addEventListener("message", (event) => {
      if (ws === this.ws) {
        this.onMessage(event.data);
      }
    });
    ws.addEventListener("close", (event) => {
      if (ws === this.ws) {
        this.onClose(event.code, event.reason);
      }
    });
  }

  onMessage(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== "string") {
      return;
    }
    if (frame.type === "welcome" || frame.type === "lobby.waiting") {
      // A snapshot means the connection works end to end: start the next backoff afresh.
      this.attempt = 0;
    }
    if (frame.type === "pong") {
      window.clearTimeout(this.pongTimer);
    }
    if (frame.ref && this.pending.has(frame.ref)) {
      const { resolve, reject } = this.pending.get(frame.ref);
      this.pending.delete(frame.ref);
      if (frame.type === "error") {
        reject(Object.assign(new Error(frame.error.message), frame.error));
      } else {
        resolve(frame);
      }
    }
    this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
    this.dispatchEvent(new CustomEvent(frame.type, { detail: frame }));
  }

  onClose(code, reason) {
    this.stopPing();
    this.ws = null;
    // Nothing in flight will be answered on this connection.
    for (const { reject } of this.pending.values()) {
      reject(Object.assign(new Error("The connection closed."), { code: "connection_closed" }));
    }
    this.pending.clear();
    if (this.stopped) {
      this.setState("closed");
      return;
    }
    if (RETRY_CODES.has(code)) {
      this.scheduleRetry();
      return;
    }
    this.stopped = true;
    this.setState("closed");
    this.dispatchEvent(new CustomEvent("final", { detail: { code, reason } }));
  }

  scheduleRetry() {
    this.attempt += 1;
    this.setState("reconnecting");
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.attempt - 1));
    // Full jitter, so a room full of people does not reconnect in one burst after a restart.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  retryNow() {
    if (this.state === "reconnecting" && !this.stopped) {
      window.clearTimeout(this.retryTimer);
      this.connect();
    }
  }

  setState(state) {
    if (state !== this.state) {
      this.state = state;
      this.dispatchEvent(new CustomEvent("state", { detail: { state } }));
    }
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  // Sends a frame; resolves with its reply (`ack` or a typed reply), rejects with the error.
  request(type, data = {}) {
    if (!this.isOpen) {
      return Promise.reject(Object.assign(new Error("Not connected."), { code: "not_connected" }));
    }
    const id = `c-${this.nextId++}`;
    const promise = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, type, id, data }));
    return promise;
  }

  // Fire and forget (signaling, typing): no reply is awaited, a failure is ignored.
  send(type, data = {}) {
    this.request(type, data).catch(() => {});
  }

  startPing() {
    this.stopPing();
    this.pingTimer = window.setInterval(() => {
      if (!this.isOpen) {
        return;
      }
      this.send("ping");
      window.clearTimeout(this.pongTimer);
      this.pongTimer = window.setTimeout(() => {
        // A silent network (Wi-Fi gone, laptop asleep) may never report a close.
        if (this.ws) {
          this.ws.close(CLOSE_NO_PONG, "no answer to ping");
        }
      }, PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  stopPing() {
    window.clearInterval(this.pingTimer);
    window.clearTimeout(this.pongTimer);
  }

  // Leaving on purpose: close and never come back.
  close() {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    this.stopPing();
    if (this.ws) {
      this.ws.close(1000, "leaving");
    }
  }
}
