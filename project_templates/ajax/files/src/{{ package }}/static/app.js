// The page's behaviour: plain JavaScript, no framework, no build step.
// Loaded with <script defer> from a static file, so the strict
// Content-Security-Policy (no inline script) holds.
"use strict";

const csrfToken = document.querySelector('meta[name="csrf-token"]').content;

/** An error to show to the user; `field` names the input it is about, if any. */
class ApiError extends Error {
  constructor(message, field = null) {
    super(message);
    this.field = field;
  }
}

/**
 * Call a JSON endpoint. Resolves with the decoded body (null for 204), or
 * rejects with an ApiError whose message can be shown as is.
 */
async function api(method, url, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    // Flask-WTF's CSRFProtect reads the token from this header.
    headers["X-CSRFToken"] = csrfToken;
  }
  const options = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }

  let response;
  try {
    response = await fetch(url, options);
  } catch {
    throw new ApiError("Network error: the server could not be reached. Check your connection and try again.");
  }
  if (response.status === 204) {
    return null;
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    // Not JSON (a proxy's error page, for example): fall through to the status.
  }
  if (!response.ok) {
    const error = data && data.error;
    throw new ApiError(
      error ? error.message : `The server answered ${response.status} ${response.statusText}.`,
      error ? error.field : null,
    );
  }
  return data;
}

/** Show `message` in an error element, or hide it when `message` is empty. */
function showError(element, message) {
  element.textContent = message;
  element.hidden = !message;
}

// --- The button: GET /api/time and write the answer into the page. ---

function setUpTimeButton() {
  const button = document.getElementById("time-button");
  const output = document.getElementById("time-output");
  const error = document.getElementById("time-error");

  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const data = await api("GET", "/api/time");
      output.textContent = data.text;
      output.dataset.iso = data.iso;
      showError(error, "");
    } catch (err) {
      showError(error, err.message);
    } finally {
      button.disabled = false;
      button.focus();
    }
  });
}

// --- The to-do list: GET, POST, PATCH and DELETE on /api/todos. ---

function setUpTodos() {
  const form = document.getElementById("todo-form");
  if (!form) {
    return; // Logged out: the page shows a login link instead of the list.
  }
  const input = document.getElementById("todo-input");
  const formError = document.getElementById("todo-error");
  const list = document.getElementById("todo-list");
  const status = document.getElementById("todo-status");

  function updateStatus() {
    const total = list.children.length;
    const done = list.querySelectorAll("input:checked").length;
    status.textContent = total === 0 ? "Nothing to do yet." : `${done} of ${total} done.`;
  }

  // Items are built with DOM methods and textContent, never innerHTML, so a
  // title like <img onerror=...> is shown as text instead of running.
  function renderTodo(todo) {
    const item = document.createElement("li");
    item.className = "todo";
    item.dataset.id = todo.id;

    const checkbox = document.createElement("input");
    checkbox.type = "checkbox";
    checkbox.id = `todo-${todo.id}`;
    checkbox.checked = todo.done;

    const label = document.createElement("label");
    label.htmlFor = checkbox.id;
    label.textContent = todo.title;

    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button secondary small";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", `Delete “${todo.title}”`);

    const itemError = document.createElement("p");
    itemError.className = "error";
    itemError.setAttribute("role", "alert");
    itemError.hidden = true;

    checkbox.addEventListener("change", async () => {
      try {
        await api("PATCH", `/api/todos/${todo.id}`, { done: checkbox.checked });
        showError(itemError, "");
      } catch (err) {
        checkbox.checked = !checkbox.checked;
        showError(itemError, err.message);
      }
      updateStatus();
    });

    remove.addEventListener("click", async () => {
      try {
        await api("DELETE", `/api/todos/${todo.id}`);
      } catch (err) {
        showError(itemError, err.message);
        return;
      }
      // Keep keyboard users in place: focus the next item's checkbox, or the input.
      const next = item.nextElementSibling || item.previousElementSibling;
      item.remove();
      (next ? next.querySelector("input") : input).focus();
      updateStatus();
    });

    item.append(checkbox, label, remove, itemError);
    return item;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      const data = await api("POST", "/api/todos", { title: input.value });
      list.append(renderTodo(data.todo));
      input.value = "";
      input.removeAttribute("aria-invalid");
      showError(formError, "");
      updateStatus();
    } catch (err) {
      if (err.field === "title") {
        input.setAttribute("aria-invalid", "true");
      }
      showError(formError, err.message);
    } finally {
      submit.disabled = false;
      input.focus();
    }
  });

  api("GET", "/api/todos")
    .then((data) => {
      list.replaceChildren(...data.todos.map(renderTodo));
      updateStatus();
    })
    .catch((err) => {
      status.textContent = "";
      showError(formError, err.message);
    });
}

setUpTimeButton();
setUpTodos();
