/* Live reload for `webkit run`: reloads this page when the project changes.
 *
 * Served from /__webkit/livereload.js (same origin, no inline code, so a strict
 * Content-Security-Policy holds). Listens to /__webkit/events (Server-Sent Events):
 *   hello  {"generation"}  the worker answering; a new one means new Python code
 *   reload {"paths"}       a template or static file changed
 *   css    {"paths"}       a stylesheet changed: swapped in place, no reload
 */
(function () {
  "use strict";
  if (window.__webkitLiveReload) {
    return; // the script was included twice: one connection is enough
  }
  // Visible state, for the curious (and for tests): "connecting", "open" or "retrying".
  var status = { state: "connecting", generation: null };
  window.__webkitLiveReload = status;

  var script = document.currentScript;
  var src = new URL(script ? script.src : "/__webkit/livereload.js", location.href);
  var eventsUrl = new URL("events", src).href;
  // The worker that served this page; meeting another one means the code changed since.
  var generation = src.searchParams.get("g");
  var GUARD_KEY = "webkit-livereload-generation";
  var source = null;
  var timer = null;
  var delay = 100;

  function reload() {
    if (source !== null) {
      source.close(); // closing first keeps browsers from logging an interrupted stream
      source = null;
    }
    location.reload();
  }

  // Reload at most once per worker generation, so a page the browser serves from its
  // cache (still naming an old generation) cannot loop.
  function reloadForGeneration(next) {
    try {
      if (sessionStorage.getItem(GUARD_KEY) === next) {
        return false;
      }
      sessionStorage.setItem(GUARD_KEY, next);
    } catch (err) {
      // storage disabled (sandboxed frame): reload without the guard
    }
    reload();
    return true;
  }

  function refreshStylesheet(link) {
    var url = new URL(link.href, location.href);
    if (url.origin !== location.origin) {
      return; // a CDN sheet did not change with the project
    }
    url.searchParams.set("webkit-reload", String(Date.now()));
    link.setAttribute("data-webkit-stale", ""); // being replaced: not refreshed again
    var fresh = link.cloneNode();
    fresh.removeAttribute("data-webkit-stale");
    fresh.removeAttribute("integrity"); // the hash names the old content
    fresh.href = url.href;
    // Swap once the new sheet has loaded, so the page never shows unstyled.
    fresh.addEventListener("load", function () {
      link.remove();
    });
    fresh.addEventListener("error", function () {
      fresh.remove();
      link.removeAttribute("data-webkit-stale");
    });
    link.after(fresh);
  }

  function swapStylesheets(paths) {
    var names = paths.map(function (path) {
      return path.split(/[\\/]/).pop();
    });
    var links = Array.prototype.slice.call(
      document.querySelectorAll('link[rel~="stylesheet"][href]:not([data-webkit-stale])')
    );
    var matching = links.filter(function (link) {
      var name = new URL(link.href, location.href).pathname.split("/").pop();
      return names.indexOf(name) !== -1;
    });
    // No direct match (an @import-ed partial, say): refresh every local sheet.
    (matching.length ? matching : links).forEach(refreshStylesheet);
  }

  function scheduleConnect() {
    if (timer === null) {
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 2000);
    }
  }

  function connect() {
    timer = null;
    if (source !== null) {
      return;
    }
    source = new EventSource(eventsUrl);
    source.addEventListener("hello", function (event) {
      var next = JSON.parse(event.data).generation;
      delay = 100;
      if (generation !== null && next !== generation && reloadForGeneration(next)) {
        return;
      }
      generation = next;
      status.state = "open";
      status.generation = next;
    });
    source.addEventListener("reload", reload);
    source.addEventListener("css", function (event) {
      swapStylesheets(JSON.parse(event.data).paths);
    });
    source.onerror = function () {
      // The stream ended: the worker is being replaced or the server stopped. Retry
      // quietly; the supervisor keeps the socket open, so the next connection waits for
      // the new worker instead of failing, and its hello decides whether to reload.
      if (source !== null) {
        source.close();
        source = null;
      }
      status.state = "retrying";
      scheduleConnect();
    };
  }

  window.addEventListener("pagehide", function () {
    if (source !== null) {
      source.close();
      source = null;
    }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      connect(); // back from the back/forward cache
    }
  });
  connect();
})();
