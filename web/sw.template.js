// Lottery Lab's service worker: the page works offline, and each deployment replaces the last.
//
// `cargo xtask build` writes this file to dist/sw.js with BUILD_HASH, a hash of every file of
// the build, and FILES, their list. The cache is named after the hash, so a new build installs
// into a new cache and deletes the old one when it activates, instead of a stale page being
// served forever from a cache whose name never changes.
const CACHE = "lottery-lab-__BUILD_HASH__";
const FILES = __FILES__;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(FILES))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith("lottery-lab-") && name !== CACHE)
            .map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin) return;
  // Cache first (every file of this build is in CACHE), the network for anything else.
  event.respondWith(
    caches.match(request, { ignoreSearch: true }).then((hit) => hit ?? fetch(request)),
  );
});
