// "Copy link" buttons: copy the text of the element named by data-copy. Shown only where
// the clipboard is available (a secure page); otherwise the link is there to select.
(function () {
  "use strict";
  if (!navigator.clipboard) return;
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      const source = document.getElementById(button.dataset.copy);
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = "✓ Copied";
      });
    });
  });
})();
