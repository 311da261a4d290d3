/* Keep the patient page's chart labels apart. The arrowed labels (observed and predicted nadir)
   are moved, after every draw and relayout, to the first of a few offsets around their point where
   their box meets no other label (grade bands, next-cycle threshold, today, fever) and stays inside
   the chart; the fixed labels never move, and a grade text under a point that meets one is hidden. A chart is taken up once charts.js has drawn it
   (class "drawn"), so charts.js needs no change. No inline code: CSP-friendly. */
(function () {
  "use strict";
  // Offsets (px) from the labelled point, tried in order: below, above, then further and aside.
  var OFFSETS = [[0, 36], [0, -38], [60, 36], [-60, 36], [60, -38], [-60, -38], [0, 66], [0, -68],
                 [90, 54], [-90, 54], [90, -56], [-90, -56], [0, 96], [0, -98]];
  var GAP = 2;

  function boxOf(el) {
    var r = (el.querySelector("rect.bg") || el).getBoundingClientRect();
    return { left: r.left - GAP, right: r.right + GAP, top: r.top - GAP, bottom: r.bottom + GAP };
  }

  function meets(a, b) {
    return Math.min(a.right, b.right) > Math.max(a.left, b.left) && Math.min(a.bottom, b.bottom) > Math.max(a.top, b.top);
  }

  function shifted(box, dx, dy) {
    return { left: box.left + dx, right: box.right + dx, top: box.top + dy, bottom: box.bottom + dy };
  }

  function inside(box, frame) {
    return box.left >= frame.left && box.right <= frame.right && box.top >= frame.top && box.bottom <= frame.bottom;
  }

  function declutter(el) {
    var notes = (el.layout && el.layout.annotations) || [];
    var fixed = [], movable = [];
    el.querySelectorAll("g.annotation").forEach(function (g) {
      var index = parseInt(g.getAttribute("data-index"), 10), note = notes[index];
      if (!note || !g.getBoundingClientRect().width) return;
      (note.showarrow ? movable : fixed).push({ index: index, note: note, box: boxOf(g) });
    });
    // Point texts: "Fever" is kept; a "G4" under a point is hidden where it would meet a label or
    // another text (the point's symbol and hover still say the grade).
    var texts = Array.prototype.slice.call(el.querySelectorAll("g.textpoint text")).filter(function (t) {
      t.style.visibility = "";
      return t.textContent.trim() && t.getBoundingClientRect().width;
    });
    texts.sort(function (a, b) { return (a.textContent === "Fever" ? 0 : 1) - (b.textContent === "Fever" ? 0 : 1); });
    texts.forEach(function (t) {
      var box = boxOf(t), taken = fixed.map(function (f) { return f.box; });
      if (t.textContent !== "Fever" && taken.some(function (p) { return meets(box, p); })) t.style.visibility = "hidden";
      else fixed.push({ box: box });
    });
    var frame = el.getBoundingClientRect(), placed = fixed.map(function (f) { return f.box; }), update = {};
    movable.forEach(function (item) {
      var ax = item.note.ax || 0, ay = item.note.ay || 0, best = null;
      var clear = function (box) { return inside(box, frame) && !placed.some(function (p) { return meets(box, p); }); };
      if (clear(item.box)) best = [ax, ay, item.box];
      for (var i = 0; !best && i < OFFSETS.length; i++) {
        var box = shifted(item.box, OFFSETS[i][0] - ax, OFFSETS[i][1] - ay);
        if (clear(box)) best = [OFFSETS[i][0], OFFSETS[i][1], box];
      }
      if (!best) best = [ax, ay, item.box];  // nowhere free: leave it, the test will say so
      placed.push(best[2]);
      if (best[0] !== ax || best[1] !== ay) {
        update["annotations[" + item.index + "].ax"] = best[0];
        update["annotations[" + item.index + "].ay"] = best[1];
      }
    });
    if (Object.keys(update).length) return window.Plotly.relayout(el, update);
    el.dataset.labelsClear = "1";
    return null;
  }

  function adopt(el) {
    if (el.dataset.labelsWatched || !el.classList.contains("drawn") || typeof el.on !== "function") return;
    el.dataset.labelsWatched = "1";
    // A relayout (log scale, resize) puts the labels back where the figure had them: sort again.
    el.on("plotly_afterplot", function () { delete el.dataset.labelsClear; declutter(el); });
    declutter(el);
  }

  function start() {
    var charts = document.querySelectorAll(".nw-chart");
    var observer = new MutationObserver(function (changes) {
      changes.forEach(function (change) { adopt(change.target); });
    });
    charts.forEach(function (el) {
      observer.observe(el, { attributes: true, attributeFilter: ["class"] });
      adopt(el);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
