/* Sổ tay Đảng viên service worker: pages stay fresh from the network; the documents, bulletins
   and meetings a member opened are kept for reading offline; anything else offline gets the
   offline page. Signing out empties the kept pages (they are the member's own). */
'use strict';
var VERSION = '{{ version }}';
var SHELL = 'sotay-shell-' + VERSION;
var READ = 'sotay-read';
var KEPT = /^\/(documents\/[^/]+(\/read)?|bulletins\/[^/]+|meetings\/[^/]+)$/;

self.addEventListener('install', function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) {
    return cache.addAll(['{{ offline_url }}', '{{ css_url }}']);
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener('activate', function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf('sotay-shell-') === 0 && k !== SHELL; })
      .map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener('fetch', function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === 'POST' && url.pathname === '/logout') {
    event.waitUntil(caches.delete(READ));
    return;
  }
  if (request.method !== 'GET' || url.pathname.indexOf('/api/') === 0) return;
  if (url.pathname.indexOf('/static/') === 0) {
    event.respondWith(caches.match(request).then(function (hit) { return hit || fetch(request); }));
    return;
  }
  if (request.mode !== 'navigate') return;
  event.respondWith(fetch(request).then(function (response) {
    if (response.ok && !response.redirected && KEPT.test(url.pathname)) {
      var copy = response.clone();
      caches.open(READ).then(function (cache) { cache.put(url.pathname, copy); });
    }
    return response;
  }).catch(function () {
    return caches.match(url.pathname, { cacheName: READ }).then(function (hit) {
      return hit || caches.match('{{ offline_url }}');
    });
  }));
});

self.addEventListener('push', function (event) {
  var data = {};
  try { data = event.data ? event.data.json() : {}; } catch (e) { data = { title: event.data.text() }; }
  event.waitUntil(self.registration.showNotification(data.title || {{ app_name|tojson }}, {
    body: data.body || '', icon: '{{ icon_url }}', tag: data.id || undefined, data: { url: data.url || '/' }
  }));
});

self.addEventListener('notificationclick', function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || '/';
  event.waitUntil(self.clients.openWindow(url));
});
