/* Import progress: while a data source imports, poll its API resource every 2 s
 * (GET /api/v1/data-sources/<id>/, the session cookie authenticates) and update the row or
 * the report; when an import ends, reload the page to show the full report.
 * Elements: [data-poll-url] containers with [data-field=status|progress|rows_imported|...].
 */
(function () {
  "use strict";

  var INTERVAL_MS = 2000;
  var ACTIVE = { pending: true, importing: true };
  var gettext = typeof window.gettext === "function" ? window.gettext : function (s) { return s; };
  var LABELS = { pending: gettext("Pending"), importing: gettext("Importing"), done: gettext("Done"),
    failed: gettext("Failed") };
  var numbers = new Intl.NumberFormat(document.documentElement.lang || "en");

  function update(container, source) {
    container.querySelectorAll("[data-field]").forEach(function (element) {
      var field = element.dataset.field;
      if (field === "status") {
        element.textContent = LABELS[source.status] || source.status;
        element.className = "badge " + source.status;
      } else if (field === "progress") {
        if (source.bytes_total > 0) {
          element.value = Math.min(100, Math.floor(source.bytes_processed * 100 / source.bytes_total));
        }
      } else if (Object.prototype.hasOwnProperty.call(source, field)) {
        element.textContent = numbers.format(Number(source[field]));
      }
    });
  }

  function poll(container) {
    var url = container.dataset.pollUrl;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 403 || response.status === 404) {
          return null;  // deleted, or no longer ours to see: stop polling
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (source) {
        if (source === null) { return; }
        update(container, source);
        if (ACTIVE[source.status]) {
          window.setTimeout(function () { poll(container); }, INTERVAL_MS);
        } else {
          window.location.reload();
        }
      })
      .catch(function () {
        // A hiccup (a restart, the network): try again later rather than give up.
        window.setTimeout(function () { poll(container); }, INTERVAL_MS * 2);
      });
  }

  function start() {
    document.querySelectorAll("[data-poll-url]").forEach(function (container) {
      window.setTimeout(function () { poll(container); }, INTERVAL_MS);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
