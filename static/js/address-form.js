// The address form inside WeChat: "使用微信地址" opens WeChat's own address book (wx.openAddress, allowed by
// the page's signed wx.config in wechat-share.js) and fills the form; the server turns WeChat's names and
// district code (nationalCode) into the picker's choices. When WeChat cannot open it, a toast says so.
(function () {
  "use strict";
  var button = document.getElementById("wechat-address");
  if (!button || !window.wx || !window.wx.openAddress) return;
  button.hidden = false;

  function set(id, value) {
    var field = document.getElementById(id);
    if (field && value) field.value = value;
  }

  button.addEventListener("click", function () {
    window.wx.openAddress({
      success: function (res) {
        set("recipient", res.userName);
        set("mobile", res.telNumber);
        set("detail", res.detailInfo);
        var query = new URLSearchParams({
          province: res.provinceName || "",
          city: res.cityName || "",
          district: res.countryName || res.countyName || "",
          code: res.nationalCode || "",
          loose: "1"
        });
        window.htmx.ajax("GET", button.getAttribute("data-regions") + "?" + query.toString(), {
          target: "#region-picker",
          swap: "outerHTML"
        });
      },
      // Not allowed, no network, an old WeChat: say so (shop.js's toast); a shopper who cancels hears nothing.
      fail: function (res) {
        if (/cancel/i.test((res && res.errMsg) || "")) return;
        if (window.fenxiaoToast) window.fenxiaoToast(button.getAttribute("data-msg-failed"));
      },
      cancel: function () {}
    });
  });
})();
