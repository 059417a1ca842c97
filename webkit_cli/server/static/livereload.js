/* Live reload for `webkit run`: reloads this page when the project changes.
 *
 * Served from /__webkit/livereload.js (same origin, no inline code, so a strict
 * Content-Security-Policy holds). Listens to /__webkit/events (Server-Sent Events):
 *   hello  {"generation"}  the worker answering; a new one means new Python code
 *   reload {"paths"}       a template or static file changed
 *   css    {"paths"}       a stylesheet changed: swapped in place, no reload
 *
 * It also watches the page's own fetch() and XMLHttpRequest calls: a 5xx from this
 * origin shows an overlay with the error and a link to its traceback page (named by the
 * X-Webkit-Error header), so a failing JSON endpoint never goes unnoticed. The overlay
 * is built with DOM calls and CSSOM properties only: no inline style, no inline script.
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
  // The page events the worker had sent when this page was asked for (see version below).
  var version = src.searchParams.get("v");
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
    // Swap once the new sheet has loaded, so the page never shows unstyled. A swap may
    // finish before the one it followed (two saves in a row): the sheet that loads removes
    // every older copy it replaces, not only the one before it.
    fresh.webkitReplaces = link;
    fresh.addEventListener("load", function () {
      for (var old = link; old; old = old.webkitReplaces) {
        old.remove();
      }
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
      var data = JSON.parse(event.data);
      var next = data.generation;
      var now = data.version === undefined ? null : String(data.version);
      delay = 100;
      if (generation !== null && next !== generation && reloadForGeneration(next)) {
        return;
      }
      // Same worker, but it sent a page event this page never heard (sent while the page
      // was loading, between two streams): the page may be stale.
      if (
        next === generation &&
        version !== null &&
        now !== null &&
        now !== version &&
        reloadForGeneration(next + ":" + now)
      ) {
        return;
      }
      version = now;
      generation = next;
      status.state = "open";
      status.generation = next;
    });
    source.addEventListener("reload", reload);
    source.addEventListener("css", function (event) {
      var data = JSON.parse(event.data);
      if (data.version !== undefined) {
        version = String(data.version); // swapped in place: this page is current again
      }
      swapStylesheets(data.paths);
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

  // -- the overlay for failed fetch/XHR calls -------------------------------------------

  var overlay = null;
  var overlayList = null;
  var failures = [];
  status.failures = failures;

  function styled(tag, props) {
    var el = document.createElement(tag);
    Object.keys(props).forEach(function (key) {
      el.style[key] = props[key];
    });
    return el;
  }

  function ensureOverlay() {
    if (overlay !== null && overlay.isConnected) {
      return;
    }
    overlay = styled("div", {
      position: "fixed", left: "1rem", right: "1rem", bottom: "1rem", zIndex: "2147483647",
      maxHeight: "45vh", overflowY: "auto", background: "#1d1d1f", color: "#f5f5f7",
      border: "2px solid #ff6b6b", borderRadius: "10px", padding: ".75rem 1rem",
      font: "14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif",
      boxShadow: "0 10px 30px rgba(0,0,0,.35)"
    });
    overlay.setAttribute("data-webkit-overlay", "");
    overlay.setAttribute("role", "alert");
    var head = styled("div", { display: "flex", justifyContent: "space-between",
      alignItems: "center", gap: "1rem", marginBottom: ".25rem" });
    var title = styled("strong", { color: "#ff6b6b" });
    title.textContent = "A request from this page failed (webkit run)";
    var close = styled("button", { font: "inherit", background: "transparent",
      color: "inherit", border: "1px solid #6e6e73", borderRadius: "6px", cursor: "pointer" });
    close.type = "button";
    close.textContent = "Dismiss";
    close.addEventListener("click", function () {
      overlay.remove();
      overlay = null;
    });
    head.appendChild(title);
    head.appendChild(close);
    overlayList = styled("ul", { margin: "0", padding: "0 0 0 1.1rem" });
    overlay.appendChild(head);
    overlay.appendChild(overlayList);
    (document.body || document.documentElement).appendChild(overlay);
  }

  function reportFailure(method, url, statusCode, link, summary) {
    var target;
    try {
      target = new URL(url, location.href);
    } catch (err) {
      return;
    }
    if (target.origin !== location.origin || target.pathname.indexOf("/__webkit/") === 0) {
      return; // another server's error, or webkit's own URLs
    }
    var failure = { method: method, url: target.pathname + target.search,
      status: statusCode, link: link || null, summary: summary || "" };
    failures.push(failure);
    ensureOverlay();
    var item = styled("li", { margin: ".25rem 0" });
    var code = styled("code", { fontFamily: "ui-monospace, Menlo, Consolas, monospace" });
    code.textContent = failure.method + " " + failure.url + " \u2192 " + failure.status;
    item.appendChild(code);
    if (failure.summary) {
      var text = styled("div", { color: "#ffb4b4", wordBreak: "break-word" });
      text.textContent = failure.summary;
      item.appendChild(text);
    }
    if (failure.link) {
      var anchor = styled("a", { color: "#8ab4ff" });
      anchor.href = failure.link;
      anchor.target = "_blank";
      anchor.rel = "noopener";
      anchor.textContent = "Show the traceback";
      item.appendChild(anchor);
    }
    overlayList.appendChild(item);
  }

  if (typeof window.fetch === "function") {
    var originalFetch = window.fetch;
    window.fetch = function (input, init) {
      var method = (init && init.method) || (input && input.method) || "GET";
      var url = typeof input === "string" ? input : (input && input.url) || String(input);
      return originalFetch.apply(this, arguments).then(function (response) {
        if (response.status >= 500) {
          reportFailure(method.toUpperCase(), response.url || url, response.status,
            response.headers.get("X-Webkit-Error"),
            response.headers.get("X-Webkit-Error-Summary"));
        }
        return response;
      });
    };
  }

  if (typeof XMLHttpRequest === "function") {
    var originalOpen = XMLHttpRequest.prototype.open;
    XMLHttpRequest.prototype.open = function (method, url) {
      var xhr = this;
      xhr.addEventListener("loadend", function () {
        if (xhr.status >= 500) {
          reportFailure(String(method).toUpperCase(), xhr.responseURL || String(url),
            xhr.status, xhr.getResponseHeader("X-Webkit-Error"),
            xhr.getResponseHeader("X-Webkit-Error-Summary"));
        }
      });
      return originalOpen.apply(this, arguments);
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
