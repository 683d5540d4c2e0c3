import { api, ApiError } from "./api.js";
import { byId, showFormError } from "./dom.js";

const form = byId("signin-form");
const formError = byId("form-error");
const nextUrl = document.getElementById("main").dataset.next || "/";

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = form.querySelector("button[type=submit]");
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  if (!username || !password) {
    showFormError(formError, "Enter your email and your password.");
    (username ? form.elements.password : form.elements.username).focus();
    return;
  }
  button.disabled = true;
  showFormError(formError, "");
  try {
    await api("/api/auth/login", { method: "POST", body: { username, password } });
    window.location.assign(nextUrl);
  } catch (error) {
    button.disabled = false;
    showFormError(
      formError,
      error instanceof ApiError ? error.message : "Signing in did not work. Please try again.",
    );
    form.elements.password.focus();
  }
});
