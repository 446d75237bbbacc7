/* Small behaviours htmx does not cover. The Content-Security-Policy forbids inline scripts,
   so everything is here, bound by delegation so that it survives htmx swaps. */
(function () {
  "use strict";

  function boxes(name) {
    return document.querySelectorAll('input[type="checkbox"][name="' + name + '"]');
  }

  /* Bulk selection: "select all" boxes, the "N selected" counters and buttons needing one. */
  function refreshSelection() {
    document.querySelectorAll("[data-selected-count]").forEach(function (counter) {
      var name = counter.dataset.selectedCount;
      var count = Array.prototype.filter.call(boxes(name), function (b) { return b.checked; }).length;
      counter.textContent = count + " selected";
    });
    document.querySelectorAll("[data-needs-selection]").forEach(function (button) {
      var name = button.dataset.needsSelection;
      button.disabled = !Array.prototype.some.call(boxes(name), function (b) { return b.checked; });
    });
  }

  /* Cipher sets: ticking a suite gives it the next free position; unticking clears it. */
  function numberSuite(box) {
    var position = document.querySelector('input[name="suites-pos-' + box.value + '"]');
    if (!position) return;
    if (!box.checked) {
      position.value = "";
      return;
    }
    if (position.value) return;
    var highest = 0;
    document.querySelectorAll('input.pos').forEach(function (input) {
      var value = parseFloat(input.value);
      if (!isNaN(value) && value > highest) highest = value;
    });
    position.value = Math.floor(highest) + 1;
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLInputElement) || box.type !== "checkbox") return;
    if (box.dataset.selectAll) {
      boxes(box.dataset.selectAll).forEach(function (b) { b.checked = box.checked; });
    }
    if (box.name === "suites") numberSuite(box);
    refreshSelection();
  });
  document.addEventListener("DOMContentLoaded", refreshSelection);
  document.addEventListener("htmx:afterSettle", refreshSelection);

  /* The top bar's "More" menu (a <details>) closes on a click elsewhere and on Escape. */
  function closeMenus(except) {
    document.querySelectorAll("details.nav-more[open]").forEach(function (menu) {
      if (menu !== except) menu.open = false;
    });
  }
  document.addEventListener("click", function (event) {
    var target = event.target;
    closeMenus(target instanceof Element ? target.closest("details.nav-more") : null);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenus(null);
  });

  /* A boosted link or form answered with one of the portal's error pages (403 not allowed,
     404 not found, 429 signing in locked, 500 server error: whole pages) shows that page, as
     a plain page load would; htmx's responseHandling (base.html) would keep the old page and
     say nothing. Partial (non-boosted) requests keep their own error handling. */
  var ERROR_PAGES = [403, 404, 429, 500];
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    if (detail.boosted && ERROR_PAGES.indexOf(detail.xhr.status) >= 0) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });
})();
