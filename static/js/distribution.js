// Distributor pages: the withdrawal form shows the fields the chosen payout method needs and names the
// account field after it. The server checks everything again; without JavaScript every field shows.
(function () {
  "use strict";

  function setupWithdrawForm(form) {
    var accountCell = form.querySelector("[data-account-labels]");
    var labels = accountCell ? JSON.parse(accountCell.dataset.accountLabels) : {};
    var placeholders = accountCell ? JSON.parse(accountCell.dataset.accountPlaceholders) : {};
    var label = accountCell && accountCell.querySelector("label");
    var input = accountCell && accountCell.querySelector("input");

    function chosen() {
      var checked = form.querySelector("input[data-method]:checked");
      return checked ? checked.value : "";
    }

    function refresh() {
      var method = chosen();
      form.querySelectorAll(".dist-bank-only").forEach(function (el) { el.hidden = method !== "bank"; });
      if (label && labels[method]) label.textContent = labels[method];
      if (input && placeholders[method]) input.placeholder = placeholders[method];
      if (input) input.inputMode = method === "bank" ? "numeric" : "text";
    }

    form.addEventListener("change", function (event) {
      if (event.target.matches("input[data-method]")) refresh();
    });
    refresh();
  }

  document.querySelectorAll("form[data-withdraw-form]").forEach(setupWithdrawForm);
})();
