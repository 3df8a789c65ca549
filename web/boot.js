// The error box when web/main.js itself cannot be loaded. A classic script, so it runs while
// the page is parsed, before the module's load fails (module scripts report after parsing);
// a file, because the page's Content-Security-Policy allows no inline script or handler.
document.getElementById("main_script").addEventListener("error", () => {
  window.lotteryLabError = "web/main.js could not be loaded";
  document.getElementById("loading").hidden = true;
  document.getElementById("error_text").textContent = window.lotteryLabError;
  document.getElementById("error").hidden = false;
});
