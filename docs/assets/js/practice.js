/* Self-rating and spaced repetition (issue 17).

   Every question (a seed or other ## question, and every ??? question follow-up) can be
   rated 会 / 模糊 / 不会.  A rating is stored in this browser only (localStorage, key
   "handbook.progress", a versioned schema, one entry per question anchor) and scheduled
   with FSRS by ts-fsrs (assets/vendor/ts-fsrs, loaded on the first rating).
   会 = Good, 模糊 = Hard, 不会 = Again; intervals are whole days (short-term steps off).
   Pressing the pressed button again on the same day undoes that day's rating; pressing
   another one replaces it.

   Loaded by handbook.js once the reader scrolls or opens a follow-up, and directly by the
   question index and the drill page (overrides/main.html adds the <script> tags there,
   with assets/js/practice-data.js, written by bookgen/pages.py: every question, and the
   map of moved anchors).
   Classic scripts only: the offline zip runs from file://, which blocks ES modules.
   Rating buttons are added lazily, when a question's answer scrolls into view or a
   follow-up is opened, so a page loads no extra element (page budget, 1,500). */
(function () {
  "use strict";
  if (window.HandbookPractice) return;

  var SCHEMA = 1;
  var FORMAT = "storage-interview-handbook-progress";
  var KEY = "handbook.progress";
  var RATINGS = { good: { label: "会", grade: 3 }, hard: { label: "模糊", grade: 2 }, again: { label: "不会", grade: 1 } };
  var ORDER = ["good", "hard", "again"];
  var DAY = 86400000;

  var me = document.currentScript;
  var ROOT = me && me.src ? me.src.replace(/assets\/js\/practice\.js(?:[?#].*)?$/, "") : "";

  /* ---- small helpers ------------------------------------------------------------------ */
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function now() { return new Date(); }
  function startOfDay(d) { return new Date(d.getFullYear(), d.getMonth(), d.getDate()); }
  function daysBetween(a, b) { return Math.round((startOfDay(b) - startOfDay(a)) / DAY); }
  function sameDay(a, b) { return daysBetween(a, b) === 0; }
  function fmtDate(d) { return (d.getMonth() + 1) + "月" + d.getDate() + "日"; }
  function fmtSeconds(s) {
    s = Math.max(0, Math.round(s));
    return Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2);
  }
  function shuffle(a) {
    for (var i = a.length - 1; i > 0; i--) {
      var j = Math.floor(Math.random() * (i + 1)), t = a[i]; a[i] = a[j]; a[j] = t;
    }
    return a;
  }

  var loading = {};
  function loadScript(src, ok, fail) {
    var q = loading[src];
    if (q === true) { ok(); return; }
    if (q) { q.push([ok, fail]); return; }
    q = loading[src] = [[ok, fail]];
    var s = document.createElement("script");
    s.src = src;
    s.onload = function () { loading[src] = true; s.remove(); q.forEach(function (c) { c[0](); }); };
    s.onerror = function () { delete loading[src]; s.remove(); q.forEach(function (c) { if (c[1]) c[1](); }); };
    document.head.appendChild(s);
  }

  /* ---- the questions (assets/js/practice-data.js) ------------------------------------- */
  var data = null, byId = {};
  function useData(d) {
    data = d;
    byId = {};
    d.questions.forEach(function (q, i) { q.n = i; if (!(q.id in byId)) byId[q.id] = q; });
    migrate();
  }
  function withData(cb) {
    if (data) return cb(data);
    if (window.HandbookPracticeData) { useData(window.HandbookPracticeData); return cb(data); }
    loadScript(ROOT + "assets/js/practice-data.js", function () {
      if (!data && window.HandbookPracticeData) useData(window.HandbookPracticeData);
      if (data) cb(data);
    });
  }
  function href(q) { return ROOT + q.url + "#" + q.id; }
  /* this page's URL as the site names it ("disks/raw-disk/", offline "disks/raw-disk.html") */
  function onThisPage(url) {
    var here = decodeURI(location.href.split("#")[0].split("?")[0]);
    var root = decodeURI(ROOT);
    if (here.indexOf(root) !== 0) return false;
    here = here.slice(root.length);
    return here === url || here === url + "index.html" || (url === "" && here === "index.html");
  }

  /* ---- storage ------------------------------------------------------------------------ */
  function emptyStore() { return { format: FORMAT, schema: SCHEMA, items: {} }; }

  function isDate(s) { return typeof s === "string" && !isNaN(new Date(s).getTime()); }
  function isCount(n) { return typeof n === "number" && n >= 0 && Math.floor(n) === n; }
  function cardError(c) {
    if (!c || typeof c !== "object") return "缺少 card";
    if (!isDate(c.due)) return "card.due 不是日期";
    if (c.last_review != null && !isDate(c.last_review)) return "card.last_review 不是日期";
    if (!(typeof c.stability === "number" && isFinite(c.stability) && c.stability >= 0)) return "card.stability 无效";
    if (!(typeof c.difficulty === "number" && isFinite(c.difficulty) && c.difficulty >= 0)) return "card.difficulty 无效";
    if (!isCount(c.reps) || !isCount(c.lapses)) return "card.reps 或 card.lapses 无效";
    if ([0, 1, 2, 3].indexOf(c.state) < 0) return "card.state 无效";
    return "";
  }
  function itemError(it) {
    if (!it || typeof it !== "object") return "不是对象";
    if (!(it.rating in RATINGS)) return "rating 应为 good、hard 或 again";
    if (!isDate(it.at)) return "at 不是日期";
    var e = cardError(it.card);
    if (e) return e;
    if (it.prev != null) {
      if (typeof it.prev !== "object" || !(it.prev.rating in RATINGS) || !isDate(it.prev.at)) return "prev 无效";
      e = cardError(it.prev.card);
      if (e) return "prev." + e;
    }
    if (it.log != null && !Array.isArray(it.log)) return "log 不是数组";
    return "";
  }
  /* "" when `s` is a progress file of this book (any schema up to ours), else why not */
  function storeError(s) {
    if (!s || typeof s !== "object" || Array.isArray(s)) return "内容不是一个 JSON 对象";
    if (s.format !== FORMAT) return "不是本书导出的进度文件（缺少 \"format\": \"" + FORMAT + "\"）";
    if (!isCount(s.schema) || s.schema < 1) return "缺少版本号 schema";
    if (s.schema > SCHEMA) return "文件的格式版本（schema " + s.schema + "）比本页认识的（" + SCHEMA + "）新，请先更新本书";
    if (!s.items || typeof s.items !== "object" || Array.isArray(s.items)) return "缺少 items";
    for (var id in s.items) {
      if (!/^[^\s#"<>]{1,200}$/.test(id)) return "题目编号「" + id.slice(0, 40) + "」无效";
      var e = itemError(s.items[id]);
      if (e) return "题目「" + id + "」的记录无效：" + e;
    }
    return "";
  }

  var store = null;
  function load() {
    if (store) return store;
    var raw = null;
    try { raw = localStorage.getItem(KEY); } catch (e) { raw = null; }
    store = emptyStore();
    if (raw) {
      var s = null;
      try { s = JSON.parse(raw); } catch (e) { s = null; }
      if (s && !storeError(s)) { store = { format: FORMAT, schema: SCHEMA, items: s.items }; }
      else {
        /* unreadable (or from a newer edition): keep it aside, never overwrite it silently */
        try { localStorage.setItem(KEY + ".unreadable", raw); } catch (e) { /* full or blocked */ }
      }
    }
    return store;
  }
  function save() {
    try { localStorage.setItem(KEY, JSON.stringify(store)); return true; } catch (e) { return false; }
  }
  window.addEventListener("storage", function (ev) {
    if (ev.key !== KEY) return;
    store = null;
    if (data) migrate();
    refresh(null);
  });

  /* a rating stored under an anchor that has since moved (a .moved stub) follows its question */
  function newer(a, b) { return !b || new Date(a.at) > new Date(b.at); }
  function migrateItems(items, moved) {
    var n = 0;
    Object.keys(moved).forEach(function (old) {
      var it = items[old];
      if (!it) return;
      var to = moved[old], cur = items[to];
      /* the newer entry holds the schedule; the reviews of both stay in its log */
      var log = (cur && cur.log ? cur.log : []).concat(it.log || []);
      log.sort(function (x, y) { return new Date(x[0]) - new Date(y[0]); });
      items[to] = Object.assign({}, newer(it, cur) ? it : cur, { log: log.slice(-100) });
      delete items[old];
      n++;
    });
    return n;
  }
  function migrate() {
    var s = load();
    if (data && migrateItems(s.items, data.moved || {})) save();
  }

  /* ---- scheduling (ts-fsrs) ----------------------------------------------------------- */
  var scheduler = null;
  function withFSRS(ok, fail) {
    if (scheduler) return ok();
    loadScript(ROOT + "assets/vendor/ts-fsrs/index.umd.js", function () {
      var F = window.FSRS;
      if (!F || !F.fsrs) { if (fail) fail(); return; }
      scheduler = { F: F, f: F.fsrs(F.generatorParameters({ enable_short_term: false, enable_fuzz: true })) };
      ok();
    }, fail);
  }
  function plain(card) { return JSON.parse(JSON.stringify(card)); }

  /* Rate question `id` with `r` at time `t`; returns the new entry (undefined when undone). */
  function rate(id, r, t) {
    var s = load(), it = s.items[id];
    var today = it && sameDay(new Date(it.at), t);
    if (it && today && it.rating === r) {
      /* the same button again, the same day: undo */
      if (it.prev) s.items[id] = { card: it.prev.card, rating: it.prev.rating, at: it.prev.at, prev: null, log: (it.log || []).slice(0, -1) };
      else delete s.items[id];
    } else {
      var base = it ? (today ? (it.prev && it.prev.card) : it.card) : null;
      var prev = it ? (today ? it.prev : { card: it.card, rating: it.rating, at: it.at }) : null;
      var F = scheduler.F;
      var card = base ? F.TypeConvert.card(base) : F.createEmptyCard(t);
      var next = scheduler.f.next(card, t, RATINGS[r].grade).card;
      var log = it ? (it.log || []).slice(0, today ? -1 : undefined) : [];
      log.push([t.toISOString(), r]);
      s.items[id] = { card: plain(next), rating: r, at: t.toISOString(), prev: prev || null, log: log.slice(-100) };
    }
    save();
    refresh(id);
    return s.items[id];
  }

  /* new | due (due by the end of today) | later */
  function status(id, t) {
    var it = load().items[id];
    if (!it) return { state: "new" };
    var due = new Date(it.card.due);
    var days = daysBetween(t, due);
    return { state: days <= 0 ? "due" : "later", due: due, days: days, rating: it.rating, at: new Date(it.at) };
  }
  function describe(st) {
    if (st.state === "new") return "未练";
    var label = RATINGS[st.rating].label;
    if (st.state === "due") return label + " · 今天复习";
    return label + " · " + (st.days === 1 ? "明天" : st.days + " 天后");
  }

  /* ---- the rating buttons -------------------------------------------------------------- */
  var listeners = [];
  function refresh(id) {
    var sel = id ? '.rate[data-q="' + id.replace(/"/g, "") + '"]' : ".rate[data-q]";
    document.querySelectorAll(sel).forEach(paint);
    listeners.forEach(function (f) { f(id); });
  }
  function paint(box) {
    var id = box.getAttribute("data-q"), t = now();
    var it = load().items[id], st = status(id, t);
    box.querySelectorAll("button[data-r]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(!!it && it.rating === b.getAttribute("data-r")));
    });
    var note = box.querySelector(".rate-note");
    if (!it) { note.textContent = ""; return; }
    var when = st.state === "due" ? "今天该复习了" : "下次复习：" + fmtDate(st.due) + "（" + (st.days === 1 ? "明天" : st.days + " 天后") + "）";
    note.textContent = (sameDay(st.at, t) ? "今天自评「" + RATINGS[it.rating].label + "」，再按一次撤销 · " : "") + when;
  }
  function widget(id, title) {
    var box = el("div", "rate");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "自评：" + (title || "这道题"));
    box.setAttribute("data-q", id);
    ORDER.forEach(function (r) {
      var b = el("button", "rate-btn rate-" + r, RATINGS[r].label);
      b.type = "button";
      b.setAttribute("data-r", r);
      b.setAttribute("aria-pressed", "false");
      box.appendChild(b);
    });
    var note = el("span", "rate-note");
    note.setAttribute("aria-live", "polite");
    box.appendChild(note);
    box.addEventListener("click", function (ev) {
      var b = ev.target.closest("button[data-r]");
      if (!b || box.classList.contains("busy")) return;
      box.classList.add("busy");
      withFSRS(function () {
        box.classList.remove("busy");
        rate(id, b.getAttribute("data-r"), now());
        box.dispatchEvent(new CustomEvent("rated", { bubbles: true }));
      }, function () {
        box.classList.remove("busy");
        note.textContent = "无法加载调度脚本（assets/vendor/ts-fsrs），自评没有保存";
      });
    });
    paint(box);
    return box;
  }

  /* ---- chapter pages: buttons under each answer, added when it comes into view -------- */
  function sectionNodes(h2) {
    var out = [], n = h2.nextElementSibling;
    while (n && n.tagName !== "H2") {
      if (n.classList.contains("practice-answer")) out = out.concat(Array.prototype.slice.call(n.children));
      else out.push(n);
      n = n.nextElementSibling;
    }
    return out;
  }
  function initChapter() {
    var article = document.querySelector(".md-content article");
    if (!article || document.getElementById("drill") || document.getElementById("question-index")) return;
    var heads = article.querySelectorAll("h2[id], details.question[id]");
    if (!heads.length) return;
    withData(function () {
      var made = {}, mine = {};
      data.questions.forEach(function (q) { if (onThisPage(q.url)) mine[q.id] = q; });
      function make(target) {
        var key = target.getAttribute("data-rate-for");
        if (!key || made[key]) return;
        var q = mine[key];
        made[key] = true;
        var w = widget(key, q.title);
        var where = target.getAttribute("data-rate-where");
        if (where === "in") target.appendChild(w);
        else if (where === "before") target.before(w);
        else target.after(w);
        w.classList.add(where === "in" ? "rate-followup" : "rate-question");
      }
      var io = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
        entries.forEach(function (e) {
          if (!e.isIntersecting) return;
          var t = e.target;
          if (t.tagName === "DETAILS" && !t.open) return;
          io.unobserve(t);
          make(t);
        });
      }, { rootMargin: "0px 0px 200px 0px" }) : null;
      heads.forEach(function (h) {
        var q = mine[h.id];
        if (!q || (h.tagName === "H2") !== (q.kind === "q")) return;
        var target = h, where = "after";
        if (h.tagName === "DETAILS") where = "in";
        else {
          var nodes = sectionNodes(h);
          var abs = nodes.filter(function (n) { return n.matches(".admonition.abstract"); })[0];
          var h3 = nodes.filter(function (n) { return n.tagName === "H3"; })[0];
          if (abs) target = abs;
          else if (h3) { target = h3; where = "before"; }
          else if (nodes.length) target = nodes[nodes.length - 1];
        }
        target.setAttribute("data-rate-for", h.id);
        target.setAttribute("data-rate-where", where);
        if (io) io.observe(target); else make(target);
      });
      article.addEventListener("toggle", function (ev) {
        var t = ev.target;
        if (t.tagName === "DETAILS" && t.open && t.hasAttribute("data-rate-for")) make(t);
      }, true);
    });
  }

  /* ---- the question index: each question's state, each chapter's progress --------------- */
  function counts(ids, t) {
    var c = { good: 0, hard: 0, again: 0, fresh: 0, due: 0 };
    ids.forEach(function (id) {
      var st = status(id, t);
      if (st.state === "new") c.fresh++;
      else { c[st.rating]++; if (st.state === "due") c.due++; }
    });
    return c;
  }
  function countText(c) {
    return "会 " + c.good + " · 模糊 " + c.hard + " · 不会 " + c.again + " · 未练 " + c.fresh + (c.due ? " · 今天到期 " + c.due : "");
  }
  function initIndex() {
    var root = document.getElementById("question-index");
    if (!root) return;
    withData(function () {
      function draw() {
        var t = now(), chapter = null, chapters = [], all = [];
        Array.prototype.forEach.call(root.children, function (n) {
          if (n.tagName === "H2") { chapter = { h: n, ids: [] }; chapters.push(chapter); return; }
          if (!chapter || n.tagName !== "UL") return;
          n.querySelectorAll("a[href*='#']").forEach(function (a) {
            var id = decodeURIComponent(a.getAttribute("href").split("#")[1] || "");
            if (!byId[id]) return;
            var st = status(id, t);
            a.classList.remove("st-good", "st-hard", "st-again", "st-due");
            if (st.state === "new") { a.removeAttribute("data-st"); }
            else {
              a.classList.add("st-" + st.rating);
              if (st.state === "due") a.classList.add("st-due");
              a.setAttribute("data-st", describe(st));
            }
            chapter.ids.push(id);
            all.push(id);
          });
        });
        chapters.forEach(function (ch) { ch.h.setAttribute("data-progress", countText(counts(ch.ids, t))); });
        var head = root.querySelector(".qcount");
        if (head) head.setAttribute("data-progress", "你的进度：" + countText(counts(all, t)));
      }
      draw();
      listeners.push(draw);
    });
  }

  /* ---- the drill page ------------------------------------------------------------------ */
  var answers = null;
  function withAnswers(cb) {
    if (answers || window.HandbookPracticeAnswers) { answers = window.HandbookPracticeAnswers; return cb(answers); }
    loadScript(ROOT + "assets/js/practice-answers.js", function () { answers = window.HandbookPracticeAnswers || {}; cb(answers); },
      function () { answers = {}; cb(answers); });
  }
  /* the book's words (CONTRIBUTING.md): a seed question is 原题, any other question 追问 */
  function label(q) { return q.seed ? "原题" : "追问"; }
  function meta(q) { return q.chapter + " · " + q.page + " · " + label(q) + " · " + describe(status(q.id, now())); }

  /* A question card: meta, the question, 显示答案 / 在原页看答案, then the answer and the buttons. */
  function card(box, q, opts) {
    opts = opts || {};
    box.textContent = "";
    box.hidden = false;
    if (!box.practiceCard) {
      box.addEventListener("rated", function () {
        var m = box.querySelector(".drill-meta");
        if (m && box.practiceCard) m.textContent = meta(box.practiceCard);
      });
    }
    box.practiceCard = q;
    if (opts.head) box.appendChild(opts.head);
    box.appendChild(el("p", "drill-meta", meta(q)));
    box.appendChild(el("p", "drill-question", q.title));
    var bar = el("p", "drill-actions");
    var reveal = el("button", "md-button md-button--primary drill-reveal", "显示答案");
    reveal.type = "button";
    var link = el("a", "md-button", "在原页看答案");
    link.href = href(q);
    bar.appendChild(reveal); bar.appendChild(document.createTextNode(" ")); bar.appendChild(link);
    (opts.extra || []).forEach(function (x) { bar.appendChild(document.createTextNode(" ")); bar.appendChild(x); });
    box.appendChild(bar);
    var slot = el("div", "drill-slot");
    box.appendChild(slot);
    reveal.addEventListener("click", function () {
      var focused = document.activeElement === reveal;
      reveal.disabled = true;
      if (opts.onReveal) opts.onReveal();
      showAnswer(slot, q, opts.after, focused);
    });
    if (opts.focus) reveal.focus();
    return { reveal: reveal, slot: slot };
  }
  /* the answer, then the rating buttons (focused when the reader came by keyboard) */
  function showAnswer(slot, q, after, focus) {
    withAnswers(function (a) {
      slot.textContent = "";
      var body = el("div", "drill-answer");
      var html = a[q.url + "#" + q.id];
      if (html) body.innerHTML = html;
      else { body.appendChild(el("p", null, "这道题的答案较长，请到原页阅读：")); }
      slot.appendChild(body);
      var w = widget(q.id, q.title);
      slot.appendChild(w);
      if (after) slot.appendChild(after);
      if (focus) w.querySelector("button").focus();
      if (window.renderMathInElement && body.querySelector(".arithmatex")) {
        try { window.renderMathInElement(body); } catch (e) { /* formulas stay as TeX */ }
      }
    });
  }

  function todayQueue(t) {
    var seen = {}, due = [], fresh = [];
    data.questions.forEach(function (q) {
      if (seen[q.id]) return;
      seen[q.id] = true;
      var st = status(q.id, t);
      if (st.state === "due") due.push({ q: q, due: st.due });
      else if (st.state === "new") fresh.push(q);
    });
    due.sort(function (a, b) { return a.due - b.due || a.q.n - b.q.n; });
    return { due: due.map(function (d) { return d.q; }), fresh: fresh };
  }

  function initToday() {
    var countsP = document.getElementById("today-counts");
    var start = document.getElementById("today-start");
    var box = document.getElementById("today-card");
    if (!countsP || !start || !box) return;
    var queue = null, pos = 0;
    function drawCounts() {
      var qq = todayQueue(now());
      countsP.textContent = "今天到期 " + qq.due.length + " 道 · 新题 " + qq.fresh.length + " 道";
      countsP.setAttribute("data-due", qq.due.length);
      countsP.setAttribute("data-new", qq.fresh.length);
    }
    function show() {
      if (pos >= queue.length) {
        box.textContent = "";
        box.appendChild(el("p", "drill-done", "今天的复习做完了。"));
        start.hidden = false;
        start.textContent = "重新开始今日复习";
        return;
      }
      var q = queue[pos];
      var next = el("button", "md-button drill-next", pos + 1 < queue.length ? "下一题" : "结束");
      next.type = "button";
      next.addEventListener("click", function () { pos++; show(); });
      var head = el("p", "drill-pos", "第 " + (pos + 1) + " / " + queue.length + " 题" + (pos < queue.dueCount ? " · 到期" : " · 新题"));
      card(box, q, { head: head, extra: [next], focus: document.activeElement && box.contains(document.activeElement) });
    }
    start.addEventListener("click", function () {
      var qq = todayQueue(now());
      queue = qq.due.concat(qq.fresh);
      queue.dueCount = qq.due.length;
      pos = 0;
      start.hidden = true;
      show();
    });
    drawCounts();
    listeners.push(drawCounts);
  }

  /* random: weighted towards what needs practice (new, due or 不会: 3; 模糊: 2; 会 and not due: 1) */
  function weight(q, t) {
    var st = status(q.id, t);
    if (st.state !== "later") return 3;
    return st.rating === "good" ? 1 : st.rating === "hard" ? 2 : 3;
  }
  function initRandom() {
    var q = document.getElementById("drill-question"), metaP = document.getElementById("drill-meta");
    var a = document.getElementById("drill-answer"), seedOnly = document.getElementById("drill-seed-only");
    var nextB = document.getElementById("drill-next"), reveal = document.getElementById("drill-reveal");
    var slot = document.querySelector("#drill-random .drill-slot");
    if (!q || !nextB) return;
    var item = null;
    function pick() {
      var t = now();
      var pool = data.questions.filter(function (x) { return !seedOnly.checked || x.seed; });
      if (!pool.length) { q.textContent = "没有题目"; return; }
      var total = 0, ws = pool.map(function (x) { var w = weight(x, t); total += w; return w; });
      var r = Math.random() * total, i = 0;
      while (i < pool.length - 1 && r >= ws[i]) { r -= ws[i]; i++; }
      item = pool[i];
      q.textContent = item.title;
      metaP.textContent = meta(item);
      a.href = href(item);
      reveal.disabled = false;
      if (slot) slot.textContent = "";
    }
    nextB.addEventListener("click", pick);
    seedOnly.addEventListener("change", pick);
    reveal.addEventListener("click", function () {
      if (!item) return;
      var focused = document.activeElement === reveal;
      reveal.disabled = true;
      showAnswer(slot, item, null, focused);
    });
    listeners.push(function (id) { if (item && id === item.id) metaP.textContent = meta(item); });
    pick();
  }

  /* ---- mock interview ------------------------------------------------------------------ */
  /* `total` questions from `chapters`, `follow` of them follow-ups.  The others are seed
     questions (other ## questions only when the chapters have too few); a follow-up is, where
     possible, one of an asked question's own and comes right after it. */
  function compose(chapters, total, follow) {
    var inCh = data.questions.filter(function (x) { return chapters.indexOf(x.chapter) >= 0; });
    var seeds = shuffle(inCh.filter(function (x) { return x.seed; }));
    var others = shuffle(inCh.filter(function (x) { return x.kind === "q" && !x.seed; }));
    var fups = inCh.filter(function (x) { return x.kind === "f"; });
    follow = Math.min(follow, total);
    var mains = seeds.concat(others).slice(0, total - follow);
    var asked = {};
    mains.forEach(function (m) { asked[m.id] = true; });
    var own = shuffle(fups.filter(function (f) { return asked[f.parent]; }));
    var rest = shuffle(fups.filter(function (f) { return !asked[f.parent]; }))
      .concat(others.filter(function (x) { return !asked[x.id]; }));
    var chosen = own.concat(rest).slice(0, follow);
    if (mains.length + chosen.length < total) {
      /* too few follow-ups: more questions instead */
      var taken = {};
      chosen.forEach(function (f) { taken[f.id] = true; });
      seeds.concat(others).forEach(function (x) {
        if (mains.length + chosen.length < total && !asked[x.id] && !taken[x.id]) { mains.push(x); asked[x.id] = true; }
      });
    }
    var out = [];
    mains.forEach(function (m) {
      out.push(m);
      chosen.forEach(function (f) { if (f.parent === m.id) out.push(f); });
    });
    chosen.forEach(function (f) { if (!asked[f.parent]) out.push(f); });
    return out;
  }

  function initMock() {
    var form = document.getElementById("mock-form"), stage = document.getElementById("mock-stage");
    var err = document.getElementById("mock-error");
    if (!form || !stage) return;
    var run = null, tick = null;
    function num(id, lo, hi) {
      var v = parseInt(document.getElementById(id).value, 10);
      return isNaN(v) ? NaN : Math.max(lo, Math.min(hi, v));
    }
    function stopTimer() { if (tick) { clearInterval(tick); tick = null; } }
    function ask() {
      stopTimer();
      if (run.pos >= run.items.length) return summary();
      var q = run.items[run.pos], rec = run.log[run.pos] = { q: q, used: null, rating: null };
      var head = el("div", "mock-head");
      head.appendChild(el("span", "mock-pos", "第 " + (run.pos + 1) + " / " + run.items.length + " 题 · " + label(q)));
      var timer = el("span", "mock-timer");
      timer.setAttribute("role", "timer");
      timer.setAttribute("aria-label", "剩余时间");
      var bar = el("span", "mock-bar"), fill = el("span", "mock-fill");
      bar.appendChild(fill);
      head.appendChild(timer); head.appendChild(bar);
      var started = Date.now();
      function draw() {
        var used = (Date.now() - started) / 1000, left = run.seconds - used;
        timer.textContent = left >= 0 ? fmtSeconds(left) : "超时 " + fmtSeconds(-left);
        timer.classList.toggle("over", left < 0);
        fill.style.width = Math.max(0, Math.min(100, 100 * left / run.seconds)) + "%";
        return used;
      }
      draw();
      tick = setInterval(draw, 250);
      var next = el("button", "md-button mock-next", run.pos + 1 < run.items.length ? "下一题" : "看小结");
      next.type = "button";
      next.addEventListener("click", function () {
        if (rec.used == null) { rec.used = draw(); }
        run.pos++;
        ask();
      });
      var stop = el("button", "md-button mock-stop", "结束");
      stop.type = "button";
      stop.addEventListener("click", function () {
        if (rec.used == null) rec.used = draw();
        run.log = run.log.slice(0, run.pos + 1);
        run.pos = run.items.length;
        summary();
      });
      run.current = rec;
      var keyboard = document.activeElement && stage.contains(document.activeElement);
      card(stage, q, { head: head, after: next, extra: [stop], focus: keyboard, onReveal: function () {
        rec.used = draw();
        stopTimer();
        timer.classList.add("stopped");
        timer.textContent = "用时 " + fmtSeconds(rec.used);
      } });
      stage.scrollIntoView({ block: "nearest" });
    }
    /* what the reader rated this question in this round (an undo takes it back) */
    stage.addEventListener("rated", function () {
      var rec = run && run.current;
      if (!rec) return;
      var it = load().items[rec.q.id];
      rec.rating = it && sameDay(new Date(it.at), now()) ? it.rating : null;
    });
    function summary() {
      stopTimer();
      stage.textContent = "";
      var log = run.log.filter(Boolean);
      var c = { good: 0, hard: 0, again: 0, none: 0 }, used = 0;
      log.forEach(function (r) { c[r.rating || "none"]++; used += r.used || 0; });
      stage.appendChild(el("h3", "mock-title", "模拟面试小结"));
      stage.appendChild(el("p", "mock-summary", "共 " + log.length + " 题：会 " + c.good + " · 模糊 " + c.hard + " · 不会 " + c.again +
        (c.none ? " · 未自评 " + c.none : "") + " · 总用时 " + fmtSeconds(used) + "（每题限时 " + run.seconds + " 秒）"));
      var weak = log.filter(function (r) { return r.rating !== "good"; });
      if (weak.length) {
        stage.appendChild(el("p", null, "需要再看的回答："));
        var ul = el("ul", "mock-weak");
        weak.forEach(function (r) {
          var li = el("li"), a = el("a", null, r.q.title);
          a.href = href(r.q);
          li.appendChild(el("span", "mock-rating mock-" + (r.rating || "none"), r.rating ? RATINGS[r.rating].label : "未自评"));
          li.appendChild(a);
          li.appendChild(document.createTextNode("（" + r.q.page + "，用时 " + fmtSeconds(r.used || 0) + "）"));
          ul.appendChild(li);
        });
        stage.appendChild(ul);
      } else {
        stage.appendChild(el("p", null, "每道题都答上来了。"));
      }
      var again = el("button", "md-button md-button--primary", "再来一轮");
      again.type = "button";
      again.addEventListener("click", function () { form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit")); });
      stage.appendChild(again);
      form.hidden = false;
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      err.textContent = "";
      var chapters = Array.prototype.map.call(form.querySelectorAll("input[name=mock-chapter]:checked"), function (x) { return x.value; });
      var total = num("mock-total", 1, 30), follow = num("mock-follow", 0, 20), seconds = num("mock-seconds", 10, 600);
      if (!chapters.length) { err.textContent = "至少选一章。"; return; }
      if (isNaN(total) || isNaN(follow) || isNaN(seconds)) { err.textContent = "题数、追问数和限时都要填数字。"; return; }
      if (follow > total) { err.textContent = "追问数不能多于题数。"; return; }
      var items = compose(chapters, total, follow);
      if (!items.length) { err.textContent = "所选章节没有题目。"; return; }
      run = { items: items, pos: 0, seconds: seconds, log: [] };
      form.hidden = true;
      ask();
    });
  }

  /* ---- export, import, reset ------------------------------------------------------------ */
  function summaryText() {
    var items = load().items, ids = Object.keys(items), c = { good: 0, hard: 0, again: 0 };
    ids.forEach(function (id) { c[items[id].rating]++; });
    if (!ids.length) return "还没有自评记录。";
    return "已自评 " + ids.length + " 道：会 " + c.good + " · 模糊 " + c.hard + " · 不会 " + c.again + "。";
  }
  function exportJSON(t) {
    var s = load();
    return JSON.stringify({ format: FORMAT, schema: SCHEMA, exported: t.toISOString(), items: s.items }, null, 1);
  }
  /* Validate `text` completely before touching anything; merge entry by entry (newer wins). */
  function importJSON(text) {
    var parsed;
    if (text.length > 5e6) return { ok: false, msg: "文件太大（超过 5 MB），不像本书的进度文件。" };
    try { parsed = JSON.parse(text); } catch (e) { return { ok: false, msg: "无法读取：文件不是 JSON。" }; }
    var why = storeError(parsed);
    if (why) return { ok: false, msg: "没有导入：" + why + "。" };
    var items = JSON.parse(JSON.stringify(parsed.items));
    if (data) migrateItems(items, data.moved || {});
    var s = load(), added = 0, updated = 0, kept = 0, unknown = 0;
    Object.keys(items).forEach(function (id) {
      if (data && !byId[id]) unknown++;
      var mine = s.items[id];
      if (!mine) { s.items[id] = items[id]; added++; }
      else if (newer(items[id], mine)) { s.items[id] = items[id]; updated++; }
      else kept++;
    });
    if (!save()) return { ok: false, msg: "浏览器不允许保存（localStorage 不可用）。" };
    refresh(null);
    return { ok: true, msg: "已导入：新增 " + added + " 道，更新 " + updated + " 道，" + kept + " 道保留本机较新的记录" +
      (unknown ? "；其中 " + unknown + " 道在本书中已找不到，记录保留" : "") + "。" };
  }
  function initProgress() {
    var sum = document.getElementById("progress-summary"), msg = document.getElementById("progress-msg");
    var exp = document.getElementById("progress-export"), imp = document.getElementById("progress-import");
    var file = document.getElementById("progress-file"), reset = document.getElementById("progress-reset");
    if (!sum || !exp) return;
    function draw() { sum.textContent = summaryText(); }
    function say(text, bad) { msg.textContent = text; msg.classList.toggle("bad", !!bad); }
    exp.addEventListener("click", function () {
      var t = now();
      var blob = new Blob([exportJSON(t)], { type: "application/json" });
      var a = el("a");
      a.href = URL.createObjectURL(blob);
      a.download = "handbook-progress-" + t.getFullYear() + "-" + ("0" + (t.getMonth() + 1)).slice(-2) + "-" + ("0" + t.getDate()).slice(-2) + ".json";
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 10000);
      say("已导出 " + Object.keys(load().items).length + " 道题的记录（" + a.download + "）。");
    });
    imp.addEventListener("click", function () { file.click(); });
    file.addEventListener("change", function () {
      var f = file.files && file.files[0];
      if (!f) return;
      var reader = new FileReader();
      reader.onload = function () {
        var r = importJSON(String(reader.result));
        say(r.ok ? r.msg : r.msg + "进度没有改动。", !r.ok);
        file.value = "";
      };
      reader.onerror = function () { say("无法读取这个文件。进度没有改动。", true); file.value = ""; };
      reader.readAsText(f);
    });
    reset.addEventListener("click", function () {
      var n = Object.keys(load().items).length;
      if (!n) { say("没有可清空的记录。"); return; }
      if (!window.confirm("清空这台设备上全部 " + n + " 道题的自评记录？此操作不能撤销，可以先导出。")) { say("没有清空。"); return; }
      store = emptyStore();
      save();
      refresh(null);
      say("已清空。");
    });
    draw();
    listeners.push(draw);
  }

  function initDrill() {
    if (!document.getElementById("drill")) return;
    withData(function () { initToday(); initRandom(); initMock(); initProgress(); });
  }

  var started = false;
  function init() {
    if (started) return;
    started = true;
    initChapter();
    initIndex();
    initDrill();
  }

  window.HandbookPractice = { init: init, rate: rate, status: status, exportJSON: exportJSON, importJSON: importJSON, schema: SCHEMA };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
