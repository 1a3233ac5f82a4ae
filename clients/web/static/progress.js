// While a newsletter issue goes out: fetch the same page every few seconds and put its new
// figures in place of the old (a status region, read out politely), until the issue is done
// or refused. Without script, the page's link does the same; nothing reloads the page.
(function () {
  "use strict";
  var region = document.getElementById("progress");
  if (!region || region.getAttribute("data-final") === "yes") { return; }
  function ask() {
    fetch(window.location.pathname, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("progress");
        if (!fresh) { return; }
        region.innerHTML = fresh.innerHTML;
        if (fresh.getAttribute("data-final") !== "yes") { window.setTimeout(ask, 3000); }
      })
      .catch(function () { window.setTimeout(ask, 6000); });
  }
  window.setTimeout(ask, 3000);
}());
