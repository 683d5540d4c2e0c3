// A care thread: the history from the REST API now; live messages, typing and read state
// arrive over the websocket (wired in the realtime phase).
import { api, ApiError } from "./api.js";
import { byId, h, setText } from "./dom.js";
import { formatDateTime } from "./when.js";
import { deviceTimeZone } from "./timezones.js";

const main = document.getElementById("main");
const roomId = main.dataset.roomId;
const me = main.dataset.participantId;

export function messageItem(message) {
  const mine = message.sender === me;
  return h(
    "li",
    { className: "message" + (mine ? " message--mine" : ""), "data-seq": String(message.seq) },
    h(
      "p",
      { className: "message__meta" },
      h("span", { className: "message__sender", text: mine ? "You" : message.sender_name }),
      " ",
      h("time", { datetime: message.sent_at, text: formatDateTime(new Date(message.sent_at), deviceTimeZone()) }),
    ),
    h("p", { className: "message__body", text: message.body }),
  );
}

async function loadHistory() {
  const status = byId("history-status");
  try {
    const messages = await api(`/api/rooms/${encodeURIComponent(roomId)}/messages?limit=100`);
    byId("messages").replaceChildren(...messages.map(messageItem));
    setText(status, messages.length === 0 ? "No messages yet. Write the first one below." : "");
  } catch (error) {
    setText(status, error instanceof ApiError ? error.message : "The messages could not be loaded.");
  }
}

loadHistory();
