// The kiosk keeps what was entered when it cannot reach the web: a form marked data-resend is
// kept in this screen's storage before it is sent, and sent again every few seconds, with the
// same message id, until an answer comes (the services answer a repeated id with the first
// outcome and act once). A screen reloaded or restarted meanwhile sends what it kept. The page
// of a form the web could not pass on to Kafka (data-resend-now) sends it again by itself.
// Without script every form still works; only the resending by itself is lost.
(function () {
  "use strict";
  var KEY = "kiosk.unsent";
  var RETRY_MS = 3000;
  var status = document.getElementById("connection");

  function say(text) {
    if (!status) { return; }
    status.textContent = text || "";
    status.hidden = !text;
  }
  function kept() {
    try { return JSON.parse(window.localStorage.getItem(KEY) || "null"); } catch (e) { return null; }
  }
  function keep(entry) {
    try { window.localStorage.setItem(KEY, JSON.stringify(entry)); } catch (e) { /* full */ }
  }
  function forget() {
    try { window.localStorage.removeItem(KEY); } catch (e) { /* nothing kept */ }
  }
  function show(response) {
    forget();
    if (response.redirected) { window.location.assign(response.url); return; }
    response.text().then(function (html) {
      document.open();
      document.write(html);
      document.close();
    });
  }
  function send(entry) {
    say(status && status.getAttribute("data-sending"));
    fetch(entry.action, {
      method: "POST",
      body: new URLSearchParams(entry.fields),
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      if (response.status >= 502 && response.status <= 504) { throw new Error("away"); }
      show(response);
    }).catch(function () {
      say(status && status.getAttribute("data-offline"));
      window.setTimeout(function () { send(entry); }, RETRY_MS);
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-resend")) { return; }
    event.preventDefault();
    var fields = [];
    new FormData(form).forEach(function (value, name) { fields.push([name, String(value)]); });
    var button = event.submitter;
    if (button && button.name) { fields.push([button.name, button.value]); }
    var entry = { action: form.getAttribute("action"), fields: fields };
    keep(entry);
    send(entry);
  });

  var unsent = kept();
  if (unsent) {
    send(unsent);
  } else {
    var again = document.querySelector("form[data-resend-now]");
    if (again) {
      say(status && status.getAttribute("data-offline"));
      window.setTimeout(function () { again.requestSubmit(); }, RETRY_MS);
    }
  }

  // an outcome still pending: ask again (the server waits for it there)
  if (document.getElementById("pending")) {
    var look = function () {
      fetch(window.location.pathname, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (response.status !== 202) { window.location.reload(); return; }
          window.setTimeout(look, 1000);
        })
        .catch(function () {
          say(status && status.getAttribute("data-offline"));
          window.setTimeout(look, RETRY_MS);
        });
    };
    window.setTimeout(look, 500);
  }
}());
