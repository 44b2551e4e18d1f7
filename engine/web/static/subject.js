// The subject detail page's own behaviour beside console.js: the cancel/delete dialogs act
// on the one downtime or comment whose button opened them. Plain JavaScript, no build step.
(function () {
  "use strict";

  // A cancel or delete button carries its item (data-item, JSON); the dialog's form is sent
  // with it (console.js posts {"items": [...]} for a form with data-items).
  document.addEventListener("click", function (e) {
    const opener = e.target.closest && e.target.closest("button[data-item]");
    if (!opener) return;
    const dialog = document.getElementById("dialog-" + opener.dataset.dialog);
    if (!dialog) return;
    const form = dialog.querySelector("form");
    form.dataset.items = "[" + opener.dataset.item + "]";
    const row = opener.closest("tr");
    const what = dialog.querySelector(".what");
    if (what && row) {
      what.textContent = Array.from(row.cells).slice(0, -1)
        .map(function (c) { return c.textContent.replace(/\s+/g, " ").trim(); })
        .filter(Boolean).join(" · ");
    }
  }, true); // capture: the items are in place before console.js opens the dialog
})();
