/* Ward overview: the rows refresh every 30 s through htmx (hx-get on #ward-live). If the session has
   ended, the refresh gets the login page: load it as a page instead of swapping it into the rows. */
(function () {
  "use strict";
  document.addEventListener("htmx:beforeSwap", function (event) {
    var url = event.detail.xhr && event.detail.xhr.responseURL;
    if (url && url.indexOf("/accounts/login/") !== -1) {
      event.detail.shouldSwap = false;
      window.location.reload();
    }
  });
})();
