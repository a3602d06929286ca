/* Charts of the analytics dashboards and the chat dashboard (Chart.js, vendored).
 *
 * The page passes its figures with Django's json_script: #dashboard-data (analytics.dashboards
 * .dashboard_data) or #sla-data (analytics.chat_dashboard.sla_series). Every
 * <canvas data-chart="name"> is drawn by the builder of that name. No eval, no inline script.
 */
(function () {
  "use strict";

  // Django's JavaScriptCatalog (loaded by base.html) defines window.gettext; English without it.
  var gettext = typeof window.gettext === "function" ? window.gettext : function (s) { return s; };
  var LANGUAGE = document.documentElement.lang || "en";
  var percentFormat = new Intl.NumberFormat(LANGUAGE, { maximumFractionDigits: 1 });

  var COLORS = {
    blue: "#2f6fed", green: "#1e8e3e", red: "#c0392b", amber: "#d68910", grey: "#98a2b3",
    purple: "#7c4dff", teal: "#00897b", pink: "#d81b60", brown: "#8d6e63", navy: "#1d2330",
    light: "#d0d5dd"
  };
  var PALETTE = [COLORS.blue, COLORS.teal, COLORS.amber, COLORS.purple, COLORS.red,
    COLORS.green, COLORS.pink, COLORS.brown, COLORS.navy, COLORS.grey, COLORS.light];
  var SENTIMENT_COLORS = { Positive: COLORS.green, Neutral: COLORS.grey, Negative: COLORS.red,
    Unknown: COLORS.light };
  // The series' names come from the server in English; people read them in their language.
  var SENTIMENT_LABELS = { Positive: gettext("Positive"), Neutral: gettext("Neutral"),
    Negative: gettext("Negative"), Unknown: gettext("Unknown") };

  // Days ("2026-12-03") on the axes, written as the reader's language writes dates.
  var dayFormat = new Intl.DateTimeFormat(LANGUAGE, { day: "2-digit", month: "2-digit", timeZone: "UTC" });
  function dayLabels(labels) {
    return labels.map(function (label) {
      // English pages keep ISO days, as the server writes them (routing_service/i18n/formats).
      if (LANGUAGE === "en" || !/^\d{4}-\d{2}-\d{2}$/.test(label)) { return label; }
      return dayFormat.format(new Date(label + "T00:00:00Z"));
    });
  }

  function readJSON(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function percent(value) {
    return value === null || value === undefined ? null : Math.round(value * 1000) / 10;
  }

  function base(extra) {
    var options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      locale: LANGUAGE,
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: { x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 12 } },
        y: { beginAtZero: true, ticks: { precision: 0 } } }
    };
    return Object.assign(options, extra || {});
  }

  function dataset(label, data, color, extra) {
    return Object.assign({ label: label, data: data, backgroundColor: color, borderColor: color,
      pointRadius: 0, borderWidth: 2, spanGaps: true }, extra || {});
  }

  function percentAxis() {
    return { beginAtZero: true, suggestedMax: 100, ticks: { callback: function (v) {
      return percentFormat.format(v) + " %";
    } } };
  }

  function breakdown(data, horizontal) {
    return {
      type: "bar",
      data: { labels: data.labels, datasets: [dataset(gettext("Sessions"), data.counts,
        PALETTE.slice(0, data.labels.length))] },
      options: (function () {
        var options = base({ indexAxis: horizontal ? "y" : "x", plugins: { legend: { display: false } } });
        options.scales.x.ticks.precision = 0;
        return options;
      })()
    };
  }

  var dashboardCharts = {
    sessions: function (d) {
      var s = d.series;
      return { type: "bar", data: { labels: dayLabels(s.labels), datasets: [
        dataset(gettext("Sessions"), s.sessions, COLORS.blue),
        dataset(gettext("Escalated"), s.escalated, COLORS.amber),
        dataset(gettext("Forwarded to HR"), s.forwarded_hr, COLORS.red)
      ] }, options: base() };
    },
    sentiment: function (d) {
      var s = d.series;
      var sets = Object.keys(s.sentiment).map(function (name) {
        return dataset(SENTIMENT_LABELS[name] || name, s.sentiment[name],
          SENTIMENT_COLORS[name] || COLORS.grey);
      });
      var options = base();
      options.scales.x.stacked = true;
      options.scales.y.stacked = true;
      return { type: "bar", data: { labels: dayLabels(s.labels), datasets: sets }, options: options };
    },
    rates: function (d) {
      var s = d.series;
      var options = base();
      options.scales.y = percentAxis();
      return { type: "line", data: { labels: dayLabels(s.labels), datasets: [
        dataset(gettext("Escalation rate"), s.escalation_rate.map(percent), COLORS.amber),
        dataset(gettext("HR-forward rate"), s.hr_rate.map(percent), COLORS.red)
      ] }, options: options };
    },
    response: function (d) {
      var s = d.series;
      var options = base();
      options.scales.y.title = { display: true, text: gettext("seconds") };
      return { type: "line", data: { labels: dayLabels(s.labels), datasets: [
        dataset(gettext("Average response time (s)"), s.avg_response_time, COLORS.purple)
      ] }, options: options };
    },
    tokens: function (d) {
      var s = d.series;
      var options = base();
      options.scales.y.title = { display: true, text: gettext("tokens") };
      options.scales.cost = { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
        title: { display: true, text: "EUR" } };
      return { type: "bar", data: { labels: dayLabels(s.labels), datasets: [
        dataset(gettext("Tokens"), s.tokens, COLORS.teal, { yAxisID: "y", order: 2 }),
        dataset(gettext("Cost (EUR)"), s.cost, COLORS.navy,
          { type: "line", yAxisID: "cost", order: 1 })
      ] }, options: options };
    },
    ratings: function (d) {
      var r = d.ratings;
      return { type: "bar", data: { labels: r.labels.map(function (l) { return l + " ★"; }),
        datasets: [dataset(gettext("Sessions"), r.counts,
          [COLORS.red, COLORS.amber, COLORS.grey, COLORS.teal, COLORS.green])] },
        options: base({ plugins: { legend: { display: false } } }) };
    },
    category: function (d) { return breakdown(d.category, true); },
    country: function (d) { return breakdown(d.country, false); },
    language: function (d) {
      var l = d.language;
      return { type: "doughnut", data: { labels: l.labels, datasets: [{ data: l.counts,
        backgroundColor: PALETTE.slice(0, l.labels.length) }] },
        options: { responsive: true, maintainAspectRatio: false, animation: false,
          plugins: { legend: { position: "right" } } } };
    }
  };

  var slaCharts = {
    compliance: function (d) {
      var options = base();
      options.scales.y = percentAxis();
      options.scales.chats = { position: "right", beginAtZero: true, ticks: { precision: 0 }, grid: { drawOnChartArea: false },
        title: { display: true, text: gettext("chats") } };
      return { type: "line", data: { labels: dayLabels(d.labels), datasets: [
        dataset(gettext("SLA compliance"), d.compliance.map(percent), COLORS.green,
          { yAxisID: "y", order: 1 }),
        dataset(gettext("Chats"), d.chats, COLORS.light, { type: "bar", yAxisID: "chats", order: 2 }),
        dataset(gettext("Missed"), d.sla_missed, COLORS.red,
          { type: "bar", yAxisID: "chats", order: 3 })
      ] }, options: options };
    },
    times: function (d) {
      function minutes(values) { return values.map(function (v) { return v === null ? null : Math.round(v / 6) / 10; }); }
      var options = base();
      options.scales.y.title = { display: true, text: gettext("minutes") };
      return { type: "line", data: { labels: dayLabels(d.labels), datasets: [
        dataset(gettext("First response, median"), minutes(d.first_response_median_seconds),
          COLORS.blue),
        dataset(gettext("First response, 90th percentile"), minutes(d.first_response_p90_seconds),
          COLORS.amber),
        dataset(gettext("Resolution, median"), minutes(d.resolution_median_seconds),
          COLORS.purple)
      ] }, options: options };
    }
  };

  function draw(builders, data) {
    var charts = [];
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var build = builders[canvas.dataset.chart];
      if (build) {
        charts.push(new window.Chart(canvas, build(data)));
      }
    });
    return charts;
  }

  function start() {
    if (!window.Chart) {
      return;
    }
    var dashboard = readJSON("dashboard-data");
    var sla = readJSON("sla-data");
    var drawn = [];
    if (dashboard) { drawn = drawn.concat(draw(dashboardCharts, dashboard)); }
    if (sla) { drawn = drawn.concat(draw(slaCharts, sla)); }
    document.documentElement.dataset.chartsDrawn = String(drawn.length);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
