import { api, ApiError } from "./api.js";
import { byId, showFieldErrors, showFormError } from "./dom.js";
import { deviceTimeZone, fillTimeZoneSelect } from "./timezones.js";

const main = document.getElementById("main");
const form = byId("invite-form");
const formError = byId("form-error");
const gone = byId("invite-gone");

fillTimeZoneSelect(form.elements.time_zone, deviceTimeZone());

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = form.querySelector("button[type=submit]");
  const body = {
    token: main.dataset.token,
    display_name: form.elements.display_name.value.trim(),
    relationship: form.elements.relationship.value.trim(),
    time_zone: form.elements.time_zone.value,
    password: form.elements.password ? form.elements.password.value : "",
  };
  if (!body.display_name) {
    showFieldErrors(form, { display_name: "Enter the name others will see." });
    return;
  }
  if (form.elements.password && body.password.length === 0) {
    showFieldErrors(form, { password: "Choose a password." });
    return;
  }
  button.disabled = true;
  showFormError(formError, "");
  try {
    await api("/api/invitations/accept", { method: "POST", body });
    window.location.assign(main.dataset.homeUrl);
  } catch (error) {
    button.disabled = false;
    if (!(error instanceof ApiError)) {
      showFormError(formError, "Accepting the invitation did not work. Please try again.");
      return;
    }
    if (error.status === 410 || error.status === 404) {
      // Expired, used or withdrawn while the page was open: the form can no longer help.
      gone.textContent = error.message;
      gone.hidden = false;
      form.hidden = true;
      gone.focus();
      return;
    }
    const matched = showFieldErrors(form, error.fields);
    showFormError(formError, matched ? "Please correct the highlighted fields." : error.message);
  }
});
