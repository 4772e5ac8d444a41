/*
 * Cible tracker: micro-behaviour to the Cible collector (docs/live.md). No dependency.
 *
 *   <script src="cible-tracker.js" data-endpoint="https://collect.example.com"
 *           data-key="ck_..." async></script>
 *
 *   cible.consent(true)              the visitor consented: from now on events are sent and
 *                                    the anonymous id cookie is set (nothing before)
 *   cible.identify("C123")           the visitor logged in (a `login` event links the cookie)
 *   cible.addToCart("SKU", "watches"), cible.videoPlay(ms), cible.track(type, fields)
 *   <a data-cible-event="product_view" data-cible-sku="SKU" data-cible-category="watches">
 *                                    clicks on marked elements are events
 *
 * Each page sends one `page_view` when it is hidden or left, with the time it was visible
 * (duration_ms) and the deepest scroll reached (scroll_depth_pct). Events are sent in batches
 * (every 5 s, or 20 at once) and, when the page is hidden, with navigator.sendBeacon; a batch
 * that fails is kept (also in localStorage, after consent only) and sent again.
 */
(function (window, document) {
  "use strict";
  var script = document.currentScript || {};
  var settings = window.cibleConfig || {};
  var endpoint = (settings.endpoint || (script.getAttribute && script.getAttribute("data-endpoint")) || "").replace(/\/$/, "");
  var key = settings.key || (script.getAttribute && script.getAttribute("data-key")) || "";
  var COOKIE = "cible_aid", STORE = "cible_queue", MAX_AGE = 395 * 24 * 3600; // 13 months
  var consented = false, customerNumber = null, anonymousId = null, queue = [];
  var visibleSince = document.visibilityState === "visible" ? Date.now() : null;
  var visibleMs = 0, deepest = 0, pageSent = false, failures = 0, timer = null;

  function id() {
    var bytes = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function readCookie() {
    var match = document.cookie.match(new RegExp("(?:^|; )" + COOKIE + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : null;
  }
  function device() {
    if (window.matchMedia && window.matchMedia("(max-width: 767px)").matches) return "mobile";
    if (window.matchMedia && window.matchMedia("(max-width: 1199px) and (pointer: coarse)").matches) return "tablet";
    return "desktop";
  }
  function source() {
    var params = new URLSearchParams(window.location.search);
    var medium = (params.get("utm_medium") || "").toLowerCase();
    if (medium) return { email: "email", cpc: "sea", paid: "sea", social: "social", affiliate: "affiliate" }[medium] || "referral";
    var referrer = document.referrer;
    if (!referrer || referrer.indexOf(window.location.host) >= 0) return "direct";
    if (/google\.|bing\.|qwant\.|duckduckgo\.|yahoo\./.test(referrer)) return "seo";
    if (/facebook\.|instagram\.|t\.co|linkedin\.|pinterest\./.test(referrer)) return "social";
    return "referral";
  }
  var traffic = source();
  function sessionId() {
    try {
      var value = window.sessionStorage.getItem("cible_sid");
      if (!value) { value = id(); window.sessionStorage.setItem("cible_sid", value); }
      return value;
    } catch (e) { return null; }
  }
  function persist() {
    if (!consented) return;
    try { window.localStorage.setItem(STORE, JSON.stringify(queue.slice(-200))); } catch (e) { /* full or off */ }
  }
  function url() { return endpoint + "/v1/events?key=" + encodeURIComponent(key); }

  function track(type, fields) {
    if (!consented || !endpoint) return; // nothing before consent
    var event = {
      event_id: id(),
      event_type: type,
      occurred_at: new Date().toISOString(),
      anonymous_id: anonymousId,
      session_id: sessionId(),
      device_type: device(),
      traffic_source: traffic
    };
    if (customerNumber) event.customer_number = customerNumber;
    for (var name in fields || {}) if (fields[name] !== undefined && fields[name] !== null) event[name] = fields[name];
    queue.push(event);
    persist();
    if (queue.length >= 20) flush(); else schedule();
  }
  function schedule() {
    if (!timer) timer = window.setTimeout(function () { timer = null; flush(); }, Math.min(5000 * Math.pow(2, failures), 60000));
  }
  function flush(leaving) {
    if (!consented || !queue.length) return;
    var batch = queue.splice(0, 200);
    var body = JSON.stringify({ events: batch });
    persist();
    if (leaving && navigator.sendBeacon && navigator.sendBeacon(url(), body)) return;
    // text/plain keeps the request simple (no CORS preflight); the collector reads JSON anyway.
    window.fetch(url(), { method: "POST", body: body, keepalive: true, headers: { "Content-Type": "text/plain" } })
      .then(function (response) {
        if (response.status >= 500 || response.status === 429) throw new Error("retry");
        failures = 0;
        if (queue.length) schedule();
      })
      .catch(function () { queue = batch.concat(queue); failures += 1; persist(); schedule(); });
  }
  function visibleTime() {
    return visibleMs + (visibleSince !== null ? Date.now() - visibleSince : 0);
  }
  function scrolled() {
    var page = document.documentElement, body = document.body;
    var height = Math.max(page.scrollHeight, body ? body.scrollHeight : 0) - window.innerHeight;
    var depth = height > 0 ? Math.round(100 * (window.scrollY || page.scrollTop) / height) : 100;
    deepest = Math.max(deepest, Math.min(100, Math.max(0, depth)));
  }
  function pageHidden() {
    if (visibleSince !== null) { visibleMs += Date.now() - visibleSince; visibleSince = null; }
    if (consented && !pageSent) {
      pageSent = true;
      track("page_view", { duration_ms: visibleTime(), scroll_depth_pct: deepest, page_category: document.body && document.body.getAttribute("data-cible-category") });
    }
    flush(true);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") pageHidden();
    else if (visibleSince === null) visibleSince = Date.now();
  });
  window.addEventListener("pagehide", pageHidden);
  window.addEventListener("scroll", scrolled, { passive: true });
  document.addEventListener("click", function (event) {
    var element = event.target && event.target.closest && event.target.closest("[data-cible-event]");
    if (!element) return;
    track(element.getAttribute("data-cible-event"), {
      product_sku: element.getAttribute("data-cible-sku"),
      page_category: element.getAttribute("data-cible-category")
    });
  }, true);

  window.cible = {
    consent: function (granted) {
      if (!granted) { consented = false; queue = []; return; }
      consented = true;
      anonymousId = readCookie();
      if (!anonymousId) {
        // Set once: its 13 months count from this deposit, later visits do not extend them (CNIL).
        anonymousId = id();
        document.cookie = COOKIE + "=" + encodeURIComponent(anonymousId) + "; max-age=" + MAX_AGE + "; path=/; SameSite=Lax";
      }
      try { queue = JSON.parse(window.localStorage.getItem(STORE) || "[]").concat(queue); } catch (e) { /* none */ }
      if (queue.length) schedule();
    },
    identify: function (number) {
      customerNumber = number ? String(number) : null;
      if (customerNumber) track("login");
    },
    track: track,
    addToCart: function (sku, category) { track("add_to_cart", { product_sku: sku, page_category: category }); },
    videoPlay: function (ms) { track("video_play", { duration_ms: Math.round(ms) }); },
    flush: function () { flush(false); }
  };
  // A returning visitor who consented before: the cookie says so.
  if (readCookie()) window.cible.consent(true);
})(window, document);
