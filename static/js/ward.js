/* Ward overview: the rows refresh every 30 s through htmx (hx-get on #ward-live). If the session has
   ended, the refresh gets the login page: load it as a page instead of swapping it into the rows.
   The rows come in blocks that the browser skips drawing while off-screen (templatetags/ward.py); a
   new block starts at an estimated height, so each takes the height its predecessor had, and the
   rows in view stay where they were (those above the screen are not drawn to measure them). */
(function () {
  "use strict";
  var heights = [];
  var htmxSource = document.currentScript && document.currentScript.getAttribute("data-htmx");

  /* htmx only refreshes the rows (every 30 s, or in a second while a forecast is updating): it is
     fetched once the page has loaded, so that walking the page's elements does not hold up its load. */
  function loadHtmx() {
    if (!htmxSource || window.htmx) return;
    var script = document.createElement("script");
    script.src = htmxSource;
    document.head.appendChild(script);
  }
  if (document.readyState === "complete") loadHtmx();
  else window.addEventListener("load", loadHtmx);

  function blocks(target) {
    return target.querySelectorAll("tbody.ward-block");
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var url = event.detail.xhr && event.detail.xhr.responseURL;
    if (url && url.indexOf("/accounts/login/") !== -1) {
      event.detail.shouldSwap = false;
      window.location.reload();
      return;
    }
    var target = event.detail.target;
    if (target && target.id === "ward-live") {
      heights = Array.prototype.map.call(blocks(target), function (block) { return block.offsetHeight; });
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "ward-live") return;
    Array.prototype.forEach.call(blocks(target), function (block, i) {
      if (i > 0 && heights[i] > 0) block.style.containIntrinsicSize = "auto " + heights[i] + "px";
    });
  });
})();
