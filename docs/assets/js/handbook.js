/* Practice mode, and the loader of the self-rating script.
   Practice mode hides the answer under every question heading (h2) until the
   reader clicks "显示答案"; the switch sits in the header and is remembered
   in localStorage across pages and visits.  Printing always shows everything. */
(function () {
  var KEY = "handbook.practice";
  function isOn() { try { return localStorage.getItem(KEY) === "1"; } catch (e) { return false; } }
  function setOn(v) { try { localStorage.setItem(KEY, v ? "1" : "0"); } catch (e) {} }

  function wrapAnswers(article) {
    if (article.dataset.practiceReady) return;
    article.dataset.practiceReady = "1";
    article.querySelectorAll(":scope > h2").forEach(function (h2) {
      var box = document.createElement("div");
      box.className = "practice-answer";
      var n = h2.nextSibling;
      while (n && !(n.nodeType === 1 && n.tagName === "H2")) {
        var next = n.nextSibling; box.appendChild(n); n = next;
      }
      if (!box.childNodes.length) return;
      var btn = document.createElement("button");
      btn.type = "button"; btn.className = "md-button practice-reveal"; btn.textContent = "显示答案";
      btn.addEventListener("click", function () {
        var shown = box.classList.toggle("revealed");
        btn.textContent = shown ? "隐藏答案" : "显示答案";
      });
      h2.after(btn); btn.after(box);
      /* a link or search hit to an anchor inside a hidden answer reveals it */
      if (location.hash) {
        var t = document.getElementById(decodeURIComponent(location.hash.slice(1)));
        if (t && box.contains(t)) { box.classList.add("revealed"); btn.textContent = "隐藏答案"; }
      }
    });
  }

  function apply() {
    document.body.classList.toggle("practice", isOn());
    var sw = document.getElementById("practice-switch");
    if (sw) { sw.setAttribute("aria-pressed", String(isOn())); sw.title = isOn() ? "退出练习模式" : "练习模式：先隐藏答案"; }
    var article = document.querySelector(".md-content article");
    if (article && isOn()) wrapAnswers(article);
  }

  function addSwitch() {
    if (document.getElementById("practice-switch")) return;
    var header = document.querySelector(".md-header__inner");
    if (!header) return;
    var b = document.createElement("button");
    b.id = "practice-switch"; b.type = "button"; b.className = "md-header__button practice-switch";
    b.textContent = "练习模式"; b.setAttribute("aria-label", "练习模式");
    b.addEventListener("click", function () { setOn(!isOn()); apply(); });
    var search = header.querySelector(".md-search");
    header.insertBefore(b, search || null);
  }

  /* Self-rating (assets/js/practice.js): nothing on load; the script comes with the reader's
     first scroll, tap, click or key press on a page with questions, and adds the rating
     buttons as answers come into view.  The drill and index pages load it themselves. */
  var base = ((document.currentScript && document.currentScript.src) || "").replace(/handbook\.js(?:[?#].*)?$/, "");
  var practiceRequested = false;
  function loadPractice() {
    if (practiceRequested || window.HandbookPractice) return;
    practiceRequested = true;
    var s = document.createElement("script");
    s.src = base + "practice.js";
    s.onload = s.onerror = function () { s.remove(); };
    document.head.appendChild(s);
  }
  function armPractice() {
    var article = document.querySelector(".md-content article");
    if (!article || !article.querySelector("h2[id], details.question")) return;
    ["scroll", "pointerdown", "keydown"].forEach(function (ev) {
      window.addEventListener(ev, loadPractice, { passive: true, once: true });
    });
  }

  /* A section that moved to another page leaves a link with its old id and the class
     "moved" (CONTRIBUTING.md, 拆分页面); an old link to that id goes on to the new place. */
  function followMoved() {
    if (!location.hash) return;
    var t = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (t && t.tagName === "A" && t.classList.contains("moved") && t.href) location.replace(t.href);
  }
  window.addEventListener("hashchange", followMoved);

  /* The light/dark switch (overrides/partials/palette.html).  The scheme in use is the
     reader's stored choice (Material's "__palette" entry, so an earlier choice still counts),
     else the first option whose media query matches.  <body> is only written when that
     differs from what the page already has: a page load that changes nothing costs no
     style recalculation.  While a switch is painted, transitions are off (hb-switching). */
  function mountPalette() {
    var form = document.querySelector("form[data-hb-palette]");
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    var inputs = Array.prototype.slice.call(form.querySelectorAll("input.md-option"));
    if (!inputs.length) return;
    var KEYS = ["media", "scheme", "primary", "accent"];
    function colorOf(input) {
      var c = {};
      KEYS.forEach(function (k) { c[k] = input.getAttribute("data-md-color-" + k); });
      return c;
    }
    function stored() {
      try { return typeof __md_get === "function" ? __md_get("__palette") : null; } catch (e) { return null; }
    }
    function byMedia() {
      for (var i = 0; i < inputs.length; i++) {
        var m = inputs[i].getAttribute("data-md-color-media");
        if (m && window.matchMedia && matchMedia(m).matches) return i;
      }
      return 0;
    }
    function chosen() {
      var s = stored();
      var i = s && typeof s.index === "number" ? s.index : byMedia();
      return Math.max(0, Math.min(i, inputs.length - 1));
    }
    var meta = null;
    function themeColor() {
      /* the phone's browser bar takes the header's colour, read once the frame's style is current */
      requestAnimationFrame(function () {
        var header = document.querySelector(".md-header");
        if (!header) return;
        var rgb = getComputedStyle(header).backgroundColor.match(/\d+/g);
        if (!rgb) return;
        if (!meta) { meta = document.createElement("meta"); meta.name = "theme-color"; document.head.appendChild(meta); }
        meta.content = "#" + rgb.slice(0, 3).map(function (v) { return (+v).toString(16).padStart(2, "0"); }).join("");
      });
    }
    function show(index, byReader) {
      var color = colorOf(inputs[index]);
      var body = document.body;
      /* the colours decide; data-md-color-media is bookkeeping that no style rule reads */
      var changed = KEYS.slice(1).some(function (k) { return body.getAttribute("data-md-color-" + k) !== color[k]; });
      if (body.getAttribute("data-md-color-media") !== color.media) body.setAttribute("data-md-color-media", color.media);
      if (changed) {
        if (byReader) body.classList.add("hb-switching");
        KEYS.slice(1).forEach(function (k) { body.setAttribute("data-md-color-" + k, color[k]); });
        if (byReader) requestAnimationFrame(function () {
          requestAnimationFrame(function () { body.classList.remove("hb-switching"); });
        });
      }
      inputs[index].checked = true;
      inputs.forEach(function (input, i) {
        var label = input.nextElementSibling;
        if (label && label.tagName === "LABEL") label.hidden = i !== index;
      });
      if (byReader && typeof __md_set === "function") __md_set("__palette", { index: index, color: color });
      if (changed || !meta) themeColor();
    }
    inputs.forEach(function (input, i) {
      input.addEventListener("change", function () { if (input.checked) show(i, true); });
    });
    /* Enter on the focused switch moves on to the next scheme, as Material's does */
    form.addEventListener("keydown", function (ev) {
      if (ev.key !== "Enter") return;
      ev.preventDefault();
      var next = (inputs.indexOf(document.activeElement) + 1) % inputs.length;
      inputs[next].click();
      inputs[next].focus();
    });
    /* no stored choice: follow the system when it switches between light and dark */
    inputs.forEach(function (input) {
      var m = input.getAttribute("data-md-color-media");
      if (!m || !window.matchMedia) return;
      var mq = matchMedia(m);
      var follow = function () { if (!stored()) show(byMedia(), false); };
      if (mq.addEventListener) mq.addEventListener("change", follow);
    });
    show(chosen(), false);
  }

  function init() { mountPalette(); followMoved(); addSwitch(); apply(); armPractice(); }
  if (typeof document$ !== "undefined") document$.subscribe(init);
  else document.addEventListener("DOMContentLoaded", init);
})();
