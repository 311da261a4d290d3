/* Draw the patient page's Plotly charts from their JSON (<script type="application/json">) and
   toggle the ANC axis between linear and log scale. No inline handlers: CSP-friendly. */
(function () {
  "use strict";
  var logScale = false;
  var config = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  function axisUpdate() {
    return { "yaxis.type": logScale ? "log" : "linear", "yaxis.autorange": true };
  }

  function draw(el) {
    if (el.dataset.drawn) return Promise.resolve();
    var spec = JSON.parse(document.getElementById(el.dataset.figure).textContent);
    spec.layout.yaxis.type = logScale ? "log" : "linear";
    el.dataset.drawn = "1";
    return Plotly.newPlot(el, spec.data, spec.layout, config).then(function () {
      el.classList.add("drawn");
    });
  }

  function drawVisible() {
    var charts = document.querySelectorAll(".nw-chart");
    var pending = [];
    charts.forEach(function (el) {
      if (!el.dataset.lazy) pending.push(draw(el));
    });
    return Promise.all(pending).then(function () {
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
      if (el.dataset.drawn) Plotly.relayout(el, axisUpdate());
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (typeof Plotly === "undefined") {
      document.querySelectorAll(".nw-chart").forEach(function (el) {
        el.textContent = "Charts could not load (plotly.js is missing from the static files).";
      });
      return;
    }
    drawVisible();
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
  });
})();
