// Building the page from data. Every string becomes a text node (textContent), never HTML:
// names and messages come from other people and must not be able to run anything.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) {
      continue;
    }
    if (name === "text") {
      element.textContent = String(value);
    } else if (name === "className") {
      element.className = value;
    } else if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function byId(id) {
  return document.getElementById(id);
}

export function setText(element, text) {
  element.textContent = text;
}

export function show(element, visible = true) {
  element.hidden = !visible;
}

// Field errors from an ApiError next to their inputs; returns whether any matched a field.
export function showFieldErrors(form, fields) {
  let first = null;
  for (const element of form.querySelectorAll(".field-error")) {
    element.hidden = true;
    element.textContent = "";
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
  }
  for (const [name, message] of Object.entries(fields || {})) {
    const slot = byId(name + "-error");
    if (!slot) {
      continue;
    }
    slot.textContent = message;
    slot.hidden = false;
    const input = form.elements.namedItem(name);
    if (input && input.setAttribute) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    } else {
      first = first || slot;
    }
  }
  if (first && first.focus) {
    first.focus();
  }
  return first !== null;
}

export function showFormError(element, message) {
  element.textContent = message;
  element.hidden = !message;
}
