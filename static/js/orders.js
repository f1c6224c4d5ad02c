// Cart, checkout, payment and order pages: confirm dialogs, countdowns, copy buttons, steppers, one order
// per tap, and the product page's buy buttons. Every page works without it; this only makes them nicer.
(function () {
  "use strict";

  function text(name, fallback) {
    var meta = document.querySelector("meta[name='orders-text']");
    return (meta && meta.dataset[name]) || fallback;
  }

  function toast(message) {
    if (window.fenxiaoToast) window.fenxiaoToast(message);
  }

  // A WeUI dialog instead of window.confirm (which WeChat titles with the page's address).
  function confirmDialog(message, okLabel, cancelLabel, onOk) {
    var wrap = document.createElement("div");
    wrap.className = "confirm-dialog";
    wrap.innerHTML =
      '<div class="weui-mask"></div>' +
      '<div class="weui-dialog" role="alertdialog" aria-modal="true">' +
      '<div class="weui-dialog__bd"></div>' +
      '<div class="weui-dialog__ft">' +
      '<button type="button" class="weui-dialog__btn weui-dialog__btn_default" data-answer="no"></button>' +
      '<button type="button" class="weui-dialog__btn weui-dialog__btn_primary" data-answer="yes"></button>' +
      "</div></div>";
    wrap.querySelector(".weui-dialog__bd").textContent = message;
    wrap.querySelector("[data-answer=no]").textContent = cancelLabel || text("cancel", "Cancel");
    wrap.querySelector("[data-answer=yes]").textContent = okLabel || text("ok", "OK");
    var previous = document.activeElement;
    function close() {
      wrap.remove();
      document.removeEventListener("keydown", onKey);
      if (previous && previous.focus) previous.focus();
    }
    function onKey(event) { if (event.key === "Escape") close(); }
    wrap.addEventListener("click", function (event) {
      var answer = event.target.closest("[data-answer]");
      if (event.target.classList.contains("weui-mask")) close();
      if (!answer) return;
      close();
      if (answer.dataset.answer === "yes") onOk();
    });
    document.addEventListener("keydown", onKey);
    document.body.appendChild(wrap);
    wrap.querySelector("[data-answer=yes]").focus();
  }

  // Forms with data-confirm ask first (cancel an order, delete an address, "I have paid").
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-confirm]") || form.dataset.confirmed === "1") return;
    event.preventDefault();
    var submitter = event.submitter;
    confirmDialog(form.dataset.confirm, form.dataset.confirmOk, form.dataset.confirmCancel, function () {
      form.dataset.confirmed = "1";
      if (form.requestSubmit) form.requestSubmit(submitter || undefined); else form.submit();
    });
  }, true);

  // One submit per tap: the server makes a double tap one order anyway (idempotency key); this spares
  // the shopper a second wait and shows that something is happening.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.matches("form[data-submit-once]")) return;
    if (form.dataset.submitting === "1") { event.preventDefault(); return; }
    form.dataset.submitting = "1";
    var button = event.submitter || form.querySelector("button[type=submit]");
    if (!button) return;
    button.dataset.label = button.textContent;
    if (button.dataset.busyText) button.textContent = button.dataset.busyText;
    setTimeout(function () { button.disabled = true; }, 0);  // after the browser has read the form
  });
  // Coming back with the back button shows the page as it was left: make its buttons usable again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-submitting='1']").forEach(function (form) {
      form.dataset.submitting = "";
      form.dataset.confirmed = "";
      form.querySelectorAll("button[data-label]").forEach(function (button) {
        button.disabled = false;
        button.textContent = button.dataset.label;
      });
    });
  });

  // Time left to pay, mm:ss (or an activity's hh:mm:ss); when it runs out the page reloads and the server
  // shows the new state.
  var COUNTDOWNS = "[data-countdown], [data-countdown-end]";

  function setupCountdown(el) {
    if (el.dataset.ticking) return;
    el.dataset.ticking = "1";
    // Seconds left: given as such, or as the end and the server's time now (a kept page, app/page_cache.py),
    // so a phone whose clock is wrong still counts right.
    var seconds = "countdownEnd" in el.dataset
      ? Number(el.dataset.countdownEnd) - Number(el.dataset.serverNow)
      : Number(el.dataset.countdown);
    var end = Date.now() + seconds * 1000;
    function pad(n) { return n < 10 ? "0" + n : String(n); }
    var long = "countdownLong" in el.dataset; // an activity: hours (and days) too
    function tick() {
      var left = Math.max(0, Math.round((end - Date.now()) / 1000));
      if (long) {
        var days = Math.floor(left / 86400), rest = left % 86400;
        el.textContent = (days ? days + (el.dataset.dayWord || "d") + " " : "") + pad(Math.floor(rest / 3600)) + ":" + pad(Math.floor(rest % 3600 / 60)) + ":" + pad(rest % 60);
      } else {
        el.textContent = pad(Math.floor(left / 60)) + ":" + pad(left % 60);
      }
      if (left <= 0) {
        clearInterval(timer);
        setTimeout(function () { location.reload(); }, 1500);
      }
    }
    var timer = setInterval(tick, 1000);
    tick();
  }

  // Copy buttons: the amount and order number for a transfer, the tracking number.
  function copy(value) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(value);
    var area = document.createElement("textarea");
    area.value = value;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    area.setSelectionRange(0, value.length);
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error("copy"));
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    copy(button.dataset.copy).then(
      function () { toast(button.dataset.copied || text("copied", "Copied")); },
      function () { toast(text("copyFailed", "Long-press to copy")); }
    );
  });

  // Steppers whose buttons work here (refund units, quantity on the product page); the cart's post instead.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-step]");
    if (!button) return;
    var input = button.closest("[data-stepper]").querySelector("input");
    var min = Number(input.min || 0), max = Number(input.max || 999);
    var value = Math.min(max, Math.max(min, (parseInt(input.value, 10) || 0) + Number(button.dataset.step)));
    if (String(value) === input.value) return;
    input.value = value;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("[data-stepper] input")) return;
    var stepper = input.closest("[data-stepper]");
    var value = parseInt(input.value, 10);
    stepper.querySelectorAll("[data-step]").forEach(function (button) {
      var step = Number(button.dataset.step);
      button.disabled = step < 0 ? value <= Number(input.min || 0) : value >= Number(input.max || 999);
    });
  });
  // Enter in a quantity field applies it (htmx sends it on change) instead of submitting the whole form.
  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (event.key !== "Enter" || !input.matches || !input.matches("[data-stepper] input[hx-post]")) return;
    event.preventDefault();
    input.blur();
  });

  // Product page: the SKU picker (shop.js) says which SKU is chosen; the buy form follows it.
  function setupBuyForm(form) {
    var skuInput = form.querySelector("[data-buy-sku]");
    var qty = form.querySelector("[data-stepper] input");
    var buttons = form.querySelectorAll("[data-needs-sku]");
    document.addEventListener("sku:change", function (event) {
      var sku = event.detail;
      skuInput.value = sku ? sku.id : "";
      if (sku && qty) {
        qty.max = Math.max(1, Math.min(sku.stock, 999));
        if (Number(qty.value) > Number(qty.max)) qty.value = qty.max;
        qty.dispatchEvent(new Event("change", { bubbles: true }));
      }
      buttons.forEach(function (button) { button.disabled = Boolean(sku) && sku.stock <= 0; });
    });
    function needSku(event) {
      if (skuInput.value) return false;
      event.preventDefault();
      event.stopPropagation();
      toast(form.dataset.msgChoose);
      var picker = document.getElementById("sku");
      if (picker) picker.scrollIntoView({ behavior: "smooth", block: "center" });
      return true;
    }
    form.addEventListener("submit", needSku, true);
    form.addEventListener("htmx:confirm", needSku);
  }

  // A deferred script runs once the page is parsed and before shop.js announces the first SKU choice
  // (on DOMContentLoaded), so the buy form hears every sku:change.
  document.querySelectorAll(COUNTDOWNS).forEach(setupCountdown);
  document.querySelectorAll("form[data-buy-form]").forEach(setupBuyForm);
  document.addEventListener("htmx:load", function (event) {
    event.detail.elt.querySelectorAll && event.detail.elt.querySelectorAll(COUNTDOWNS).forEach(setupCountdown);
  });
})();
