// Starts the app on the canvas and sets up the page's test interface, window.lotteryLab:
//   status()      the app's state (JSON.parse of WebHandle.status())
//   run(request)  start an experiment: {preset, config, backend}
// window.lotteryLabReady is true once the app runs; window.lotteryLabError holds why not.
const loading = document.getElementById("loading");

function showError(message) {
  const text = String(message);
  console.error("Lottery Lab:", text);
  window.lotteryLabError = text;
  loading.hidden = true;
  document.getElementById("error_text").textContent = text;
  document.getElementById("error").hidden = false;
}

function describe(error) {
  if (error instanceof Error) return error.stack || `${error.name}: ${error.message}`;
  return typeof error === "string" ? error : JSON.stringify(error) ?? String(error);
}

async function main() {
  let WebHandle;
  try {
    // Imported here rather than at the top so that a missing or broken module still ends in
    // the error box rather than a page stuck on "Loading".
    const bindings = await import("../pkg/lottery_lab.js");
    await bindings.default();
    WebHandle = bindings.WebHandle;
  } catch (e) {
    showError(`The WebAssembly module could not be loaded.\n\n${describe(e)}`);
    return;
  }
  const canvas = document.getElementById("the_canvas_id");
  let handle;
  try {
    handle = new WebHandle();
    await handle.start(canvas);
  } catch (e) {
    showError(`The app failed to start.\n\n${describe(e)}`);
    return;
  }
  loading.hidden = true;

  window.lotteryLab = {
    status: () => JSON.parse(handle.status()),
    run: (request) => handle.run(JSON.stringify(request ?? {})),
    handle,
  };
  window.lotteryLabReady = true;

  // Offline use: the service worker caches this build (dist/sw.js, written by the build).
  // Failing to register loses only offline use, so it is reported, not fatal.
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("sw.js").then(
      (registration) => (window.lotteryLabServiceWorker = registration.scope),
      (e) => console.warn("Lottery Lab: no offline use:", e),
    );
  }

  const watch = setInterval(() => {
    if (handle.has_panicked()) {
      clearInterval(watch);
      window.lotteryLabReady = false;
      const message = handle.panic_message() ?? "unknown panic";
      showError(`The app crashed.\n\n${message}`);
    }
  }, 1000);
}

main().catch((e) => showError(describe(e)));
