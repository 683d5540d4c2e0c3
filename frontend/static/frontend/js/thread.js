// A care thread: messages between sessions over the room socket, with read state, typing,
// and messages written while offline kept and sent once the connection is back.
import { byId, setText, show } from "./dom.js";
import { RoomSocket, CLOSE_NOT_AUTHENTICATED } from "./socket.js";
import { Chat } from "./chat.js";

const main = document.getElementById("main");
const roomId = main.dataset.roomId;
const people = new Map();

const socket = new RoomSocket(roomId, { afterSeq: () => chat.lastSeq });
const chat = new Chat({
  socket,
  roomId,
  nameOf: (id) => (people.has(id) ? people.get(id).display_name : null),
  elements: {
    list: byId("messages"),
    form: byId("composer"),
    input: byId("message-body"),
    send: byId("send"),
    typing: byId("typing"),
    status: byId("history-status"),
    muted: byId("chat-muted"),
    earlier: byId("chat-earlier"),
  },
});

function remember(participant) {
  people.set(participant.id, participant);
}

socket.addEventListener("welcome", ({ detail }) => {
  const data = detail.data;
  remember(data.you);
  data.participants.forEach(remember);
  chat.applyWelcome(data.chat, data.you);
});
socket.addEventListener("participant.joined", ({ detail }) => remember(detail.data.participant));
socket.addEventListener("participant.updated", ({ detail }) => {
  const participant = detail.data.participant;
  remember(participant);
  if (chat.me === participant.id) {
    chat.setMuted(Boolean(participant.imposed && participant.imposed.chat));
  }
});
socket.addEventListener("chat.message", ({ detail }) => {
  if (!people.has(detail.data.sender)) {
    people.set(detail.data.sender, { id: detail.data.sender, display_name: detail.data.sender_name });
  }
  chat.onMessage(detail.data);
});
socket.addEventListener("chat.read", ({ detail }) => chat.onRead(detail.data));
socket.addEventListener("typing", ({ detail }) => chat.onTyping(detail.data));

const banner = byId("connection-banner");
let bannerTimer = null;
socket.addEventListener("state", ({ detail }) => {
  window.clearTimeout(bannerTimer);
  if (detail.state === "reconnecting") {
    chat.disconnected();
    banner.className = "banner banner--warning";
    setText(banner, "The connection was lost. Reconnecting… Messages you write now will be sent when it is back.");
    show(banner);
  } else if (detail.state === "open" && !banner.hidden) {
    banner.className = "banner banner--ok";
    setText(banner, "Connected again.");
    bannerTimer = window.setTimeout(() => {
      banner.hidden = true;
    }, 4000);
  }
});

socket.addEventListener("final", ({ detail }) => {
  if (detail.code === CLOSE_NOT_AUTHENTICATED) {
    window.location.assign(`/signin?next=${encodeURIComponent(window.location.pathname)}`);
    return;
  }
  banner.className = "banner banner--warning";
  setText(banner, "This conversation is no longer available to you.");
  show(banner);
  chat.setMuted(true, "You cannot write here any more.");
});

window.addEventListener("pagehide", () => socket.close());
socket.connect();
