// The wio console's only script: it sends the operator's verbs to the HTTP API and
// keeps an open instance page up to date. Plain JavaScript, no library.
"use strict";

const POLL_INTERVAL_MS = 1000; // only when the server's event stream cannot be used

function show(element, text) {
  element.textContent = text;
  element.hidden = !text;
}

function clearErrors(form) {
  for (const element of form.querySelectorAll("[data-error-for], [data-form-error]")) {
    show(element, "");
  }
  for (const control of form.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
  }
}

function fieldError(form, name, message) {
  const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
  if (!slot) return false;
  show(slot, message);
  const control = form.querySelector(`[name="${CSS.escape(name)}"]`);
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.focus();
  }
  return true;
}

// The API names the field at fault: "... Expected `int`, got `str` @ amount" (Litestar's
// check), "missing required field `title`", or "request.amount: ..." (wio's strict one).
function fieldOf(detail, form) {
  const patterns = [/@ ([A-Za-z_][\w.]*)\s*$/, /required field `([^`]+)`/, /\b(?:request|data)\.([A-Za-z_]\w*)/];
  for (const pattern of patterns) {
    const found = detail.match(pattern);
    if (found && form.querySelector(`[data-error-for="${CSS.escape(found[1])}"]`)) return found[1];
  }
  for (const slot of form.querySelectorAll("[data-error-for]")) {
    const name = slot.dataset.errorFor;
    if (new RegExp(`\\b${name}\\b`).test(detail)) return name;
  }
  return null;
}

function reason(detail) {
  return detail.replace(/^Validation failed for [A-Z]+ \S+: /, "").replace(/ @ [\w.]+\s*$/, "");
}

// A form's fields as the JSON its schema asks for; a field that does not parse is
// sent as typed, so that the server names it (nothing is written then).
function collect(form) {
  const body = {};
  const problems = [];
  for (const control of form.querySelectorAll("[data-type]")) {
    const name = control.name;
    const kind = control.dataset.type;
    const text = control.type === "checkbox" ? null : control.value.trim();
    if (kind === "boolean") {
      body[name] = control.checked;
    } else if (text === "" && control.dataset.nullable) {
      body[name] = null;
    } else if (text === "" && !control.required) {
      continue;
    } else if (kind === "integer" && /^-?\d+$/.test(text)) {
      body[name] = Number.parseInt(text, 10);
    } else if (kind === "number" && text !== "" && !Number.isNaN(Number(text))) {
      body[name] = Number(text);
    } else if (kind === "json") {
      try {
        body[name] = JSON.parse(text);
      } catch (error) {
        problems.push([name, `not JSON: ${error.message}`]);
      }
    } else {
      body[name] = text;
    }
  }
  return { body, problems };
}

async function send(url, method, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let answer = null;
  try {
    answer = await response.json();
  } catch (error) {
    answer = { detail: `${response.status} ${response.statusText}` };
  }
  return { ok: response.ok, status: response.status, answer };
}

function failed(form, answer) {
  const detail = String((answer && answer.detail) || "the request failed");
  const field = fieldOf(detail, form);
  if (field && fieldError(form, field, reason(detail))) return;
  show(form.querySelector("[data-form-error]"), detail);
}

function instancePage() {
  const root = document.getElementById("instance");
  if (!root) return;
  const id = root.dataset.id;
  const base = `/instances/${encodeURIComponent(id)}`;
  const actionError = document.getElementById("action-error");
  const note = document.getElementById("live-note");
  let signalNames = null;
  let busy = false;

  function apply(parts) {
    root.dataset.stamp = parts.stamp;
    for (const name of ["actions", "summary", "diagram", "state", "timeline"]) {
      document.getElementById(name).innerHTML = parts[name];
    }
    document.getElementById("fork-at").innerHTML = parts.fork_options;
    // Forms are replaced only when other signals are expected, so typing is never lost.
    const names = parts.signal_names.join(",");
    if (names !== signalNames) {
      document.getElementById("signals").innerHTML = parts.signals;
      signalNames = names;
    }
    root.dataset.status = parts.status;
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const query = new URLSearchParams({ id, stamp: root.dataset.stamp });
      const response = await fetch(`/console/instance/live?${query}`, { credentials: "same-origin" });
      if (response.ok) {
        const parts = await response.json();
        if (!parts.unchanged) apply(parts);
        note.textContent = "live";
      } else {
        note.textContent = `not updating: ${response.status}`;
      }
    } catch (error) {
      note.textContent = "not updating: the server does not answer";
    } finally {
      busy = false;
    }
  }

  let polling = null;
  function poll(why) {
    if (polling === null) polling = setInterval(refresh, POLL_INTERVAL_MS);
    root.dataset.live = "polling";
    note.textContent = "live (polling)";
    note.title = why;
  }

  // The server pushes the parts as the instance changes (Server-Sent Events, with the
  // session cookie as every request of the page); if it cannot, the page polls.
  function follow() {
    if (!window.EventSource) return poll("this browser has no EventSource");
    const query = new URLSearchParams({ id, stamp: root.dataset.stamp });
    const source = new EventSource(`/console/instance/stream?${query}`);
    source.onopen = () => {
      root.dataset.live = "stream";
      note.textContent = "live";
    };
    source.addEventListener("parts", (event) => {
      apply(JSON.parse(event.data));
      note.textContent = "live";
    });
    source.addEventListener("problem", (event) => {
      note.textContent = `not updating: ${JSON.parse(event.data).detail}`;
    });
    source.addEventListener("gone", (event) => {
      source.close();
      note.textContent = `not updating: ${JSON.parse(event.data).detail}`;
    });
    source.addEventListener("busy", (event) => {
      source.close();
      poll(JSON.parse(event.data).detail);
    });
    source.onerror = () => {
      // Refused (503 when too many pages listen, 401): the browser gives up, so poll.
      // A dropped stream is opened again by the browser itself.
      if (source.readyState === EventSource.CLOSED) poll("the server refused the event stream");
      else note.textContent = "reconnecting…";
    };
  }

  signalNames = Array.from(document.querySelectorAll("form.signal"), (f) => f.dataset.signal).join(",");
  follow();

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    show(actionError, "");
    const verb = button.dataset.action;
    const body = verb === "cancel" ? { reason: "cancelled in the console" } : undefined;
    button.disabled = true;
    const result = await send(`${base}/${verb}`, "POST", body);
    if (!result.ok) {
      show(actionError, `${verb}: ${result.answer.detail}`);
      button.disabled = false;
    }
    await refresh();
  });

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    event.preventDefault();
    clearErrors(form);
    if (form.matches("form.signal")) {
      const { body, problems } = collect(form);
      if (problems.length) {
        for (const [name, message] of problems) fieldError(form, name, message);
        return;
      }
      const result = await send(form.dataset.url, "POST", body);
      if (!result.ok) return failed(form, result.answer);
      signalNames = null; // the forms are for what it expects next
      await refresh();
    } else if (form.id === "fork-form") {
      const newId = form.elements.new_id.value.trim();
      if (!newId) return fieldError(form, "new_id", "give the new instance an id");
      const at = Number.parseInt(form.elements.at.value, 10);
      const result = await send(`${base}/fork`, "POST", { at, new_id: newId });
      if (!result.ok) return failed(form, result.answer);
      window.location.assign(`/console/instance?id=${encodeURIComponent(newId)}`);
    } else if (form.id === "deliver-form") {
      const { body, problems } = collect(form);
      if (problems.length) {
        for (const [name, message] of problems) fieldError(form, name, message);
        return;
      }
      const result = await send(`${base}/deliver`, "POST", { type: form.elements.type.value, payload: body.payload });
      if (!result.ok) return failed(form, result.answer);
      await refresh();
    }
  });
}

// The list's counts and rows follow the instances through the same kind of stream. It
// never polls: a page the stream refuses says so, and a reload shows what changed.
function listPage() {
  const root = document.getElementById("instances");
  if (!root || !root.dataset.stream) return;
  const note = document.getElementById("live-note");
  if (!window.EventSource) return;
  const separator = root.dataset.stream.includes("?") ? "&" : "?";
  const query = new URLSearchParams({ stamp: root.dataset.stamp });
  const source = new EventSource(`${root.dataset.stream}${separator}${query}`);
  function stop(why) {
    source.close();
    root.dataset.live = "off";
    note.textContent = "not live: reload to see changes";
    note.title = why;
  }
  source.onopen = () => {
    root.dataset.live = "stream";
    note.textContent = "live";
  };
  source.addEventListener("list", (event) => {
    const parts = JSON.parse(event.data);
    root.dataset.stamp = parts.stamp;
    document.getElementById("list-counts").innerHTML = parts.counts;
    document.getElementById("list-rows").innerHTML = parts.rows;
  });
  source.addEventListener("problem", (event) => {
    note.textContent = `not updating: ${JSON.parse(event.data).detail}`;
  });
  for (const name of ["gone", "busy"]) {
    source.addEventListener(name, (event) => stop(JSON.parse(event.data).detail));
  }
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) stop("the server refused the event stream");
    else note.textContent = "reconnecting…";
  };
}

document.addEventListener("DOMContentLoaded", instancePage);
document.addEventListener("DOMContentLoaded", listPage);
