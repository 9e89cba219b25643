/* The meeting page's live parts, refreshed without a reload: every few seconds ask the server
   whether the meeting's live version moved (204 while it has not); when it has, fetch the page
   again and swap each [data-swap] part by id. A part being typed in is left alone. Polling
   stops once the meeting has ended. Without this script the page has a "refresh" link. */
(function () {
  var root = document.querySelector(".meeting[data-live]");
  if (!root || !window.fetch || !window.DOMParser) return;
  document.documentElement.className += " js";
  var url = root.getAttribute("data-live");
  var version = root.getAttribute("data-version");
  var busy = false;
  var timer = setInterval(check, 3000);

  function typing(part) {
    var active = document.activeElement;
    if (active && active !== document.body && part.contains(active) && active.form) return true;
    var fields = part.querySelectorAll("textarea, input[type=number], input:not([type])");
    for (var i = 0; i < fields.length; i++) if (fields[i].value !== fields[i].defaultValue) return true;
    return false;
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var next = fresh.querySelector(".meeting");
    if (!next) return;
    var parts = document.querySelectorAll("[data-swap]");
    for (var i = 0; i < parts.length; i++) {
      var old = parts[i], replacement = fresh.getElementById(old.id);
      if (replacement && !typing(old)) old.parentNode.replaceChild(document.importNode(replacement, true), old);
    }
    version = next.getAttribute("data-version");
    if (!next.hasAttribute("data-live")) clearInterval(timer);
  }

  function check() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(url + "?since=" + encodeURIComponent(version), {credentials: "same-origin"})
      .then(function (r) {
        if (r.status !== 200) return null;
        return fetch(location.pathname, {credentials: "same-origin"}).then(function (page) {
          return page.ok ? page.text() : null;
        });
      })
      .then(function (html) { if (html) swap(html); })
      .catch(function () {})
      .then(function () { busy = false; });
  }

  document.addEventListener("visibilitychange", check);
})();
