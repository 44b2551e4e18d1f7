// The console's behaviour in the browser: the live change stream, row selection, the
// action dialogs, and times shown in the browser's time zone. Plain JavaScript over
// htmx; no build step. Server-rendered pages work without it, read-only.
(function () {
  "use strict";

  const STALE_AFTER = 35000; // ms without a stream event or heartbeat: the page is stale
  const REFRESH_GAP = 1000; // ms: at most one refresh of each live part per second
  const POLL_EVERY = 10000; // ms between refreshes while stale (the stream is away)
  const RECONNECT_AFTER = 5000; // ms before opening a stream the server closed

  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const stamp = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

  // ---- times in the browser's zone ------------------------------------------------
  function localize(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      const when = new Date(t.getAttribute("datetime"));
      if (isNaN(when)) return;
      t.title = stamp.format(when) + " (" + zone + ")";
      if (t.classList.contains("local")) t.textContent = stamp.format(when);
    });
    root.querySelectorAll(".tz").forEach(function (el) { el.textContent = zone; });
  }

  // ---- live stream ----------------------------------------------------------------
  const status = document.getElementById("live");
  let source = null;
  let lastId = null;
  let lastBeat = Date.now();
  let stale = false;
  let pollTimer = null;
  let refreshTimer = null;
  let lastRefresh = 0;
  let inFlight = 0;
  let dirty = false;

  function show(state, text) {
    if (!status) return;
    status.dataset.state = state;
    status.textContent = text;
  }

  function beat(event) {
    if (event && event.lastEventId) lastId = event.lastEventId;
    lastBeat = Date.now();
    if (stale) {
      stale = false;
      clearInterval(pollTimer);
      pollTimer = null;
      refreshSoon();
    }
    show("live", "live");
  }

  function connect() {
    if (!status || source) return;
    const query = lastId ? "?last_event_id=" + encodeURIComponent(lastId) : "";
    source = new EventSource("/api/v1/stream" + query);
    source.addEventListener("hello", function (e) { beat(e); refreshSoon(); });
    source.addEventListener("reset", function (e) { beat(e); refreshSoon(); });
    source.addEventListener("heartbeat", beat);
    ["state", "acknowledgement", "downtime", "comment"].forEach(function (kind) {
      source.addEventListener(kind, function (e) { beat(e); refreshSoon(); });
    });
    source.onerror = function () {
      if (!source) return;
      if (source.readyState === EventSource.CLOSED) {
        // Refused (a session that ended, a node restarting): open a new one later; the
        // refresh it triggers sends an ended session to the sign-in page.
        source = null;
        setTimeout(function () { if (visible()) connect(); }, RECONNECT_AFTER);
      }
      if (!stale) show("reconnecting", "reconnecting…");
    };
  }

  function disconnect() {
    if (source) source.close();
    source = null;
  }

  function visible() { return document.visibilityState === "visible"; }

  setInterval(function () {
    if (!status || stale || !visible()) return;
    if (Date.now() - lastBeat > STALE_AFTER) {
      stale = true;
      show("stale", "stale, as of " + clock.format(new Date(lastBeat)));
      pollTimer = setInterval(refresh, POLL_EVERY);
    }
  }, 1000);

  document.addEventListener("visibilitychange", function () {
    if (visible()) {
      lastBeat = Date.now();
      connect();
      refresh();
    } else {
      disconnect();
      show("paused", "paused");
    }
  });

  // ---- refreshing the live parts of the page --------------------------------------
  function refreshSoon() {
    if (refreshTimer) return;
    const wait = Math.max(0, lastRefresh + REFRESH_GAP - performance.now());
    refreshTimer = setTimeout(function () { refreshTimer = null; refresh(); }, wait);
  }

  function refresh() {
    if (!visible()) return;
    if (inFlight) { dirty = true; return; }
    lastRefresh = performance.now();
    // Tests and tools watch this to see the page keep its own pace.
    document.dispatchEvent(new CustomEvent("sitelog:refresh", { detail: { at: lastRefresh } }));
    document.querySelectorAll("[data-live]").forEach(function (part) {
      inFlight += 1;
      const url = part.dataset.liveUrl || location.pathname + location.search;
      htmx.ajax("GET", url, { target: part, swap: "morph:innerHTML" }).finally(function () {
        inFlight -= 1;
        if (!inFlight && dirty) { dirty = false; refreshSoon(); }
      });
    });
  }

  // A refresh that finds the session ended is told to go to the sign-in form
  // (HX-Redirect): not while a dialog is open, which may hold what the operator typed.
  // Its action says the session ended; the page goes to sign in once it is closed.
  let redirectAfterDialog = null;
  document.addEventListener("htmx:beforeOnLoad", function (e) {
    const where = e.detail.xhr.getResponseHeader("HX-Redirect");
    if (where && document.querySelector("dialog[open]")) {
      e.preventDefault();
      redirectAfterDialog = where;
    }
  });
  document.addEventListener("close", function (e) {
    if (e.target.tagName === "DIALOG" && redirectAfterDialog) location.href = redirectAfterDialog;
  }, true); // "close" does not bubble: caught on its way down

  // ---- selection ------------------------------------------------------------------
  const selected = new Map(); // "host\tservice" -> {host, service}
  let anchor = null;

  function rows() { return Array.from(document.querySelectorAll("tr[data-key]")); }

  function pick(row, on) {
    const key = row.dataset.key;
    if (on) selected.set(key, { host: row.dataset.host, service: row.dataset.service || null });
    else selected.delete(key);
  }

  function sync() {
    const present = new Set();
    rows().forEach(function (row) {
      present.add(row.dataset.key);
      const box = row.querySelector("input.pick");
      const on = selected.has(row.dataset.key);
      if (box) box.checked = on;
      row.classList.toggle("selected", on);
      row.setAttribute("aria-selected", on ? "true" : "false");
    });
    // A row that left the list cannot be acted on from it any more.
    Array.from(selected.keys()).forEach(function (key) { if (!present.has(key)) selected.delete(key); });
    const all = document.getElementById("select-page");
    const count = rows().length;
    if (all) all.checked = count > 0 && selected.size === count;
    const counter = document.getElementById("selected-count");
    if (counter) counter.textContent = selected.size + " selected";
    // Openers for one named subject (a detail page's) do not depend on the selection.
    document.querySelectorAll("[data-dialog]:not([data-host])").forEach(function (b) {
      b.disabled = selected.size === 0;
    });
  }

  document.addEventListener("click", function (e) {
    const target = e.target;
    if (target.id === "select-page") {
      rows().forEach(function (row) { pick(row, target.checked); });
      sync();
      return;
    }
    const row = target.closest && target.closest("tr[data-key]");
    if (!row || !row.querySelector("input.pick") || target.closest("a")) return;
    const on = target.matches("input.pick") ? target.checked : !selected.has(row.dataset.key);
    const all = rows();
    const from = all.findIndex(function (r) { return r.dataset.key === anchor; });
    if (e.shiftKey && from >= 0) {
      const to = all.indexOf(row);
      all.slice(Math.min(from, to), Math.max(from, to) + 1).forEach(function (r) { pick(r, on); });
    } else {
      pick(row, on);
    }
    anchor = row.dataset.key;
    sync();
  });

  // Shift-click selects rows, not the text between them.
  document.addEventListener("mousedown", function (e) {
    if (e.shiftKey && e.target.closest && e.target.closest("tr[data-key]")) e.preventDefault();
  });

  // ---- actions --------------------------------------------------------------------
  let acting = []; // the subjects of the open dialog, as selected when it opened

  function describe(subjects) {
    if (subjects.length === 1) {
      const s = subjects[0];
      return s.service ? s.service + " on " + s.host : s.host;
    }
    return subjects.length + " subjects";
  }

  function localInput(date) {
    const pad = function (n) { return String(n).padStart(2, "0"); };
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      "T" + pad(date.getHours()) + ":" + pad(date.getMinutes());
  }

  function openDialog(name, subjects) {
    const dialog = document.getElementById("dialog-" + name);
    if (!dialog) return;
    acting = subjects;
    dialog.querySelectorAll(".subjects").forEach(function (el) { el.textContent = describe(subjects); });
    dialog.querySelectorAll("[data-default]").forEach(function (input) {
      if (input.value) return;
      const hours = input.dataset.default === "now" ? 0 : parseFloat(input.dataset.default);
      input.value = localInput(new Date(Date.now() + hours * 3600000));
    });
    const error = dialog.querySelector(".error");
    if (error) { error.hidden = true; error.textContent = ""; }
    dialog.showModal();
  }

  document.addEventListener("click", function (e) {
    const opener = e.target.closest && e.target.closest("[data-dialog]");
    if (opener) {
      const subjects = opener.dataset.host
        ? [{ host: opener.dataset.host, service: opener.dataset.service || null }]
        : Array.from(selected.values());
      openDialog(opener.dataset.dialog, subjects);
    }
    if (e.target.matches && e.target.matches("[data-close]")) e.target.closest("dialog").close();
  });

  // The values of an action form as the API takes them: booleans, UTC instants, micros.
  function values(form) {
    const out = {};
    Array.from(form.elements).forEach(function (input) {
      if (!input.name) return;
      if (input.type === "checkbox") out[input.name] = input.checked;
      else if (input.type === "radio") { if (input.checked) out[input.name] = input.value === "true"; }
      else if (input.dataset.instant !== undefined) {
        if (input.value) out[input.name] = new Date(input.value).toISOString();
      } else if (input.name === "duration") out.duration = Math.round(parseFloat(input.value || "0") * 60e6);
      else out[input.name] = input.value;
    });
    if (out.fixed !== false) delete out.duration;
    return out;
  }

  async function post(name, body) {
    const response = await fetch("/actions/" + name, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(function () { return {}; });
    if (!response.ok) {
      const message = answer.error ? answer.error.message : "the node answered " + response.status;
      throw new Error(message.charAt(0).toUpperCase() + message.slice(1));
    }
    return answer;
  }

  document.addEventListener("submit", async function (e) {
    const form = e.target;
    if (!form.dataset.command) return;
    e.preventDefault();
    const error = form.querySelector(".error");
    const button = form.querySelector("button[type=submit]");
    const body = form.dataset.items
      ? { items: JSON.parse(form.dataset.items) }
      : { subjects: acting, values: values(form) };
    button.disabled = true;
    try {
      await post(form.dataset.command, body);
      form.reset();
      form.closest("dialog").close();
      selected.clear();
      sync();
      lastRefresh = 0;
      refresh();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });

  // ---- wiring ---------------------------------------------------------------------
  // A filter left at "any" is no parameter at all: the URL holds only what is chosen.
  document.addEventListener("htmx:configRequest", function (e) {
    if (e.detail.verb !== "get") return;
    Array.from(e.detail.parameters.keys()).forEach(function (key) {
      if (e.detail.parameters.getAll(key).every(function (v) { return v === ""; })) {
        delete e.detail.parameters[key];
      }
    });
  });
  document.addEventListener("htmx:afterSettle", function (e) { localize(e.target); sync(); });
  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    sync();
    connect();
  });

  window.sitelog = { post: post, refresh: refresh, localize: localize, zone: zone };
})();
