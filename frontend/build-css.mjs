// `make css`: the WeUI rules the shop uses, and nothing else.
//
// WeUI's full stylesheet is 188 KB, most of it components the shop never shows and a dark theme it turns
// off (every shop page has data-weui-theme="light"). PurgeCSS keeps the rules whose class names appear in
// the shop's templates, scripts and stylesheets (those name the --weui-* variables they use); then the
// dark-theme rules go. The result is committed, so the app and CI never run Node. Run this again after
// adding a WeUI class to a shop template (tests/test_front_end.py fails until you do).

import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import postcss from "postcss";
import { PurgeCSS } from "purgecss";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "frontend/weui-2.6.26.min.css"); // the release, as npm ships it
const target = join(root, "static/vendor/weui-2.6.26-shop.min.css");

const [purged] = await new PurgeCSS().purge({
  css: [source],
  content: [
    "templates/shop/**/*.html",
    "templates/payments/**/*.html",
    "templates/_htmx_config.html",
    "static/js/*.js",
    "static/css/shop.css",
    "static/css/orders.css",
    "static/css/distribution.css",
    "static/css/marketing.css",
    "static/css/payments.css",
  ].map((glob) => join(root, glob)),
  variables: true, // drop the --weui-* variables nothing uses
  keyframes: true,
  fontFace: true,
});

const dark = /data-weui-theme="dark"/;
const withoutDarkTheme = {
  postcssPlugin: "without-dark-theme",
  Once(tree) {
    tree.walkAtRules("media", (rule) => {
      if (rule.params.includes("prefers-color-scheme:dark")) rule.remove();
    });
    tree.walkRules((rule) => {
      const kept = rule.selectors.filter((selector) => !dark.test(selector));
      if (kept.length === 0) rule.remove();
      else if (kept.length < rule.selectors.length) rule.selector = kept.join(",");
    });
    tree.walkRules((rule) => {
      if (rule.nodes.length === 0) rule.remove(); // emptied by the variables PurgeCSS dropped
    });
  },
};

const { css } = await postcss([withoutDarkTheme]).process(purged.css, { from: undefined });
const banner = readFileSync(source, "utf8").match(/^\/\*![\s\S]*?\*\//)[0];
const body = css.replace(/^\/\*![\s\S]*?\*\//, "");
writeFileSync(
  target,
  `${banner}\n/* The rules the Fenxiao shop uses, built by frontend/build-css.mjs (make css). */${body}`,
);
console.log(`${target}: ${Buffer.byteLength(body)} bytes (from ${readFileSync(source).length})`);
