// The session page: waiting room, video tiles, controls, chat, and the facilitator console.
// State comes from the server only: a `welcome` snapshot on every (re)connect, then events
// on top of it (docs/protocol.md). Names, relationships and messages are text, never HTML.
import { byId, h, setText, show } from "./dom.js";
import { RoomSocket, CLOSE_NOT_AUTHENTICATED } from "./socket.js";
import { Chat } from "./chat.js";
import { Mesh } from "./call.js";
import { loadDeviceChoice, mediaConstraints } from "./devices.js";
import { chimeWavBlob } from "./tone.js";

const main = document.getElementById("main");
const roomId = main.dataset.roomId;
const AUDIO_ONLY_KEY = `hearth.audioOnly.${roomId}`;
const SPEAKING_LEVEL = 0.04;

const FINAL_PAGES = {
  4410: ["The session has ended", "The session has ended. You can join the next one when it starts."],
  4411: ["You were not let in", "A facilitator did not let you into this session. If you think this is a mistake, contact your therapist."],
  4412: ["You have left the session", "A facilitator removed you from this session."],
  4403: ["You cannot join this session", "You are not able to join this room. Contact your therapist if you think this is wrong."],
  4404: ["This room does not exist", "The link may be wrong or out of date."],
  4409: ["This session is open elsewhere", "You have this session open in too many tabs or devices. Close one of them and reload this page."],
};

const state = {
  you: null,
  room: null,
  participants: new Map(),
  lobby: [],
  seenInLobby: new Set(),
  hands: [],
  mutedBy: new Map(),
  admitted: false,
  finalFrame: null,
  audioOn: true,
  videoOn: true,
  audioOnly: window.sessionStorage.getItem(AUDIO_ONLY_KEY) === "1",
  soundBlocked: false,
  localStream: null,
  iceTimer: null,
};

const socket = new RoomSocket(roomId, { afterSeq: () => chat.lastSeq });
const mesh = new Mesh({ socket });
const chat = new Chat({
  socket,
  roomId,
  nameOf,
  elements: {
    list: byId("chat-messages"),
    form: byId("chat-form"),
    input: byId("chat-input"),
    send: byId("chat-send"),
    typing: byId("chat-typing"),
    status: byId("chat-status"),
    muted: byId("chat-muted"),
    earlier: byId("chat-earlier"),
  },
});

function nameOf(id) {
  if (state.you && id === state.you.id) {
    return state.you.display_name;
  }
  const person = state.participants.get(id) || state.lobby.find((entry) => entry.id === id);
  return person ? person.display_name : null;
}

function labelOf(person) {
  return person.relationship ? `${person.display_name} (${person.relationship})` : person.display_name;
}

// --- local camera and microphone ---------------------------------------------------------

const mediaReady = startLocalMedia();

async function startLocalMedia() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showNotice("This browser cannot use a camera or microphone here. You can still follow the chat.");
    return null;
  }
  const choice = loadDeviceChoice();
  const attempts = [mediaConstraints(choice), { audio: true, video: true }, { audio: true, video: false }];
  for (const constraints of attempts) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia(constraints);
      state.localStream = stream;
      if (!stream.getVideoTracks().length) {
        state.videoOn = false;
        showNotice("No camera was found: you are in the session with sound only.");
      }
      applyLocalTracks();
      byId("waiting-preview").srcObject = stream;
      return stream;
    } catch (error) {
      if (error.name === "NotAllowedError") {
        break;
      }
    }
  }
  state.audioOn = false;
  state.videoOn = false;
  showNotice("Your camera and microphone are blocked, so others cannot see or hear you. The pre-call check explains how to allow them.");
  return null;
}

function imposed() {
  return (state.you && state.you.imposed) || { audio: false, video: false, chat: false };
}

// Own switches and imposed mutes decide what the tracks send (an honest client obeys).
function applyLocalTracks() {
  const stream = state.localStream;
  if (!stream) {
    return;
  }
  const mutes = imposed();
  for (const track of stream.getAudioTracks()) {
    track.enabled = state.audioOn && !mutes.audio;
  }
  for (const track of stream.getVideoTracks()) {
    track.enabled = state.videoOn && !mutes.video && !state.audioOnly;
  }
}

// --- speaking indicators -----------------------------------------------------------------

let audioContext = null;
const meters = new Map();

function ensureAudioContext() {
  if (!audioContext) {
    const AudioContextClass = window.AudioContext || window.webkitAudioContext;
    audioContext = AudioContextClass ? new AudioContextClass() : null;
  }
  if (audioContext && audioContext.state === "suspended") {
    audioContext.resume().catch(() => {});
  }
  return audioContext;
}

function watchSpeaking(id, stream) {
  const context = ensureAudioContext();
  if (!context || !stream.getAudioTracks().length || meters.has(id)) {
    return;
  }
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  context.createMediaStreamSource(stream).connect(analyser);
  meters.set(id, { analyser, samples: new Float32Array(analyser.fftSize) });
}

window.setInterval(() => {
  for (const [id, meter] of meters) {
    meter.analyser.getFloatTimeDomainData(meter.samples);
    let sum = 0;
    for (const sample of meter.samples) {
      sum += sample * sample;
    }
    const tile = tileOf(id);
    if (tile) {
      tile.classList.toggle("tile--speaking", Math.sqrt(sum / meter.samples.length) > SPEAKING_LEVEL);
    }
  }
}, 200);

document.addEventListener("pointerdown", ensureAudioContext, { once: true });
document.addEventListener("keydown", ensureAudioContext, { once: true });

// --- tiles -------------------------------------------------------------------------------

function tileOf(id) {
  return [...byId("tiles").children].find((tile) => tile.dataset.participant === id) || null;
}

function ensureTile(id) {
  let tile = tileOf(id);
  if (tile) {
    return tile;
  }
  const mine = state.you && id === state.you.id;
  const video = h("video", { autoplay: true, playsinline: true, className: "tile__video" });
  video.muted = true; // until we know this person's sound may be played
  tile = h(
    "li",
    { className: "tile" + (mine ? " tile--self" : ""), "data-participant": id },
    video,
    h(
      "div",
      { className: "tile__caption" },
      h("p", { className: "tile__name" }),
      h("ul", { className: "tile__badges", "aria-label": "Status" }),
    ),
  );
  if (mine) {
    byId("tiles").prepend(tile);
    if (state.localStream) {
      video.srcObject = state.localStream;
    }
  } else {
    byId("tiles").append(tile);
  }
  return tile;
}

function renderTile(person) {
  const mine = state.you && person.id === state.you.id;
  const tile = ensureTile(person.id);
  const video = tile.querySelector("video");
  tile.querySelector(".tile__name").textContent = mine ? `${labelOf(person)} (you)` : labelOf(person);
  const badges = [];
  const mutes = person.imposed || {};
  if (mutes.audio) {
    const by = state.mutedBy.get(person.id);
    badges.push(["badge--muted", by ? `Microphone muted by ${by}` : "Microphone muted by a moderator"]);
  } else if (!person.audio) {
    badges.push(["badge--off", "Microphone off"]);
  }
  if (mutes.video) {
    badges.push(["badge--muted", "Camera turned off by a moderator"]);
  } else if (!person.video) {
    badges.push(["badge--off", "Camera off"]);
  }
  if (state.hands.includes(person.id)) {
    badges.push(["badge--hand", `Hand raised (${state.hands.indexOf(person.id) + 1} in line)`]);
  }
  if (person.is_moderator) {
    badges.push(["badge--role", person.role === "therapist" ? "Therapist" : "Facilitator"]);
  }
  tile.querySelector(".tile__badges").replaceChildren(
    ...badges.map(([className, text]) => h("li", { className: `badge ${className}`, text })),
  );
  tile.classList.toggle("tile--muted", Boolean(mutes.audio));
  tile.classList.toggle("tile--no-video", !person.video || state.audioOnly);
  if (!mine) {
    // A participant a moderator muted is not played here, whatever their browser sends.
    video.muted = state.soundBlocked || Boolean(mutes.audio);
    video.dataset.imposedMute = mutes.audio ? "true" : "false";
  }
}

function renderAllTiles() {
  const ids = new Set([state.you.id, ...state.participants.keys()]);
  for (const tile of [...byId("tiles").children]) {
    if (!ids.has(tile.dataset.participant)) {
      tile.remove();
      meters.delete(tile.dataset.participant);
    }
  }
  renderTile(state.you);
  for (const person of state.participants.values()) {
    renderTile(person);
  }
}

function playRemote(video) {
  video.play().catch(() => {
    // Autoplay with sound refused until the person interacts: play silently, offer sound.
    state.soundBlocked = true;
    show(byId("sound-on"));
    video.muted = true;
    video.play().catch(() => {});
  });
}

mesh.addEventListener("track", ({ detail }) => {
  const person = state.participants.get(detail.id);
  const tile = person ? ensureTile(detail.id) : ensureTile(detail.id);
  const video = tile.querySelector("video");
  if (video.srcObject !== detail.stream) {
    video.srcObject = detail.stream;
  }
  if (person) {
    renderTile(person);
  }
  watchSpeaking(detail.id, detail.stream);
  playRemote(video);
});

mesh.addEventListener("gone", ({ detail }) => {
  meters.delete(detail.id);
});

byId("sound-on").addEventListener("click", () => {
  state.soundBlocked = false;
  hideElement(byId("sound-on"));
  ensureAudioContext();
  for (const person of state.participants.values()) {
    renderTile(person);
    const tile = tileOf(person.id);
    if (tile) {
      tile.querySelector("video").play().catch(() => {});
    }
  }
});

// --- controls ----------------------------------------------------------------------------

function renderControls() {
  const mutes = imposed();
  const mic = byId("toggle-mic");
  const camera = byId("toggle-camera");
  const micReason = byId("mic-reason");
  const cameraReason = byId("camera-reason");
  const noAudio = !state.localStream || !state.localStream.getAudioTracks().length;
  const noVideo = !state.localStream || !state.localStream.getVideoTracks().length;
  if (mutes.audio) {
    mic.disabled = true;
    setText(mic, "Microphone muted");
    const by = state.mutedBy.get(state.you.id);
    setText(micReason, `${by || "A moderator"} muted your microphone. You can unmute when they ask you to.`);
    show(micReason);
  } else {
    mic.disabled = noAudio;
    setText(mic, state.audioOn ? "Mute microphone" : "Unmute microphone");
    hideElement(micReason);
  }
  if (mutes.video) {
    camera.disabled = true;
    setText(camera, "Camera turned off");
    setText(cameraReason, "A moderator turned your camera off.");
    show(cameraReason);
  } else {
    camera.disabled = noVideo || state.audioOnly;
    setText(camera, state.videoOn ? "Turn camera off" : "Turn camera on");
    hideElement(cameraReason);
  }
  mic.setAttribute("aria-pressed", String(!state.audioOn || mutes.audio));
  camera.setAttribute("aria-pressed", String(!state.videoOn || mutes.video));
  const raised = state.hands.includes(state.you.id);
  setText(byId("toggle-hand"), raised ? "Lower hand" : "Raise hand");
  byId("toggle-hand").setAttribute("aria-pressed", String(raised));
  setText(byId("toggle-audio-only"), state.audioOnly ? "Switch back to video" : "Switch to audio only");
  byId("toggle-audio-only").setAttribute("aria-pressed", String(state.audioOnly));
}

async function sendMediaState() {
  if (!state.admitted) {
    return;
  }
  const wanted = { audio: state.audioOn && !imposed().audio, video: state.videoOn && !state.audioOnly && !imposed().video };
  if (state.you.audio === wanted.audio && state.you.video === wanted.video) {
    return;
  }
  try {
    await socket.request("media.set", wanted);
  } catch (error) {
    showNotice(error.message);
  }
}

byId("toggle-mic").addEventListener("click", () => {
  state.audioOn = !state.audioOn;
  applyLocalTracks();
  renderControls();
  sendMediaState();
});

byId("toggle-camera").addEventListener("click", () => {
  state.videoOn = !state.videoOn;
  applyLocalTracks();
  renderControls();
  sendMediaState();
});

byId("toggle-hand").addEventListener("click", async () => {
  const raised = state.hands.includes(state.you.id);
  try {
    await socket.request(raised ? "hand.lower" : "hand.raise", {});
  } catch (error) {
    showNotice(error.message);
  }
});

byId("toggle-audio-only").addEventListener("click", () => {
  state.audioOnly = !state.audioOnly;
  window.sessionStorage.setItem(AUDIO_ONLY_KEY, state.audioOnly ? "1" : "0");
  applyAudioOnly();
});

// Audio only: stop sending and receiving video on every connection (less data on weak Wi-Fi).
function applyAudioOnly() {
  applyLocalTracks();
  mesh.setAudioOnly(state.audioOnly);
  if (state.you) {
    renderControls();
    renderAllTiles();
    sendMediaState();
  }
}

byId("leave").addEventListener("click", () => {
  leave();
  window.location.assign(main.dataset.homeUrl);
});

function leave() {
  socket.close();
  mesh.closeAll();
  if (state.localStream) {
    for (const track of state.localStream.getTracks()) {
      track.stop();
    }
  }
}

window.addEventListener("pagehide", () => socket.close());

// --- being asked to unmute ---------------------------------------------------------------

const unmuteDialog = byId("unmute-dialog");
let unmuteRequest = null;

function askToUnmute(data) {
  unmuteRequest = data;
  const what = data.audio && data.video ? "unmute and turn your camera on" : data.video ? "turn your camera on" : "unmute";
  setText(byId("unmute-title"), `${data.by} asks you to ${what}`);
  if (!unmuteDialog.open) {
    unmuteDialog.showModal();
  }
}

byId("unmute-yes").addEventListener("click", () => {
  if (unmuteRequest && unmuteRequest.audio) {
    state.audioOn = true;
  }
  if (unmuteRequest && unmuteRequest.video) {
    state.videoOn = true;
  }
  unmuteDialog.close();
  applyLocalTracks();
  renderControls();
  sendMediaState();
});

byId("unmute-no").addEventListener("click", () => unmuteDialog.close());

// --- facilitator console -----------------------------------------------------------------

const confirmDialog = byId("confirm-dialog");
let confirmAction = null;

function confirmThen(title, text, yes, action) {
  setText(byId("confirm-title"), title);
  setText(byId("confirm-text"), text);
  setText(byId("confirm-yes"), yes);
  confirmAction = action;
  confirmDialog.showModal();
}

byId("confirm-yes").addEventListener("click", () => {
  confirmDialog.close();
  if (confirmAction) {
    confirmAction();
  }
});
byId("confirm-no").addEventListener("click", () => confirmDialog.close());

async function moderate(type, data, done) {
  try {
    await socket.request(type, data);
    if (done) {
      setText(byId("console-status"), done);
    }
  } catch (error) {
    setText(byId("console-status"), error.message);
  }
}

// A button whose visible words say what it does; the name says to whom, for screen readers.
function actionButton(text, person, onClick, className = "button") {
  return h(
    "button",
    { type: "button", className: `${className} button--small`, onClick },
    text,
    h("span", { className: "visually-hidden", text: ` ${person.display_name}` }),
  );
}

function renderLobby() {
  const list = byId("lobby");
  show(byId("lobby-empty"), state.lobby.length === 0);
  list.replaceChildren(
    ...state.lobby.map((entry) =>
      h(
        "li",
        { className: "person", "data-participant": entry.id },
        h("p", { className: "person__name", text: labelOf(entry) }),
        h("p", { className: "hint", text: waitedText(entry.waited_seconds) }),
        h(
          "div",
          { className: "person__actions" },
          actionButton("Let in", entry, () => moderate("mod.admit", { participant: entry.id }, `${entry.display_name} was let in.`), "button button--primary"),
          actionButton("Deny entry", entry, () =>
            confirmThen(`Do not let ${entry.display_name} in?`, "They will see a page saying they were not let in.", "Deny entry", () =>
              moderate("mod.deny", { participant: entry.id }, `${entry.display_name} was not let in.`),
            ),
          ),
        ),
      ),
    ),
  );
}

function waitedText(seconds) {
  if (!seconds || seconds < 60) {
    return "Waiting for less than a minute";
  }
  const minutes = Math.round(seconds / 60);
  return `Waiting for ${minutes} minute${minutes === 1 ? "" : "s"}`;
}

function renderPeople() {
  const people = [...state.participants.values()];
  byId("people").replaceChildren(
    ...people.map((person) => {
      const mutes = person.imposed || {};
      const actions = [];
      if (!mutes.audio) {
        actions.push(actionButton("Mute microphone", person, () => moderate("mod.mute", { participant: person.id, audio: true })));
      }
      if (!mutes.video) {
        actions.push(actionButton("Turn camera off", person, () => moderate("mod.mute", { participant: person.id, video: true })));
      }
      if (mutes.audio || mutes.video) {
        actions.push(
          actionButton("Ask to unmute", person, () =>
            moderate("mod.unmute", { participant: person.id, audio: Boolean(mutes.audio), video: Boolean(mutes.video), chat: false }, `${person.display_name} was asked to unmute.`),
          ),
        );
      }
      actions.push(
        mutes.chat
          ? actionButton("Allow chat", person, () => moderate("mod.unmute", { participant: person.id, audio: false, video: false, chat: true }))
          : actionButton("Mute chat", person, () => moderate("mod.mute", { participant: person.id, chat: true })),
      );
      actions.push(actionButton("Move to waiting room", person, () => moderate("mod.return_to_lobby", { participant: person.id })));
      actions.push(
        actionButton("Remove", person, () =>
          confirmThen(`Remove ${person.display_name}?`, "They leave the session now. They can knock again and wait to be let in.", "Remove", () =>
            moderate("mod.remove", { participant: person.id, ban: false }, `${person.display_name} was removed.`),
          ), "button button--danger"),
      );
      actions.push(
        actionButton("Remove and ban", person, () =>
          confirmThen(`Remove and ban ${person.display_name}?`, "They leave the session now and cannot come back to this room until unbanned.", "Remove and ban", () =>
            moderate("mod.remove", { participant: person.id, ban: true }, `${person.display_name} was removed and banned.`),
          ), "button button--danger"),
      );
      const status = [];
      if (mutes.audio) status.push("microphone muted");
      if (mutes.video) status.push("camera off");
      if (mutes.chat) status.push("chat muted");
      return h(
        "li",
        { className: "person", "data-participant": person.id },
        h("p", { className: "person__name", text: labelOf(person) }),
        status.length ? h("p", { className: "hint", text: `By a moderator: ${status.join(", ")}` }) : null,
        h("div", { className: "person__actions" }, ...actions),
      );
    }),
  );
}

function renderHands() {
  const list = byId("hands");
  show(byId("hands-empty"), state.hands.length === 0);
  list.replaceChildren(
    ...state.hands.map((id) => {
      const person = state.participants.get(id) || (state.you.id === id ? state.you : { id, display_name: id });
      return h(
        "li",
        { className: "person" },
        h("span", { className: "person__name", text: labelOf(person) }),
        actionButton("Lower hand", person, () => moderate("hand.lower", { participant: id })),
      );
    }),
  );
}

function renderRoomActions() {
  const locked = state.room && state.room.locked;
  setText(byId("lock-room"), locked ? "Unlock the room" : "Lock the room");
  byId("lock-room").setAttribute("aria-pressed", String(Boolean(locked)));
  const allMuted = state.room && state.room.mute_all && state.room.mute_all.audio;
  setText(byId("mute-all"), allMuted ? "Let everyone unmute again" : "Mute everyone's microphone");
}

function renderConsole() {
  const moderator = Boolean(state.you && state.you.is_moderator);
  show(byId("console"), moderator);
  if (!moderator) {
    return;
  }
  renderLobby();
  renderPeople();
  renderHands();
  renderRoomActions();
  if ("Notification" in window && Notification.permission === "default") {
    show(byId("enable-notifications"));
  }
}

byId("lock-room").addEventListener("click", () => moderate("mod.lock", { locked: !(state.room && state.room.locked) }));
byId("mute-all").addEventListener("click", () => {
  const allMuted = state.room && state.room.mute_all && state.room.mute_all.audio;
  moderate("mod.mute_all", { audio: !allMuted, video: false, chat: false });
});
byId("lower-hands").addEventListener("click", () => moderate("mod.lower_all_hands", {}));
byId("end-session").addEventListener("click", () =>
  confirmThen("End the session for everyone?", "Everyone leaves the call now, and nobody can come back in until the next session.", "End the session", () =>
    moderate("mod.end", {}),
  ),
);
byId("enable-notifications").addEventListener("click", async () => {
  const answer = await Notification.requestPermission();
  hideElement(byId("enable-notifications"));
  setText(byId("console-status"), answer === "granted" ? "You will get an alert when someone knocks while this tab is hidden." : "Alerts stay off. You will still hear a chime.");
});

const chime = new Audio();
function knock(entries) {
  const names = entries.map(labelOf).join(", ");
  const text = entries.length === 1 ? `${names} is waiting to be let in.` : `${names} are waiting to be let in.`;
  setText(byId("knock-alert"), text);
  show(byId("knock-alert"));
  if (!chime.src) {
    chime.src = URL.createObjectURL(chimeWavBlob());
  }
  chime.currentTime = 0;
  chime.play().catch(() => {});
  if (document.hidden && "Notification" in window && Notification.permission === "granted") {
    // No names: the notification may show on a shared screen or a lock screen.
    new Notification("Someone is waiting to join", { body: `Open ${main.dataset.roomName} to let them in.`, tag: `knock-${roomId}` });
  }
}

function setLobby(lobby, { alert = true } = {}) {
  const arrivals = lobby.filter((entry) => !state.seenInLobby.has(entry.id));
  state.lobby = lobby;
  state.seenInLobby = new Set(lobby.map((entry) => entry.id));
  if (alert && arrivals.length) {
    knock(arrivals);
  }
  if (!lobby.length) {
    hideElement(byId("knock-alert"));
  }
  renderLobby();
}

// --- screens -----------------------------------------------------------------------------

function showScreen(name) {
  for (const id of ["joining", "waiting", "room", "ended"]) {
    show(byId(id), id === name);
  }
}

function hideElement(element) {
  element.hidden = true;
}

function showNotice(text) {
  const notice = byId("notice");
  setText(notice, text);
  show(notice, Boolean(text));
}

function showFinal(code) {
  leave();
  if (code === CLOSE_NOT_AUTHENTICATED) {
    window.location.assign(`/signin?next=${encodeURIComponent(window.location.pathname)}`);
    return;
  }
  const [title, fallback] = FINAL_PAGES[code] || ["You have left the session", "The connection to the session was closed."];
  const frame = state.finalFrame;
  const message = frame && frame.data && frame.data.message ? frame.data.message : frame && frame.error ? frame.error.message : fallback;
  setText(byId("ended-heading"), frame && frame.type === "removed" && frame.data.reason === "banned" ? "You cannot come back to this session" : title);
  setText(byId("ended-message"), message);
  hideElement(byId("connection-banner"));
  showScreen("ended");
  document.title = `${title} · Hearth`;
  byId("ended").focus();
}

let bannerTimer = null;
socket.addEventListener("state", ({ detail }) => {
  const banner = byId("connection-banner");
  window.clearTimeout(bannerTimer);
  if (detail.state === "reconnecting") {
    chat.disconnected();
    banner.className = "banner banner--warning";
    setText(banner, "The connection was lost. Reconnecting… Messages you write now will be sent when it is back.");
    show(banner);
  } else if (detail.state === "open" && !banner.hidden) {
    banner.className = "banner banner--ok";
    setText(banner, "Connected again.");
    bannerTimer = window.setTimeout(() => hideElement(banner), 4000);
  }
});

socket.addEventListener("final", ({ detail }) => showFinal(detail.code));

// --- frames ------------------------------------------------------------------------------

function on(type, handler) {
  socket.addEventListener(type, ({ detail }) => handler(detail.data || {}, detail));
}

on("lobby.waiting", (data) => {
  state.admitted = false;
  mesh.closeAll();
  state.participants.clear();
  chat.disconnected();
  setText(byId("waiting-message"), data.message);
  setText(byId("waiting-position"), data.position === 1 ? "You are next" : `Number ${data.position}`);
  setText(byId("waiting-for"), (data.waiting_for || []).join(", ") || "Your therapist");
  showScreen("waiting");
  document.title = `Waiting room · ${main.dataset.roomName} · Hearth`;
});

on("welcome", async (data) => {
  const first = !state.admitted;
  state.admitted = true;
  state.you = data.you;
  state.room = data.room;
  state.hands = data.hands || [];
  state.participants = new Map(data.participants.filter((p) => p.id !== data.you.id).map((p) => [p.id, p]));
  showScreen("room");
  document.title = `${main.dataset.roomName} · Hearth`;
  chat.applyWelcome(data.chat, data.you);
  if (data.lobby) {
    setLobby(data.lobby, { alert: first });
  }
  scheduleIceRefresh(data.ice);
  applyLocalTracks();
  renderControls();
  renderAllTiles();
  renderConsole();
  await mediaReady;
  mesh.localStream = state.localStream;
  mesh.audioOnly = state.audioOnly;
  mesh.setIdentity(data.you.id, data.ice.ice_servers);
  mesh.sync([...state.participants.keys()]);
  sendMediaState();
});

function scheduleIceRefresh(ice) {
  window.clearTimeout(state.iceTimer);
  if (ice && ice.refresh_after) {
    state.iceTimer = window.setTimeout(() => socket.send("ice.refresh"), ice.refresh_after * 1000);
  }
}

on("ice.servers", (data) => {
  mesh.setIdentity(state.you.id, data.ice_servers);
  scheduleIceRefresh(data);
});

on("signal", (data) => {
  mediaReady.then(() => {
    if (state.admitted) {
      mesh.onSignal(data);
    }
  });
});

on("participant.joined", ({ participant }) => {
  if (participant.id === state.you.id) {
    updateYou(participant);
    return;
  }
  if (!state.participants.has(participant.id)) {
    chat.addNotice(`${labelOf(participant)} joined the session.`);
  }
  state.participants.set(participant.id, participant);
  renderTile(participant);
  renderConsole();
  // No connection from this side: the newcomer calls everyone listed in its welcome, once
  // it is in the room (an offer sent sooner could be dropped before it gets there).
});

on("participant.updated", ({ participant }) => {
  if (participant.id === state.you.id) {
    updateYou(participant);
    return;
  }
  const known = state.participants.get(participant.id);
  if (known && known.version > participant.version) {
    return;
  }
  if (participant.state === "admitted") {
    state.participants.set(participant.id, participant);
    renderTile(participant);
  }
  renderConsole();
});

function updateYou(participant) {
  if (state.you && state.you.version > participant.version) {
    return;
  }
  const wasMuted = imposed();
  state.you = participant;
  const mutes = imposed();
  // An imposed mute also turns the person's own switch off (rooms.moderation).
  if (mutes.audio && !wasMuted.audio) {
    state.audioOn = false;
  }
  if (mutes.video && !wasMuted.video) {
    state.videoOn = false;
  }
  chat.setMuted(Boolean(mutes.chat));
  applyLocalTracks();
  renderControls();
  renderTile(participant);
}

on("participant.left", ({ participant }) => {
  const person = state.participants.get(participant);
  if (person) {
    chat.addNotice(`${labelOf(person)} left the session.`);
  }
  state.participants.delete(participant);
  mesh.drop(participant);
  const tile = tileOf(participant);
  if (tile) {
    tile.remove();
  }
  renderConsole();
});

on("lobby.updated", ({ lobby }) => setLobby(lobby));

on("hands", ({ queue }) => {
  state.hands = queue;
  renderControls();
  renderAllTiles();
  renderHands();
});

on("room.updated", ({ room }) => {
  state.room = room;
  renderRoomActions();
});

on("moderation", (data) => {
  const by = nameOf(data.by) || "A moderator";
  const target = data.target ? nameOf(data.target) || "someone" : null;
  if (data.action === "mute" && data.audio && data.target) {
    state.mutedBy.set(data.target, by);
  }
  const text = describeModeration(data.action, by, target, data);
  if (text) {
    chat.addNotice(text);
  }
  if (state.you) {
    renderControls();
    renderAllTiles();
  }
});

function describeModeration(action, by, target, data) {
  const media = ["audio", "video", "chat"].filter((m) => data[m]).map((m) => ({ audio: "microphone", video: "camera", chat: "chat" })[m]);
  switch (action) {
    case "mute":
      return `${by} muted ${target}'s ${media.join(" and ")}.`;
    case "unmute":
      return media.length ? `${by} lifted the mute on ${target}'s ${media.join(" and ")}.` : null;
    case "remove":
      return `${by} removed ${target} from the session.`;
    case "return_to_lobby":
      return `${by} moved ${target} to the waiting room.`;
    case "lock":
      return data.locked ? `${by} locked the room.` : `${by} unlocked the room.`;
    case "mute_all":
      return `${by} changed the room's mute for everyone.`;
    default:
      return null;
  }
}

on("unmute.requested", (data) => askToUnmute(data));

for (const type of ["removed", "session.ended", "closing"]) {
  socket.addEventListener(type, ({ detail }) => {
    state.finalFrame = detail;
  });
}

on("chat.message", (message) => chat.onMessage(message));
on("chat.read", (data) => chat.onRead(data));
on("typing", (data) => chat.onTyping(data));

socket.connect();
