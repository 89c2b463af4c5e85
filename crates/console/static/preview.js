// The template page's live preview: as the text or the sample values change, the
// server renders the preview again (GET, nothing stored) and it replaces #preview.
// Without JavaScript the preview shows the text as saved.
(function () {
  "use strict";
  var body = document.querySelector("textarea[data-preview]");
  var samples = document.getElementById("samples");
  if (!body) return;
  var url = body.getAttribute("data-preview");
  var timer = null;
  var asked = 0;

  function refresh() {
    var ticket = ++asked;
    var query = "body=" + encodeURIComponent(body.value) +
      "&samples=" + encodeURIComponent(samples ? samples.value : "");
    fetch(url + "?" + query, { credentials: "same-origin", redirect: "error" })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.text();
      })
      .then(function (html) {
        if (ticket !== asked) return; // an answer to an older text
        var current = document.getElementById("preview");
        var holder = document.createElement("div");
        holder.innerHTML = html;
        if (current && holder.firstElementChild) current.replaceWith(holder.firstElementChild);
      })
      .catch(function () { /* the last preview stays */ });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }

  body.addEventListener("input", later);
  if (samples) samples.addEventListener("input", later);
})();
