// The page's saved experiment, kept in IndexedDB so that a reload picks it up again.
// (localStorage holds about 5 MB of text; a record with its weights is often more.)
// Imported by the wasm module (src/web.rs); every function returns a promise.
const DB_NAME = "lottery-lab";
const STORE = "saved";

let opening = null;

function database() {
  opening ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opening;
}

async function transaction(mode, body) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = body(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("the transaction was aborted"));
  });
}

export function store_put(key, value) {
  return transaction("readwrite", (store) => store.put(value, key));
}

// `value` is a view into the wasm module's memory, valid only during this call: copied out
// now (not when the database is open, by which time the memory holds other things), and so
// that IndexedDB does not clone the whole memory behind the view.
export function store_put_bytes(key, value) {
  const bytes = value.slice();
  return transaction("readwrite", (store) => store.put(bytes, key));
}

export function store_get(key) {
  return transaction("readonly", (store) => store.get(key));
}

export function store_clear() {
  return transaction("readwrite", (store) => store.clear());
}
