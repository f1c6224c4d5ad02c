// WeChat share card: the server signed wx.config; the card's title, text and picture come from the
// page's own share meta (og:*), the link from the server (a distributor shares with their own code).
(function () {
  "use strict";
  var node = document.getElementById("wechat-share");
  if (!node || !window.wx) return;
  var data = JSON.parse(node.textContent);

  function meta(name) {
    var el = document.querySelector('meta[property="' + name + '"]') || document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") : "";
  }

  window.wx.config({
    debug: false,
    appId: data.config.appId,
    timestamp: data.config.timestamp,
    nonceStr: data.config.nonceStr,
    signature: data.config.signature,
    jsApiList: ["updateAppMessageShareData", "updateTimelineShareData", "openAddress"]
  });
  window.wx.ready(function () {
    var card = {
      title: meta("og:title") || document.title,
      desc: meta("og:description") || meta("description"),
      link: data.link,
      imgUrl: meta("og:image")
    };
    window.wx.updateAppMessageShareData(card);
    window.wx.updateTimelineShareData({ title: card.title, link: card.link, imgUrl: card.imgUrl });
  });
})();
