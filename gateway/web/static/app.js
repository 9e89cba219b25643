/* Progressive enhancement only: every page works without this file. It registers the service
   worker that keeps the documents and bulletins a member opened for reading offline. */
if ('serviceWorker' in navigator) {
  window.addEventListener('load', function () {
    navigator.serviceWorker.register('/sw.js').catch(function () {});
  });
}

/* The settings page's "this device" button: subscribe to Web Push and hand the subscription to
   the gateway. Shown only where the browser can do it. */
(function () {
  var box = document.getElementById('push');
  if (!box || !('serviceWorker' in navigator) || !('PushManager' in window)) return;
  box.hidden = false;
  var state = document.getElementById('push-state');
  function key(b64) {
    var raw = atob((b64 + '==='.slice((b64.length + 3) % 4)).replace(/-/g, '+').replace(/_/g, '/'));
    return Uint8Array.from(raw, function (c) { return c.charCodeAt(0); });
  }
  document.getElementById('push-on').addEventListener('click', function () {
    navigator.serviceWorker.ready.then(function (reg) {
      return reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key(box.dataset.key) });
    }).then(function (sub) {
      var json = sub.toJSON();
      return fetch(box.dataset.endpoint, { method: 'POST', credentials: 'same-origin', body: new URLSearchParams({
        csrf_token: box.dataset.csrf, endpoint: json.endpoint, p256dh: json.keys.p256dh, auth: json.keys.auth }) });
    }).then(function (reply) {
      state.textContent = reply.ok ? box.dataset.done || 'OK' : reply.status;
    }).catch(function (err) { state.textContent = String(err && err.message || err); });
  });
})();
