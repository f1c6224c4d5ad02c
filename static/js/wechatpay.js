// WeChat Pay JSAPI: hand the server-signed parameters to WeixinJSBridge. Its "ok" is only a hint: the
// result page polls the order until the verified notify has marked it paid.
(function () {
  "use strict";
  var box = document.getElementById("wechat-pay");
  if (!box) return;
  var params = JSON.parse(box.querySelector("[data-jsapi]").textContent);
  var resultUrl = box.dataset.resultUrl;

  function pay() {
    window.WeixinJSBridge.invoke("getBrandWCPayRequest", params, function (res) {
      var msg = (res && res.err_msg) || "";
      if (msg === "get_brand_wcpay_request:ok") {
        window.location.replace(resultUrl);
      } else if (msg === "get_brand_wcpay_request:cancel") {
        box.querySelector(".weui-loading").hidden = true;
      } else {
        window.location.replace(resultUrl + (resultUrl.indexOf("?") < 0 ? "?" : "&") + "failed=1");
      }
    });
  }

  function ready() {
    box.querySelector("[data-pay-again]").addEventListener("click", pay);
    pay();
  }

  if (window.WeixinJSBridge) {
    ready();
  } else {
    document.addEventListener("WeixinJSBridgeReady", ready, false);
  }
})();
