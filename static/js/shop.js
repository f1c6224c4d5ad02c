// H5 shop behaviour: the SKU picker, the gallery counter, avatar preview, toasts and network errors, and a
// CSRF token fetched on first use for visitors who arrived without a session.
// Every page works without it; this only makes them nicer.
(function () {
  "use strict";

  function toast(message) {
    var box = document.getElementById("toast");
    if (!box || !message) return;
    box.querySelector(".weui-toast__content").textContent = message;
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(function () { box.hidden = true; }, 2000);
  }
  window.fenxiaoToast = toast;

  document.addEventListener("toast", function (event) { toast((event.detail || {}).message); });
  document.addEventListener("htmx:sendError", function () { toast(document.body.dataset.msgNetwork); });
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr.getResponseHeader("HX-Trigger")) toast(document.body.dataset.msgNetwork);
  });

  // The pages a shared link opens come without a session, so without a CSRF token (app/lazy_csrf.py).
  // The first request that changes something fetches one (which starts the session), then goes.
  function pageToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
    catch (e) { return ""; }
  }
  var tokenRequest = null;
  function ensureToken() {
    if (pageToken()) return Promise.resolve(pageToken());
    if (!tokenRequest) {
      tokenRequest = fetch("/csrf-token", { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("csrf-token " + response.status);
          return response.json();
        })
        .then(function (data) {
          document.body.setAttribute("hx-headers", JSON.stringify({ "X-CSRFToken": data.token }));
          document.querySelectorAll("input[name=csrf_token]").forEach(function (input) {
            if (!input.value) input.value = data.token;
          });
          return data.token;
        })
        .catch(function (error) { tokenRequest = null; throw error; });
    }
    return tokenRequest;
  }
  function networkError() { toast(document.body.dataset.msgNetwork); }
  document.addEventListener("htmx:confirm", function (event) {
    var verb = String(event.detail.verb || "get").toLowerCase();
    if (event.defaultPrevented || verb === "get" || pageToken()) return;
    event.preventDefault();
    // false: htmx asks again (now with the token) and still shows any hx-confirm question.
    ensureToken().then(function () { event.detail.issueRequest(false); }, networkError);
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var input = form.querySelector("input[name=csrf_token]");
    if (event.defaultPrevented || !input || input.value || form.method.toLowerCase() !== "post") return;
    event.preventDefault();
    var submitter = event.submitter;
    ensureToken().then(function () {
      if (form.requestSubmit) form.requestSubmit(submitter || undefined); else form.submit();
    }, networkError);
  });

  // SKU picker: one value per option; values no SKU in stock could complete are disabled, and the
  // price, original price and stock line follow the chosen SKU.
  function setupPicker(picker) {
    var data = JSON.parse(picker.querySelector("[data-sku-json]").textContent);
    var axes = data.options.length;
    var choice = picker.querySelector("[data-sku-choice]");
    var priceEl = document.querySelector("[data-sku-price]");
    var originalEl = document.querySelector("[data-sku-original]");
    var stockEl = document.querySelector("[data-sku-stock]");
    var initial = {
      price: priceEl.textContent,
      original: originalEl ? originalEl.textContent : "",
      stock: stockEl.textContent,
      soldOut: stockEl.classList.contains("is-sold-out")
    };
    var inputs = Array.prototype.slice.call(picker.querySelectorAll("input[type=radio]"));

    function selected() {
      var values = [];
      for (var i = 0; i < axes; i++) {
        var checked = picker.querySelector("input[data-axis='" + i + "']:checked");
        values.push(checked ? checked.value : null);
      }
      return values;
    }

    function matches(sku, values, skipAxis) {
      for (var i = 0; i < axes; i++) {
        if (i !== skipAxis && values[i] !== null && sku.values[i] !== values[i]) return false;
      }
      return true;
    }

    function show(price, original, stock, soldOut) {
      priceEl.textContent = price;
      if (originalEl) { originalEl.textContent = original; originalEl.hidden = !original; }
      stockEl.textContent = stock;
      stockEl.classList.toggle("is-sold-out", soldOut);
    }

    function refresh() {
      var values = selected();
      inputs.forEach(function (input) {
        var axis = Number(input.dataset.axis);
        input.disabled = !data.skus.some(function (sku) {
          return sku.stock > 0 && sku.values[axis] === input.value && matches(sku, values, axis);
        });
        if (input.disabled && input.checked) input.checked = false;
        input.parentNode.classList.toggle("is-disabled", input.disabled);
      });
      values = selected();
      var complete = values.every(function (v) { return v !== null; });
      var sku = complete ? data.skus.filter(function (s) { return matches(s, values, -1); })[0] : null;
      picker.dataset.skuId = sku ? sku.id : "";
      if (sku) {
        show(sku.price, sku.original, sku.stock_text, sku.stock <= 0);
        choice.textContent = choice.dataset.msgSelected.replace("{spec}", sku.values.join(" / "));
      } else {
        show(initial.price, initial.original, initial.stock, initial.soldOut);
        choice.textContent = choice.dataset.msgChoose;
      }
      choice.classList.toggle("is-complete", Boolean(sku));
      document.dispatchEvent(new CustomEvent("sku:change", { detail: sku }));
    }

    picker.addEventListener("change", refresh);
    // Tapping the chosen value again clears it, so a shopper can never get stuck between sold-out pairs.
    picker.addEventListener("pointerdown", function (event) {
      var label = event.target.closest("label.sku-value");
      if (label) label.dataset.wasChecked = label.querySelector("input").checked ? "1" : "";
    });
    picker.addEventListener("click", function (event) {
      var label = event.target.closest("label.sku-value");
      if (!label || label.dataset.wasChecked !== "1") return;
      event.preventDefault();
      label.dataset.wasChecked = "";
      label.querySelector("input").checked = false;
      refresh();
    });
    // An option with a single value available is chosen already: nothing to decide there.
    for (var axis = 0; axis < axes; axis++) {
      var open = inputs.filter(function (input) { return Number(input.dataset.axis) === axis && !input.disabled; });
      var all = inputs.filter(function (input) { return Number(input.dataset.axis) === axis; });
      if (all.length === 1 && open.length === 1) open[0].checked = true;
    }
    refresh();
  }

  // Gallery: "2/5" follows the swipe.
  function setupGallery(gallery) {
    var track = gallery.querySelector("[data-gallery-track]");
    var index = gallery.querySelector("[data-gallery-index]");
    if (!track || !index) return;
    var pending = false;
    track.addEventListener("scroll", function () {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () {
        pending = false;
        index.textContent = String(Math.round(track.scrollLeft / Math.max(track.clientWidth, 1)) + 1);
      });
    }, { passive: true });
  }

  // A back arrow returns to where the shopper came from when that was this shop; else it is a link.
  function setupHistoryBack(link) {
    link.addEventListener("click", function (event) {
      var sameSite = document.referrer && document.referrer.indexOf(location.origin + "/") === 0;
      if (sameSite && history.length > 1) {
        event.preventDefault();
        history.back();
      }
    });
  }

  // Avatar: show the chosen picture before it is uploaded.
  function setupAvatarInput(input) {
    var preview = document.querySelector(input.dataset.preview);
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      // The last refusal was about another file: take it away once a new one is chosen.
      var field = input.closest(".avatar-field");
      if (field) {
        field.classList.remove("avatar-field_warn");
        field.parentNode.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
      }
      if (!file || !preview || !/^image\//.test(file.type)) return;
      if (preview.dataset.objectUrl) URL.revokeObjectURL(preview.dataset.objectUrl);
      preview.dataset.objectUrl = URL.createObjectURL(file);
      preview.src = preview.dataset.objectUrl;
    });
  }

  // Registration: a forgotten agreement box is said before the form leaves the phone. Posting it would
  // come back with both password fields empty, as the server never writes a password into a page.
  function setupAgreement(form) {
    var box = form.querySelector("input[data-agree]");
    var error = form.querySelector("[data-agree-error]");
    if (!box || !error) return;
    form.addEventListener("submit", function (event) {
      if (box.checked) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      error.hidden = false;
      box.focus();
    });
    box.addEventListener("change", function () { if (box.checked) error.hidden = true; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-needs-agreement]").forEach(setupAgreement);
    document.querySelectorAll("[data-sku-picker]").forEach(setupPicker);
    document.querySelectorAll("[data-gallery]").forEach(setupGallery);
    document.querySelectorAll("[data-history-back]").forEach(setupHistoryBack);
    document.querySelectorAll("input[data-preview]").forEach(setupAvatarInput);
    document.querySelectorAll(".flash").forEach(function (el) { setTimeout(function () { el.remove(); }, 4000); });
  });
})();
