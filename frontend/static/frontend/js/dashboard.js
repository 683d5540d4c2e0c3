import { api, ApiError } from "./api.js";
import { byId, h, setText, show } from "./dom.js";
import { threadItem } from "./threads.js";
import { deviceTimeZone, zoneLabel } from "./timezones.js";
import { formatDateTime, formatStart, formatTime } from "./when.js";

// "Join" opens this long before the start and stays open until the end.
const JOIN_OPENS_BEFORE_MS = 10 * 60 * 1000;
const REFRESH_JOIN_EVERY_MS = 15 * 1000;

let me = null;
let occurrences = [];
let renderedJoinState = "";

function joinIsOpen(occurrence, now) {
  return now >= occurrence.start.getTime() - JOIN_OPENS_BEFORE_MS && now < occurrence.end.getTime();
}

function joinControl(occurrence, titleId) {
  const now = Date.now();
  const checkUrl = `/rooms/${encodeURIComponent(occurrence.room_id)}/check`;
  if (joinIsOpen(occurrence, now)) {
    return h("a", { className: "button button--primary join", href: checkUrl, "aria-describedby": titleId, text: "Join the session" });
  }
  const opensAt = new Date(occurrence.start.getTime() - JOIN_OPENS_BEFORE_MS);
  const hintId = `${titleId}-opens`;
  return h(
    "div",
    { className: "join-closed" },
    h("button", { type: "button", className: "button join", disabled: true, "aria-describedby": `${titleId} ${hintId}`, text: "Join the session" }),
    h("p", { className: "hint", id: hintId, text: `Opens ${formatDateTime(opensAt, occurrence.time_zone)}, 10 minutes before the start.` }),
  );
}

function joinState() {
  const now = Date.now();
  return occurrences.map((occurrence) => (joinIsOpen(occurrence, now) ? "1" : "0")).join("");
}

// Only redraw when a "Join" control opens or closes, so keyboard focus is not lost.
function refreshJoinControls() {
  if (joinState() !== renderedJoinState) {
    renderSessions();
  }
}

function renderSessions() {
  renderedJoinState = joinState();
  const list = byId("sessions");
  const status = byId("sessions-status");
  if (occurrences.length === 0) {
    list.replaceChildren();
    setText(status, "You have no sessions in the next 60 days.");
    return;
  }
  setText(status, "");
  list.replaceChildren(
    ...occurrences.map((occurrence, index) => {
      const titleId = `session-${index}-title`;
      const zone = occurrence.time_zone;
      return h(
        "li",
        { className: "session", "data-occurrence": occurrence.occurrence_id },
        h("h3", { id: titleId, className: "session__title", text: occurrence.title }),
        occurrence.title !== occurrence.room_name ? h("p", { className: "session__room", text: occurrence.room_name }) : null,
        h(
          "p",
          { className: "session__when" },
          h("time", { datetime: occurrence.starts_at, text: formatStart(occurrence.start, zone) }),
          " to ",
          h("time", { datetime: occurrence.ends_at, text: formatTime(occurrence.end, zone, true) }),
        ),
        joinControl(occurrence, titleId),
      );
    }),
  );
}

async function loadSessions() {
  try {
    const found = await api("/api/sessions/upcoming?days=60");
    occurrences = found.map((occurrence) => ({
      ...occurrence,
      start: new Date(occurrence.starts_at),
      end: new Date(occurrence.ends_at),
    }));
    renderSessions();
  } catch (error) {
    setText(byId("sessions-status"), error instanceof ApiError ? error.message : "Your sessions could not be loaded.");
  }
}

async function loadThreads() {
  const list = byId("threads");
  const status = byId("threads-status");
  let threads;
  try {
    threads = await api("/api/inbox");
  } catch (error) {
    setText(status, error instanceof ApiError ? error.message : "Your conversations could not be loaded.");
    return;
  }
  if (threads.length === 0) {
    setText(status, "You have no conversations yet.");
    list.replaceChildren();
    return;
  }
  setText(status, "");
  list.replaceChildren(...threads.map(threadItem));
}

function showCalendar() {
  const input = byId("calendar-url");
  input.value = me.calendar_url;
  const subscribe = byId("calendar-subscribe");
  subscribe.href = me.calendar_url.replace(/^https?:/, "webcal:");
  show(subscribe);
  byId("calendar-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(me.calendar_url);
      setText(byId("calendar-status"), "The calendar link is copied. Paste it into your calendar app.");
    } catch {
      input.select();
      setText(byId("calendar-status"), "Select the link above and copy it.");
    }
  });
}

function offerDeviceZone() {
  const device = deviceTimeZone();
  setText(byId("zone-name"), zoneLabel(me.time_zone));
  if (device === me.time_zone) {
    return;
  }
  setText(
    byId("zone-mismatch-text"),
    `Your device is set to ${zoneLabel(device)}, but your Hearth account uses ${zoneLabel(me.time_zone)}.`,
  );
  show(byId("zone-mismatch"));
  byId("zone-use-device").addEventListener("click", async () => {
    try {
      me = await api("/api/me", { method: "PATCH", body: { time_zone: device } });
      show(byId("zone-mismatch"), false);
      setText(byId("zone-name"), zoneLabel(me.time_zone));
      await loadSessions();
    } catch (error) {
      setText(byId("zone-mismatch-text"), error instanceof ApiError ? error.message : "The time zone could not be changed.");
    }
  });
}

async function start() {
  try {
    me = await api("/api/me");
  } catch {
    setText(byId("sessions-status"), "Please sign in again.");
    return;
  }
  offerDeviceZone();
  showCalendar();
  await Promise.all([loadSessions(), loadThreads()]);
  // Re-decide which "Join" buttons are open as the clock moves, without reloading.
  window.setInterval(refreshJoinControls, REFRESH_JOIN_EVERY_MS);
}

start();
