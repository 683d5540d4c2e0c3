import { h } from "./dom.js";

// One care thread in a list: its name and how many messages are unread, as words.
export function threadItem(thread) {
  const unread = thread.unread > 0 ? `${thread.unread} unread` : "No unread messages";
  return h(
    "li",
    { className: "thread-item" + (thread.unread > 0 ? " thread-item--unread" : "") },
    h(
      "a",
      { href: `/threads/${encodeURIComponent(thread.room_id)}/`, className: "thread-item__link" },
      h("span", { className: "thread-item__name", text: thread.name }),
      h("span", { className: "badge", "data-unread": String(thread.unread), text: unread }),
    ),
  );
}
