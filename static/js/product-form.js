// Product form: picture upload and ordering, "fill all rows" in the SKU matrix, and keeping Enter in an
// option field from submitting the whole form. Rows themselves are generated on the server (htmx).
(function () {
  "use strict";

  function toast(message, level) {
    if (window.fenxiaoToast) window.fenxiaoToast(message, level || "error");
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];
    } catch (e) {
      return "";
    }
  }

  // ------------------------------------------------------------ pictures

  var pending = 0;

  function tiles(list) {
    return list.querySelectorAll("[data-image-tile], [data-image-pending]");
  }

  function showError(list, text) {
    var box = list.parentNode.querySelector("[data-image-errors]");
    if (!box) return;
    var item = document.createElement("li");
    item.textContent = text;
    box.appendChild(item);
  }

  function upload(list, file) {
    var placeholder = document.createElement("div");
    placeholder.className = "image-tile image-tile_pending";
    placeholder.setAttribute("data-image-pending", "");
    placeholder.innerHTML = '<span class="spinner-border text-secondary" role="status"></span>';
    list.insertBefore(placeholder, list.querySelector("[data-image-add]"));
    pending += 1;

    var body = new FormData();
    body.append("image", file);
    fetch(list.dataset.uploadUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      // HX-Request makes the error handlers answer in one plain sentence instead of an HTML page.
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" }
    })
      .then(function (response) {
        return response.text().then(function (text) {
          if (response.ok) {
            var holder = document.createElement("div");
            holder.innerHTML = text.trim();
            var tile = holder.firstElementChild;
            if (tile) list.replaceChild(tile, placeholder);
            else placeholder.remove();
          } else {
            placeholder.remove();
            var reason = text && text.length < 200 ? text : list.dataset.msgFailed;
            showError(list, file.name + "：" + reason);
          }
        });
      })
      .catch(function () {
        placeholder.remove();
        showError(list, file.name + "：" + list.dataset.msgFailed);
      })
      .then(function () {
        pending -= 1;
      });
  }

  document.addEventListener("change", function (event) {
    var input = event.target.closest("[data-image-input]");
    if (!input) return;
    var list = input.closest("[data-image-list]");
    var errors = list.parentNode.querySelector("[data-image-errors]");
    if (errors) errors.textContent = "";
    var room = parseInt(list.dataset.max, 10) - tiles(list).length;
    Array.prototype.forEach.call(input.files, function (file, index) {
      if (index >= room) {
        showError(list, file.name + "：" + list.dataset.msgMax);
      } else {
        upload(list, file);
      }
    });
    input.value = "";
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-image-move], [data-image-remove]");
    if (!button) return;
    var tile = button.closest("[data-image-tile]");
    if (button.hasAttribute("data-image-remove")) {
      tile.remove();
      return;
    }
    if (button.dataset.imageMove === "-1") {
      var before = tile.previousElementSibling;
      if (before && before.hasAttribute("data-image-tile")) tile.parentNode.insertBefore(tile, before);
    } else {
      var after = tile.nextElementSibling;
      if (after && after.hasAttribute("data-image-tile")) tile.parentNode.insertBefore(after, tile);
    }
    button.focus();
  });

  // Do not save while pictures are still on their way: their keys would be missing.
  document.addEventListener("htmx:confirm", function (event) {
    var form = event.target;
    if (pending > 0 && form.matches && form.matches("[data-product-form]")) {
      event.preventDefault();
      toast(form.dataset.msgUploading, "warning");
    }
  });

  // ------------------------------------------------------------ SKU matrix

  // Ask the server for new rows only when the options really changed (Enter and then leaving the field
  // both raise "change"): every answer replaces the rows, and with them whatever is being typed there.
  function optionSignature(axes) {
    return Array.prototype.map.call(axes.querySelectorAll("[data-option-input]"), function (input) {
      return input.value.trim();
    }).join("\u001f");
  }

  function rememberOptions() {
    document.querySelectorAll("[data-option-axes]").forEach(function (axes) {
      if (axes.dataset.signature === undefined) axes.dataset.signature = optionSignature(axes);
    });
  }

  document.addEventListener("DOMContentLoaded", rememberOptions);
  document.addEventListener("htmx:afterSettle", rememberOptions);

  // A just-added option's name field takes the cursor, once. (Not the autofocus attribute: htmx and the
  // browser each honour it at their own moment, and the second one pulled the cursor back out of the
  // values field the merchant had already moved to.)
  document.addEventListener("htmx:afterSettle", function () {
    var input = document.querySelector("[data-focus-new]");
    if (!input) return;
    input.removeAttribute("data-focus-new");
    input.focus();
  });

  document.addEventListener("change", function (event) {
    var axes = event.target.closest && event.target.closest("[data-option-axes]");
    if (!axes || !event.target.matches("[data-option-input]")) return;
    var signature = optionSignature(axes);
    if (signature === axes.dataset.signature) {
      event.stopPropagation();
      return;
    }
    axes.dataset.signature = signature;
  }, true);

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") return;
    var option = event.target.closest("[data-option-input]");
    var fill = event.target.closest("[data-fill]");
    if (!option && !fill) return;
    event.preventDefault();
    if (option) {
      option.dispatchEvent(new Event("change", { bubbles: true }));
    } else {
      var apply = fill.closest("[data-fill-bar]").querySelector("[data-fill-apply]");
      if (apply) apply.click();
    }
  });

  document.addEventListener("click", function (event) {
    var apply = event.target.closest("[data-fill-apply]");
    if (!apply) return;
    var editor = apply.closest("#sku-editor");
    apply.closest("[data-fill-bar]").querySelectorAll("[data-fill]").forEach(function (source) {
      var value = source.value.trim();
      if (!value) return;
      editor.querySelectorAll("[data-fill-target='" + source.dataset.fill + "']").forEach(function (input) {
        input.value = value;
        input.classList.remove("is-invalid");
      });
      source.value = "";
    });
  });

  // After a refused save, bring the first message into view.
  document.addEventListener("htmx:afterSwap", function (event) {
    var form = document.querySelector("[data-product-form]");
    if (!form || event.detail.xhr.status !== 422) return;
    var first = form.querySelector(".is-invalid, .alert-danger, .invalid-feedback.d-block");
    if (first) {
      first.scrollIntoView({ block: "center", behavior: "smooth" });
      if (first.focus && first.matches("input, select, textarea")) first.focus({ preventScroll: true });
    }
  });
})();
