// The REST API from the browser: JSON in and out, the session cookie, and the CSRF token
// fetched from /api/auth/csrf and sent as X-CSRFToken on every unsafe method.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }

  // Field name -> sentence, from {"details": {"fields": {...}}}.
  get fields() {
    return this.details.fields || {};
  }
}

let csrfToken = null;

async function getCsrfToken() {
  if (csrfToken === null) {
    const response = await fetch("/api/auth/csrf", { credentials: "same-origin" });
    const body = await response.json();
    csrfToken = body.csrf_token;
  }
  return csrfToken;
}

// Django rotates the token when someone signs in; the next unsafe call fetches a fresh one.
export function forgetCsrfToken() {
  csrfToken = null;
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (UNSAFE.has(method)) {
    headers["X-CSRFToken"] = await getCsrfToken();
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "We could not reach Hearth. Check your internet connection and try again.");
  }
  if (response.status === 204) {
    return null;
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || "http_" + response.status,
      error.message || "Something went wrong. Please try again.",
      error.details,
    );
  }
  return data;
}
