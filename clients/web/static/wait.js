// While a request is being decided: ask the same page again (the server waits for the
// outcome there), and show the outcome as soon as it comes. Without script, the page's
// link does the same.
(function () {
  "use strict";
  var pending = document.getElementById("pending");
  if (!pending) { return; }
  var tries = 0;
  function ask() {
    tries += 1;
    fetch(window.location.pathname, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status !== 202) { window.location.reload(); return; }
        if (tries < 30) { window.setTimeout(ask, 1000); }
      })
      .catch(function () { window.setTimeout(ask, 3000); });
  }
  window.setTimeout(ask, 500);
}());
