import { api, ApiError } from "./api.js";
import { byId, setText } from "./dom.js";
import { threadItem } from "./threads.js";

async function start() {
  const status = byId("threads-status");
  try {
    const threads = await api("/api/inbox");
    byId("threads").replaceChildren(...threads.map(threadItem));
    setText(status, threads.length === 0 ? "You have no conversations yet." : "");
  } catch (error) {
    setText(status, error instanceof ApiError ? error.message : "Your conversations could not be loaded.");
  }
}

start();
