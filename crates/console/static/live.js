// Live parts of console pages, without a framework: an element with `data-live="URL"`
// is replaced every few seconds by the HTML fragment at URL, until a fragment comes
// back without `data-live` (nothing left to change). The fragment is server-rendered
// and escaped like any page; a redirect (the session ended) or an error stops it.
(function () {
  "use strict";
  var EVERY_MS = 2000;

  function follow(element) {
    var url = element.getAttribute("data-live");
    if (!url) return;
    setTimeout(function () {
      if (document.hidden) return follow(element);
      fetch(url, { credentials: "same-origin", redirect: "error", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.text();
        })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html;
          var fresh = holder.firstElementChild;
          if (!fresh || fresh.id !== element.id) return;
          element.replaceWith(fresh);
          follow(fresh);
        })
        .catch(function () { /* stop: the page still shows the last state */ });
    }, EVERY_MS);
  }

  document.querySelectorAll("[data-live]").forEach(follow);
})();
