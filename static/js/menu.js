/* The main menu folds behind a "Menu" button on narrow screens (CSS shows the button there only).
   An alert's details start folded on a phone, so the first screen holds the header, the most urgent
   alert and the chart (not a refused acknowledgement's, nor those of the alert the address names). An error page's "Go back" goes back. No inline handlers: CSP-friendly. */
(function () {
  "use strict";
  var NARROW = "(max-width: 900px)";
  var PHONE = "(max-width: 600px)";

  function start() {
    var button = document.querySelector(".menu-toggle");
    var bar = document.querySelector(".topbar");
    if (button && bar) {
      button.addEventListener("click", function () {
        var open = bar.classList.toggle("menu-open");
        button.setAttribute("aria-expanded", open ? "true" : "false");
      });
    }
    if (window.matchMedia && window.matchMedia(PHONE).matches) {
      // Not folded: a refused acknowledgement (what was typed, under its error), nor the alert a link
      // such as the ward's "Record antibiotic time" led to (#alert-N).
      var target = window.location.hash ? document.getElementById(window.location.hash.slice(1)) : null;
      document.querySelectorAll("details.alert-details[open]").forEach(function (d) {
        if (d.hasAttribute("data-keep-open") || (target && target.contains(d))) return;
        d.open = false;
      });
    }
    if (window.matchMedia && !window.matchMedia(NARROW).matches && bar) bar.classList.remove("menu-open");
    // "Go back" on an error page: the previous page (a javascript: link is blocked by the CSP);
    // opened on its own, the link's own address (the ward).
    document.querySelectorAll("a[data-go-back]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        if (window.history.length > 1) {
          event.preventDefault();
          window.history.back();
        }
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
