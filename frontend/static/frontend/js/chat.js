// Chat over the room socket, shared by the room page and the care-thread page.
//
// - Messages are kept by `seq` and shown in seq order, each exactly once, however often they
//   arrive (welcome snapshot, live event, history page).
// - What the person writes goes into an outbox first (kept in sessionStorage, so a reload does
//   not lose it either) and is sent in order with its own `client_msg_id`; it leaves the
//   outbox only when the server acknowledged it. A resend after a lost connection reuses the
//   id, and the server never makes a second message from it.
// - Every name and body is set with textContent: chat is text, never HTML.
import { h } from "./dom.js";
import { formatTime } from "./when.js";
import { deviceTimeZone } from "./timezones.js";

const TYPING_IDLE_MS = 4000;
const TYPING_SHOW_MS = 6000;
const READ_DEBOUNCE_MS = 400;
// Errors after which the message stays in the outbox and is sent again later.
const RETRY_LATER = new Set(["not_connected", "connection_closed", "unavailable", "rate_limited", "internal_error"]);

export function newClientMsgId() {
  const bytes = new Uint8Array(12);
  window.crypto.getRandomValues(bytes);
  return "m-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Chat {
  constructor({ socket, roomId, elements, nameOf }) {
    this.socket = socket;
    this.roomId = roomId;
    this.el = elements; // list, form, input, send, typing, status, muted, earlier
    this.nameOf = nameOf; // participant id -> display name (or null)
    this.me = null;
    this.messages = new Map();
    this.lastSeq = null;
    this.firstSeq = null;
    this.ready = false;
    this.flushing = false;
    this.readSent = 0;
    this.readTimer = null;
    this.readBy = new Map();
    this.typingPeople = new Map();
    this.typingActive = false;
    this.typingTimer = null;
    this.outboxKey = `hearth.outbox.${roomId}`;
    this.outbox = this.loadOutbox();
    this.muted = false;

    this.el.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.el.input.addEventListener("keydown", (event) => {
      // Enter sends, Shift+Enter makes a new line (as in most chat apps).
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.el.input.addEventListener("input", () => this.typing(this.el.input.value.trim() !== ""));
    if (this.el.earlier) {
      this.el.earlier.addEventListener("click", () => this.loadEarlier());
    }
    document.addEventListener("visibilitychange", () => this.scheduleRead());
    for (const item of this.outbox) {
      this.renderPending(item);
    }
    this.updateComposer();
  }

  // --- state from the server ---------------------------------------------------------------

  applyWelcome(chat, you) {
    this.me = you.id;
    this.ready = true;
    const firstTime = this.lastSeq === null;
    for (const message of chat.messages) {
      this.addMessage(message);
    }
    if (firstTime && this.el.earlier) {
      this.el.earlier.hidden = !chat.has_more;
    }
    if (this.lastSeq === null) {
      this.lastSeq = chat.last_seq || 0;
    }
    this.readSent = Math.max(this.readSent, chat.last_read_seq || 0);
    this.setMuted(Boolean(you.imposed && you.imposed.chat));
    if (!firstTime && chat.has_more) {
      this.fillGap();
    }
    this.updateStatus();
    this.scheduleRead();
    this.flush();
  }

  disconnected() {
    this.ready = false;
    this.typingActive = false;
    this.updateComposer();
  }

  onMessage(message) {
    if (this.lastSeq !== null && message.seq > this.lastSeq + 1) {
      // The server repairs gaps itself; this covers a message it could not.
      this.fillGap();
    }
    this.addMessage(message);
    this.typingPeople.delete(message.sender);
    this.renderTyping();
    this.updateStatus();
    this.scheduleRead();
  }

  onRead({ participant, seq }) {
    if (participant === this.me) {
      return;
    }
    this.readBy.set(participant, Math.max(seq, this.readBy.get(participant) || 0));
    this.renderReceipt();
  }

  onTyping({ participant, active }) {
    if (participant === this.me) {
      return;
    }
    window.clearTimeout(this.typingPeople.get(participant));
    if (active) {
      // A lost "stopped typing" must not leave the line up forever.
      this.typingPeople.set(participant, window.setTimeout(() => {
        this.typingPeople.delete(participant);
        this.renderTyping();
      }, TYPING_SHOW_MS));
    } else {
      this.typingPeople.delete(participant);
    }
    this.renderTyping();
  }

  setMuted(muted, reason = "A moderator has muted your chat. You can still read messages.") {
    this.muted = muted;
    this.el.muted.textContent = muted ? reason : "";
    this.el.muted.hidden = !muted;
    this.updateComposer();
  }

  // --- messages ----------------------------------------------------------------------------

  addMessage(message) {
    if (this.messages.has(message.seq)) {
      return;
    }
    this.messages.set(message.seq, message);
    this.lastSeq = Math.max(this.lastSeq || 0, message.seq);
    this.firstSeq = this.firstSeq === null ? message.seq : Math.min(this.firstSeq, message.seq);
    if (message.sender === this.me) {
      // Ours, stored while we waited for the ack (or before a reconnect): out of the outbox.
      this.dropFromOutbox(message.client_msg_id);
    }
    const item = this.renderMessage(message);
    const later = [...this.el.list.querySelectorAll("li[data-seq]")].find(
      (li) => Number(li.dataset.seq) > message.seq,
    );
    const firstPending = this.el.list.querySelector("li.message--pending");
    this.el.list.insertBefore(item, later || firstPending || null);
    this.renderReceipt();
  }

  // A line about what happened in the room (a moderator muted someone...), not a message.
  addNotice(text) {
    const item = h("li", { className: "room-event", text });
    this.el.list.insertBefore(item, this.el.list.querySelector("li.message--pending"));
  }

  renderMessage(message) {
    const mine = message.sender === this.me;
    const name = mine ? "You" : this.nameOf(message.sender) || message.sender_name;
    const sent = new Date(message.sent_at);
    return h(
      "li",
      { className: "message" + (mine ? " message--mine" : ""), "data-seq": String(message.seq), "data-client-msg-id": message.client_msg_id },
      h(
        "p",
        { className: "message__meta" },
        h("span", { className: "message__sender", text: name }),
        " ",
        h("time", { datetime: message.sent_at, text: formatTime(sent, deviceTimeZone()) }),
      ),
      h("p", { className: "message__body", text: message.body }),
    );
  }

  renderPending(item) {
    const li = h(
      "li",
      { className: "message message--mine message--pending", "data-pending": item.client_msg_id },
      h("p", { className: "message__meta" }, h("span", { className: "message__sender", text: "You" })),
      h("p", { className: "message__body", text: item.body }),
      h("p", { className: "message__state", text: this.socket.isOpen ? "Sending…" : "Waiting for the connection to send this" }),
    );
    this.el.list.append(li);
    return li;
  }

  pendingItem(clientMsgId) {
    return [...this.el.list.querySelectorAll("li[data-pending]")].find((li) => li.dataset.pending === clientMsgId);
  }

  renderReceipt() {
    for (const old of this.el.list.querySelectorAll(".message__receipt")) {
      old.remove();
    }
    const mine = [...this.messages.values()].filter((m) => m.sender === this.me);
    if (!mine.length) {
      return;
    }
    const last = mine.reduce((a, b) => (a.seq > b.seq ? a : b));
    const readers = [...this.readBy.entries()]
      .filter(([, seq]) => seq >= last.seq)
      .map(([participant]) => this.nameOf(participant))
      .filter(Boolean);
    if (!readers.length) {
      return;
    }
    const li = this.el.list.querySelector(`li[data-seq="${last.seq}"]`);
    if (li) {
      li.append(h("p", { className: "message__receipt", text: `Seen by ${readers.join(", ")}` }));
    }
  }

  renderTyping() {
    const names = [...this.typingPeople.keys()].map((id) => this.nameOf(id)).filter(Boolean);
    let text = "";
    if (names.length === 1) {
      text = `${names[0]} is typing…`;
    } else if (names.length > 1) {
      text = `${names.join(", ")} are typing…`;
    }
    this.el.typing.textContent = text;
  }

  updateStatus() {
    if (this.el.status) {
      this.el.status.textContent = this.messages.size || this.outbox.length ? "" : "No messages yet. Write the first one below.";
    }
  }

  // --- sending -----------------------------------------------------------------------------

  submit() {
    const body = this.el.input.value.trim();
    if (!body || this.muted) {
      return;
    }
    const item = { client_msg_id: newClientMsgId(), body };
    this.outbox.push(item);
    this.saveOutbox();
    this.renderPending(item);
    this.el.input.value = "";
    this.typing(false);
    this.updateStatus();
    this.flush();
  }

  async flush() {
    if (this.flushing || !this.ready || !this.socket.isOpen) {
      return;
    }
    this.flushing = true;
    try {
      while (this.outbox.length && this.ready && this.socket.isOpen) {
        const item = this.outbox[0];
        const pending = this.pendingItem(item.client_msg_id);
        if (pending) {
          pending.querySelector(".message__state").textContent = "Sending…";
        }
        let ack;
        try {
          ack = await this.socket.request("chat.send", { client_msg_id: item.client_msg_id, body: item.body });
        } catch (error) {
          if (RETRY_LATER.has(error.code)) {
            if (pending) {
              pending.querySelector(".message__state").textContent = "Waiting for the connection to send this";
            }
            if (error.code === "rate_limited" || error.code === "unavailable") {
              const wait = ((error.details && error.details.retry_after) || 3) * 1000;
              window.setTimeout(() => this.flush(), wait);
            }
            return;
          }
          this.dropFromOutbox(item.client_msg_id, false);
          if (pending) {
            pending.classList.add("message--failed");
            pending.querySelector(".message__state").textContent = `Not sent: ${error.message}`;
          }
          continue;
        }
        this.dropFromOutbox(item.client_msg_id);
        if (!this.messages.has(ack.data.seq)) {
          // Stored earlier (created:false) and not in what we hold: show it from the outbox.
          this.addMessage({
            seq: ack.data.seq,
            sender: this.me,
            sender_name: "You",
            body: item.body,
            client_msg_id: item.client_msg_id,
            sent_at: new Date().toISOString(),
          });
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  dropFromOutbox(clientMsgId, removePending = true) {
    const before = this.outbox.length;
    this.outbox = this.outbox.filter((item) => item.client_msg_id !== clientMsgId);
    if (this.outbox.length !== before) {
      this.saveOutbox();
    }
    if (removePending) {
      const li = this.pendingItem(clientMsgId);
      if (li) {
        li.remove();
      }
    }
  }

  loadOutbox() {
    try {
      const items = JSON.parse(window.sessionStorage.getItem(this.outboxKey) || "[]");
      return Array.isArray(items) ? items.filter((i) => i && i.client_msg_id && i.body) : [];
    } catch {
      return [];
    }
  }

  saveOutbox() {
    try {
      window.sessionStorage.setItem(this.outboxKey, JSON.stringify(this.outbox));
    } catch {
      // Storage full or refused: the outbox still lives in memory for this page.
    }
  }

  updateComposer() {
    const blocked = this.muted;
    this.el.input.disabled = blocked;
    this.el.send.disabled = blocked;
  }

  // --- typing and read state ---------------------------------------------------------------

  typing(active) {
    window.clearTimeout(this.typingTimer);
    if (active) {
      this.typingTimer = window.setTimeout(() => this.typing(false), TYPING_IDLE_MS);
    }
    if (active === this.typingActive || !this.ready) {
      return;
    }
    this.typingActive = active;
    this.socket.send("typing.set", { active });
  }

  scheduleRead() {
    window.clearTimeout(this.readTimer);
    this.readTimer = window.setTimeout(() => {
      if (!this.ready || document.visibilityState !== "visible" || this.lastSeq === null) {
        return;
      }
      if (this.lastSeq > this.readSent) {
        this.readSent = this.lastSeq;
        this.socket.send("chat.read", { seq: this.lastSeq });
      }
    }, READ_DEBOUNCE_MS);
  }

  // --- history -----------------------------------------------------------------------------

  async fillGap() {
    let more = true;
    while (more && this.socket.isOpen) {
      let reply;
      try {
        reply = await this.socket.request("chat.history", { after_seq: this.lastSeq || 0, limit: 100 });
      } catch {
        return;
      }
      for (const message of reply.data.messages) {
        this.addMessage(message);
      }
      more = reply.data.has_more && reply.data.messages.length > 0;
    }
  }

  async loadEarlier() {
    if (this.firstSeq === null) {
      return;
    }
    try {
      const reply = await this.socket.request("chat.history", { before_seq: this.firstSeq, limit: 50 });
      for (const message of reply.data.messages) {
        this.addMessage(message);
      }
      this.el.earlier.hidden = !reply.data.has_more;
    } catch {
      // Try again with the button.
    }
  }
}
