// Back office behaviour: toasts sent by the server (HX-Trigger: {"toast": …}) and small conveniences.
(function () {
  "use strict";

  function showToast(message, level) {
    var template = document.getElementById("toast-template");
    var container = document.getElementById("toasts");
    if (!template || !container || !message) return;
    // The newest message replaces the ones still showing: a "please choose a carrier" must not linger
    // beside the "shipped" that followed it.
    container.querySelectorAll(".toast.show").forEach(function (old) {
      bootstrap.Toast.getOrCreateInstance(old).hide();
    });
    var node = template.content.firstElementChild.cloneNode(true);
    node.classList.add(level === "error" ? "text-bg-danger" : level === "warning" ? "text-bg-warning" : "text-bg-success");
    node.querySelector(".toast-body").textContent = message;
    container.appendChild(node);
    var toast = bootstrap.Toast.getOrCreateInstance(node, { delay: level === "error" ? 6000 : 3000 });
    node.addEventListener("hidden.bs.toast", function () { node.remove(); });
    toast.show();
  }

  document.addEventListener("toast", function (event) {
    var detail = event.detail || {};
    showToast(detail.message, detail.level);
  });

  // Network failures and server errors without a toast of their own still tell the merchant something.
  document.addEventListener("htmx:sendError", function () {
    showToast(document.body.dataset.msgNetwork, "error");
  });
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr.getResponseHeader("HX-Trigger")) {
      showToast(xhr.responseText && xhr.responseText.length < 200 ? xhr.responseText : xhr.status + "", "error");
    }
  });

  window.fenxiaoToast = showToast;

  // Something changed on the server (an htmx POST that succeeded): the sidebar badges fetch themselves
  // again (templates/admin/_nav.html listens for this event). Later, not inside htmx's own afterRequest
  // handling: issuing a request from there lost a form's queued request (hx-sync "queue last"), and a
  // burst of edits needs one refresh, not one each.
  // The server says so too (HX-Trigger "fenxiao:counts") after a button that changes a record, refused
  // ones included: someone else may have handled it first. Tabs with counts listen as the menu does.
  var navRefresh = null;
  function refreshCounts() {
    clearTimeout(navRefresh);
    navRefresh = setTimeout(function () { htmx.trigger(document.body, "fenxiao:changed"); }, 300);
  }
  document.addEventListener("fenxiao:counts", refreshCounts);
  document.addEventListener("htmx:afterRequest", function (event) {
    var config = event.detail.requestConfig;
    if (event.detail.successful && config && config.verb !== "get") refreshCounts();
  });

  // Bulk selection in a list: [data-select-all] ticks every [data-select-row] inside its [data-bulk-scope];
  // [data-bulk-action] buttons are enabled while something is selected.
  function refreshBulk(scope) {
    var rows = scope.querySelectorAll("[data-select-row]");
    var checked = scope.querySelectorAll("[data-select-row]:checked").length;
    scope.querySelectorAll("[data-select-all]").forEach(function (all) {
      all.checked = checked > 0 && checked === rows.length;
      all.indeterminate = checked > 0 && checked < rows.length;
    });
    scope.querySelectorAll("[data-bulk-action]").forEach(function (button) { button.disabled = checked === 0; });
    var counter = scope.querySelector("[data-selected-count]");
    if (counter && counter.dataset.msgSelected) {
      if (!counter.dataset.msgNone) counter.dataset.msgNone = counter.textContent;
      counter.textContent = checked ? counter.dataset.msgSelected.replace("{n}", checked) : counter.dataset.msgNone;
    }
  }

  document.addEventListener("change", function (event) {
    var scope = event.target.closest("[data-bulk-scope]");
    if (!scope) return;
    if (event.target.matches("[data-select-all]")) {
      scope.querySelectorAll("[data-select-row]").forEach(function (box) { box.checked = event.target.checked; });
    }
    if (event.target.matches("[data-select-all], [data-select-row]")) refreshBulk(scope);
  });

  // A row swapped by an inline edit comes back unticked: keep the counter honest.
  document.addEventListener("htmx:afterSwap", function (event) {
    var scope = event.detail.target && event.detail.target.closest && event.detail.target.closest("[data-bulk-scope]");
    if (scope) refreshBulk(scope);
  });

  // A row of tabs wider than the screen scrolls sideways: bring the current one into view.
  function showActiveTab() {
    document.querySelectorAll(".admin-main .nav .nav-link.active").forEach(function (tab) {
      var bar = tab.closest(".nav");
      if (bar.scrollWidth <= bar.clientWidth) return;
      var left = tab.offsetLeft - bar.offsetLeft;
      if (left + tab.offsetWidth > bar.clientWidth) bar.scrollLeft = left - 16;
    });
  }

  // On a phone a list marked .table-cards shows each row as a card (admin.css): each cell is labelled
  // with its column's header, here, so the templates name each column once. Rows that htmx swaps in
  // later are labelled as they arrive.
  function labelCells(root) {
    var tables = root.matches && root.matches("table.table-cards") ? [root] : [];
    if (root.querySelectorAll) tables = tables.concat(Array.prototype.slice.call(root.querySelectorAll("table.table-cards")));
    var inCard = root.closest && root.closest("table.table-cards");
    if (inCard && tables.indexOf(inCard) < 0) tables.push(inCard);
    tables.forEach(function (table) {
      var headers = [];
      table.querySelectorAll("thead tr:first-child > th").forEach(function (th) {
        var span = parseInt(th.getAttribute("colspan") || "1", 10);
        for (var i = 0; i < span; i++) headers.push(th.textContent.replace(/\s+/g, " ").trim());
      });
      table.querySelectorAll("tbody > tr").forEach(function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.children, function (cell) {
          if (!cell.hasAttribute("data-label") && !cell.hasAttribute("colspan")) cell.setAttribute("data-label", headers[column] || "");
          column += parseInt(cell.getAttribute("colspan") || "1", 10);
        });
      });
    });
  }
  document.addEventListener("htmx:load", function (event) { labelCells(event.target); });

  function ready() { showActiveTab(); labelCells(document); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();

  // Copy buttons (推广): data-copy-from names the input whose value is copied; the button says so.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-from]");
    if (!button) return;
    var input = document.getElementById(button.dataset.copyFrom);
    if (!input) return;
    input.focus();
    input.select();
    var done = function () { button.textContent = button.dataset.copied; };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done, function () {});
    else {
      try { if (document.execCommand("copy")) done(); } catch (e) { /* the text stays selected to copy by hand */ }
    }
  });
})();
