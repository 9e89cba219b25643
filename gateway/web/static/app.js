/* Progressive enhancement only: every page works without this file. It registers the service
   worker that keeps the documents and bulletins a member opened for reading offline. */
if ('serviceWorker' in navigator) {
  window.addEventListener('load', function () {
    navigator.serviceWorker.register('/sw.js').catch(function () {});
  });
}
