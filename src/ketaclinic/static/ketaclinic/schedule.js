// The schedule's dialog (book, move) and drag-to-move. Without this file every link and
// form still works as a page of its own; with it they open over the board.
(function () {
  "use strict";
  const dialog = () => document.getElementById("schedule-dialog");
  const source = () => document.querySelector(".schedule-page");

  function openInDialog(verb, url, values) {
    const box = dialog();
    if (!box || !window.htmx) return false;
    htmx
      .ajax(verb, url, { source: source(), target: "#schedule-dialog-body", swap: "innerHTML", values: values || {} })
      .then(function () {
        if (!box.open) box.showModal();
        const first = box.querySelector("[autofocus], input[type=search], select, input:not([type=hidden]), button:not(.default-submit)");
        if (first) first.focus();
      });
    return true;
  }

  // Links marked data-dialog (a slot, "Book an appointment", "Move") open in the dialog.
  document.addEventListener("click", function (event) {
    const link = event.target.closest("a[data-dialog]");
    if (link && openInDialog("GET", link.href)) {
      event.preventDefault();
      return;
    }
    if (event.target.closest("[data-close-dialog]")) {
      const box = dialog();
      if (box && box.open) box.close();
    }
  });

  // The kind of appointment fills in its usual length and a room of the right kind.
  document.addEventListener("change", function (event) {
    const kind = event.target.closest("[data-kind-select]");
    if (!kind) return;
    const form = kind.form;
    const option = kind.selectedOptions[0];
    const minutes = form.querySelector("[name=minutes]");
    if (minutes) minutes.value = option.dataset.minutes || "";
    const room = form.querySelector("select[name=room]");
    const wanted = option.dataset.roomKind;
    if (room && room.selectedOptions[0] && room.selectedOptions[0].dataset.roomKind !== wanted) {
      const fit = Array.from(room.options).find(function (o) { return o.dataset.roomKind === wanted; });
      if (fit) room.value = fit.value;
    }
    showCourse(form);
  });

  // Any change in the booking form asks the server whether the slot is free (a check
  // writes nothing). Delegated from the document rather than an hx-trigger on the form:
  // htmx wires a swapped-in form's triggers only when it settles, and a change made in
  // that moment (a quick hand, a busy tablet) would otherwise never be checked.
  document.addEventListener("change", function (event) {
    const form = event.target.closest && event.target.closest("#book-form");
    if (!form || !window.htmx) return;
    htmx.ajax("POST", form.getAttribute("hx-post"), {
      source: form, target: "#book-conflicts", select: "#book-conflicts", swap: "outerHTML",
      values: { action: "check" },
    });
  });

  // Typing in the booking form's patient search lists the matches after a short pause.
  // Delegated for the same reason as the check above: a field swapped in a moment ago
  // has no htmx trigger yet, and the first letters typed would find nothing.
  let searchTimer = null;
  function searchPatients(event, delay) {
    const field = event.target.closest && event.target.closest("#book-q");
    if (!field || !window.htmx) return;
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () {
      htmx.ajax("POST", field.form.getAttribute("hx-post"), {
        source: field.form, target: "#book-results", select: "#book-results", swap: "outerHTML",
        values: { action: "search" },
      });
    }, delay);
  }
  document.addEventListener("input", function (event) { searchPatients(event, 300); });
  document.addEventListener("search", function (event) { searchPatients(event, 0); }, true);

  function showCourse(form) {
    const field = form && form.querySelector("[data-course-field]");
    const kind = form && form.querySelector("[data-kind-select]");
    if (field && kind) field.hidden = kind.value !== "treatment";
  }

  document.addEventListener("htmx:afterSwap", function () {
    showCourse(document.getElementById("book-form"));
  });
  document.addEventListener("DOMContentLoaded", function () {
    showCourse(document.getElementById("book-form"));
  });

  // Drag a booked card onto a free slot (day board) or another day (week): the move is
  // posted to the same form as the Move dialog, and its answer (moved, or why not) shows
  // in the dialog.
  let dragged = null;
  document.addEventListener("dragstart", function (event) {
    const card = event.target.closest && event.target.closest("[data-move-url]");
    if (!card) return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.moveUrl);
  });
  document.addEventListener("dragend", function () {
    dragged = null;
    document.querySelectorAll(".drop-over").forEach(function (el) { el.classList.remove("drop-over"); });
  });
  function target(event) {
    return dragged && event.target.closest && event.target.closest("td.slot, section[data-day]");
  }
  document.addEventListener("dragover", function (event) {
    const over = target(event);
    if (!over) return;
    event.preventDefault();
    document.querySelectorAll(".drop-over").forEach(function (el) { if (el !== over) el.classList.remove("drop-over"); });
    over.classList.add("drop-over");
  });
  document.addEventListener("drop", function (event) {
    const over = target(event);
    if (!over) return;
    event.preventDefault();
    over.classList.remove("drop-over");
    openInDialog("POST", dragged.dataset.moveUrl, {
      day: over.dataset.day,
      start_time: over.dataset.time || dragged.dataset.time,
      room: over.dataset.room || dragged.dataset.room,
      staff: dragged.dataset.staff,
    });
  });
})();
