/* The what-if overlay (issue 23). The what-if table arrives after the page is drawn (htmx, from
   views/whatif.py) and carries each scenario's median and 80 % band in data-whatif-traces; this adds
   them to the current cycle's chart, hidden, and shows each while its box is ticked. htmx runs no
   script in what it swaps in, so this file listens for the swap instead. A fresh forecast swaps in a
   new chart (views/freshness.py): the overlay is added to it again, with the same boxes ticked.
   A click on an overlay's legend entry unticks its box. No inline code: CSP-friendly. */
(function () {
  "use strict";
  var overlay = null;   // {chart: DOM id, scenarios: [{key, label, traces}]}
  var shown = {};       // key -> ticked

  function chart() { return overlay && document.getElementById(overlay.chart); }

  function indicesOf(el, key) {
    var found = [];
    (el.data || []).forEach(function (trace, index) {
      if (key ? trace.meta === "whatif:" + key : String(trace.meta || "").indexOf("whatif:") === 0) found.push(index);
    });
    return found;
  }

  function attach() {
    var el = chart();
    if (!el || !el.classList.contains("drawn") || typeof Plotly === "undefined") return;
    if (el.dataset.whatif === overlay.made) return;
    el.dataset.whatif = overlay.made;
    var old = indicesOf(el);
    var ready = old.length ? Plotly.deleteTraces(el, old) : Promise.resolve();
    ready.then(function () {
      var traces = [];
      overlay.scenarios.forEach(function (scenario) {
        scenario.traces.forEach(function (trace) {
          traces.push(Object.assign({}, trace, { visible: !!shown[scenario.key] }));
        });
      });
      return Plotly.addTraces(el, traces);
    }).then(function () {
      el.dataset.whatifReady = "1";
      if (!el.dataset.whatifLegend && typeof el.on === "function") {
        el.dataset.whatifLegend = "1";
        el.on("plotly_legendclick", function (event) {
          var meta = String((event.data[event.curveNumber] || {}).meta || "");
          if (meta.indexOf("whatif:") !== 0) return true;
          var box = document.querySelector("input[data-whatif-toggle][value='" + meta.slice(7) + "']");
          if (box) { box.checked = false; toggle(meta.slice(7), false); }
          return false;
        });
      }
    });
  }

  function toggle(key, on) {
    shown[key] = on;
    var el = chart();
    if (!el || !el.data) return;
    var found = indicesOf(el, key);
    if (found.length) Plotly.restyle(el, { visible: on }, found);
  }

  function adopt(section) {
    if (section.dataset.whatifAdopted) return;
    section.dataset.whatifAdopted = "1";
    overlay = JSON.parse(section.dataset.whatifTraces);
    overlay.made = String(Date.now());
    section.querySelectorAll("input[data-whatif-toggle]").forEach(function (box) {
      box.checked = !!shown[box.value];
      box.addEventListener("change", function () { toggle(box.value, box.checked); });
    });
    attach();
  }

  function look() {
    var section = document.querySelector("#whatif[data-whatif-traces]");
    if (section && section.dataset.whatifTraces) adopt(section);
    if (overlay) attach();
  }

  document.addEventListener("htmx:afterSettle", look);
  // The chart may be drawn after the table arrives (charts.js draws when shown): watch for "drawn".
  function start() {
    new MutationObserver(function (changes) {
      if (!overlay) return;
      changes.forEach(function (change) { if (change.target.id === overlay.chart) attach(); });
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["class"] });
    look();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
