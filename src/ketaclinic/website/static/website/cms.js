// Wagtail's admin starts its date pickers and inline panels from inline <script> tags,
// which /cms/'s Content-Security-Policy (script-src 'self') refuses. The templates in
// website/templates/wagtailadmin/ put the same calls' arguments in data attributes, and
// this file makes the calls, also for panels added to the page later.
(function () {
  "use strict";
  var choosers = { date: "initDateChooser", time: "initTimeChooser", datetime: "initDateTimeChooser" };

  function start(root) {
    root.querySelectorAll("[data-ketaclinic-chooser]:not([data-started])").forEach(function (el) {
      var init = window[choosers[el.dataset.ketaclinicChooser]];
      if (typeof init !== "function") return;
      el.dataset.started = "1";
      init(el.dataset.for, JSON.parse(el.dataset.config || "{}"));
    });
    root.querySelectorAll("[data-ketaclinic-panel]:not([data-started])").forEach(function (el) {
      var Panel = window[el.dataset.ketaclinicPanel];
      if (typeof Panel !== "function") return;
      el.dataset.started = "1";
      new Panel(JSON.parse(el.dataset.options));
    });
  }

  function ready() {
    start(document);
    new MutationObserver(function () { start(document); }).observe(document.body, {
      childList: true,
      subtree: true,
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
