/* Draw the patient page's Plotly charts from their JSON (<script type="application/json">), only
   when they are shown (on screen, or their <details> opened), and toggle the ANC axis between linear
   and log scale. No inline handlers: CSP-friendly. The figures carry their linear and log ranges and
   log ticks in layout.meta (monitoring/charts.py). */
(function () {
  "use strict";
  var logScale = false;
  var NARROW_PX = 600;
  // showSendToCloud: Plotly 4 otherwise offers "Share chart...", which sends the patient's chart to Plotly Cloud.
  var config = { responsive: true, displaylogo: false, showSendToCloud: false,
                 modeBarButtonsToRemove: ["select2d", "lasso2d"] };
  var specs = {};

  function log10(value) { return Math.log(Math.max(value, 1e-6)) / Math.LN10; }

  // Plotly places annotations on a log axis by log10 of their y; grade-band labels also move to the
  // geometric middle of their band ("band:<linear middle>:<log middle>" in their name).
  function annotationsFor(spec) {
    return (spec.layout.annotations || []).map(function (note) {
      if (note.yref !== "y") return note;
      var copy = Object.assign({}, note);
      var band = (note.name || "").split(":");
      if (band[0] === "band") copy.y = logScale ? log10(parseFloat(band[2])) : parseFloat(band[1]);
      else if (logScale) copy.y = log10(note.y);
      return copy;
    });
  }

  function scaleUpdate(spec) {
    var meta = spec.layout.meta || {};
    if (logScale) {
      return {
        "yaxis.type": "log", "yaxis.range": meta.log_range, "yaxis.autorange": !meta.log_range,
        "yaxis.tickmode": "array", "yaxis.tickvals": meta.log_ticks,
        "yaxis.ticktext": (meta.log_ticks || []).map(String), "annotations": annotationsFor(spec)
      };
    }
    return {
      "yaxis.type": "linear", "yaxis.range": meta.linear_range, "yaxis.autorange": !meta.linear_range,
      "yaxis.tickmode": "auto", "yaxis.tickvals": null, "yaxis.ticktext": null, "annotations": annotationsFor(spec)
    };
  }

  function applyTo(layout, update) {
    Object.keys(update).forEach(function (path) {
      var parts = path.split("."), target = layout;
      for (var i = 0; i < parts.length - 1; i++) target = target[parts[i]] = target[parts[i]] || {};
      target[parts[parts.length - 1]] = update[path];
    });
  }

  function draw(el) {
    if (el.dataset.drawn) return Promise.resolve();
    el.dataset.drawn = "1";
    var source = document.getElementById(el.dataset.figure);
    var spec = JSON.parse(source ? source.textContent : el.dataset.figureJson);
    specs[el.id] = spec;
    var layout = JSON.parse(JSON.stringify(spec.layout));
    applyTo(layout, scaleUpdate(spec));
    // Day-of-cycle axes: a tick every day is too dense on a phone, so every week there.
    if (el.clientWidth < NARROW_PX && layout.xaxis.tickmode === "linear") layout.xaxis.dtick = 7;
    if (el.clientWidth < NARROW_PX) {
      layout.margin = Object.assign({}, layout.margin, { l: 44, r: 6 });
      layout.title = Object.assign({}, layout.title, { text: (layout.meta || {}).short_title || layout.title.text });
      layout.legend = Object.assign({}, layout.legend, { y: -0.2, font: { size: 10 } });
    }
    return Plotly.newPlot(el, spec.data, layout, config).then(function () {
      el.classList.add("drawn");
    });
  }

  function isOnScreen(el) {
    var box = el.getBoundingClientRect();
    return box.width > 0 && box.top < window.innerHeight && box.bottom > 0;
  }

  // Charts on the first screen are drawn at once; the rest when scrolled near, or when opened.
  function drawShown() {
    var charts = Array.prototype.slice.call(document.querySelectorAll(".nw-chart"));
    var first = charts.filter(function (el) { return !el.dataset.lazy && isOnScreen(el); });
    var later = charts.filter(function (el) { return !el.dataset.lazy && first.indexOf(el) < 0; });
    if ("IntersectionObserver" in window) {
      var observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (entry.isIntersecting) { observer.unobserve(entry.target); draw(entry.target); }
        });
      }, { rootMargin: "200px 0px" });
      later.forEach(function (el) { observer.observe(el); });
    } else {
      first = first.concat(later);
    }
    // The current cycle's chart (the first in the page) is drawn before anything else and shown at
    // once; the other charts on the first screen follow after the next frame is painted.
    var rest = first.slice(1);
    return (first.length ? draw(first[0]) : Promise.resolve()).then(function () {
      if (window.performance && performance.mark) performance.mark("nw-charts-ready");
      return new Promise(function (resolve) {
        window.requestAnimationFrame(function () { setTimeout(resolve, 0); });
      });
    }).then(function () {
      return Promise.all(rest.map(draw));
    }).then(function () {
      document.body.dataset.chartsReady = "1";
    });
  }

  function setLogScale(on) {
    logScale = on;
    var button = document.getElementById("log-toggle");
    if (button) {
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = on ? "Log scale: on" : "Log scale: off";
    }
    document.querySelectorAll(".nw-chart").forEach(function (el) {
      if (el.dataset.drawn && specs[el.id]) Plotly.relayout(el, scaleUpdate(specs[el.id]));
    });
  }

  function start() {
    if (window.performance && performance.mark) performance.mark("nw-charts-start");
    if (typeof Plotly === "undefined") {
      document.querySelectorAll(".nw-chart").forEach(function (el) {
        el.textContent = "Charts could not load (plotly.js is missing from the static files).";
      });
      return;
    }
    drawShown();
    var button = document.getElementById("log-toggle");
    if (button) {
      button.addEventListener("click", function () { setLogScale(!logScale); });
    }
    document.querySelectorAll("details.earlier-cycle").forEach(function (details) {
      details.addEventListener("toggle", function () {
        var el = details.querySelector(".nw-chart");
        if (details.open && el) draw(el);
      });
    });
  }

  // A fresh forecast swapped in by htmx (views/freshness.py) brings new charts (the first one, the
  // timeline and the overlay): draw them, in the scale the nurse chose.
  document.addEventListener("htmx:afterSettle", function () {
    if (typeof Plotly === "undefined") return;
    document.querySelectorAll("#first-chart .nw-chart, #overview-charts .nw-chart").forEach(function (el) {
      if (el.dataset.drawn) return;
      draw(el).then(function () { if (logScale) Plotly.relayout(el, scaleUpdate(specs[el.id])); });
    });
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
