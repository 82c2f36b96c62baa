/* Run the page's Python examples in the browser with Pyodide, served by the site itself.
   Nothing heavy loads until the first click on 运行: then Pyodide (about 13 MB) and
   the snippets/ modules are fetched once per page.  All blocks of a page share one
   namespace, as under the test suite (Sybil): running a block first runs the
   blocks above it that have not run yet.  pycon blocks are run example by example
   and echo values like the interactive interpreter, so the output can be compared
   with the expected output printed on the page. */
(function () {
  "use strict";
  var me = document.currentScript && document.currentScript.src;
  var ASSETS = me ? me.replace(/js\/runner\.js(\?.*)?$/, "") : "assets/";
  var FILE_MSG = "浏览器不允许从 file:// 加载 WebAssembly，所以离线版直接打开时不能运行示例。" +
    "请在解压出的 handbook-offline 目录里运行：python3 -m http.server 8000，然后访问 http://127.0.0.1:8000/";
  var RUNNER_PY = [
    "import sys, io, doctest, contextlib, traceback",
    "sys.path.insert(0, '/home/pyodide/snippets')",
    "_handbook_ns = {}",
    "def _handbook_run(src, page):",
    "    ns = _handbook_ns.setdefault(page, {'__name__': '__page__'})",
    "    out = io.StringIO()",
    "    if src.lstrip().startswith('>>>'):",
    "        for ex in doctest.DocTestParser().get_examples(src):",
    "            with contextlib.redirect_stdout(out):",
    "                try:",
    "                    exec(compile(ex.source, '<example>', 'single'), ns)",
    "                except Exception as e:",
    "                    print('Traceback (most recent call last):\\n  ...')",
    "                    print(''.join(traceback.format_exception_only(type(e), e)), end='')",
    "    else:",
    "        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):",
    "            try:",
    "                exec(compile(src, '<block>', 'exec'), ns)",
    "            except Exception:",
    "                traceback.print_exc()",
    "    return out.getvalue()",
    "def _handbook_import(mod, page):",
    "    import importlib",
    "    ns = _handbook_ns.setdefault(page, {'__name__': '__page__'})",
    "    ns.update({k: v for k, v in vars(importlib.import_module(mod)).items() if not k.startswith('__')})",
  ].join("\n");

  var ready = null;
  function pyodide() {
    if (ready) return ready;
    ready = (async function () {
      if (location.protocol === "file:") throw new Error(FILE_MSG);
      var mod = await import(ASSETS + "vendor/pyodide/pyodide.mjs");
      var py = await mod.loadPyodide({ indexURL: ASSETS + "vendor/pyodide/" });
      var names = await (await fetch(ASSETS + "snippets/manifest.json")).json();
      py.FS.mkdirTree("/home/pyodide/snippets");
      await Promise.all(names.map(async function (n) {
        var text = await (await fetch(ASSETS + "snippets/" + n)).text();
        py.FS.writeFile("/home/pyodide/snippets/" + n, text);
      }));
      py.runPython(RUNNER_PY);
      return py;
    })();
    ready.catch(function () { ready = null; });
    return ready;
  }

  async function runSource(src, module) {
    var py = await pyodide();
    if (module) {            // a block that shows a section of snippets/MODULE.py
      var imp = py.globals.get("_handbook_import");
      try { imp(module, location.pathname); } finally { imp.destroy(); }
      if (src === null) return "（已导入 snippets/" + module + ".py）";
    }
    var fn = py.globals.get("_handbook_run");
    try { return fn(src, location.pathname); } finally { fn.destroy(); }
  }

  function setup() {
    var article = document.querySelector(".md-content article");
    if (!article || article.dataset.runnerReady) return;
    article.dataset.runnerReady = "1";
    var blocks = [].slice.call(article.querySelectorAll("div.language-python.highlight, div.language-pycon.highlight, div.language-py.highlight"));
    var state = blocks.map(function (div) {
      var code = div.querySelector("pre > code");
      var title = div.querySelector(".filename");
      var m = title && /snippets\/(\w+)\.py/.exec(title.textContent);
      return { div: div, original: code ? code.textContent : "", ran: false, editor: null, module: m ? m[1] : null };
    });
    /* An included section (title snippets/X.py) may be a method or use the module's
       imports, so unedited it runs as "import the module"; edited, it runs on top of it. */
    function source(s) { return s.editor ? s.editor.value : (s.module ? null : s.original); }
    state.forEach(function (s, i) {
      var bar = document.createElement("div");
      bar.className = "runner-bar";
      var run = button("运行", "md-button md-button--primary runner-run");
      var edit = button("编辑", "md-button runner-edit");
      var reset = button("重置", "md-button runner-reset");
      var out = document.createElement("pre");
      out.className = "runner-output"; out.hidden = true; out.setAttribute("aria-live", "polite");
      bar.append(run, edit, reset);
      s.div.after(bar); bar.after(out);
      run.addEventListener("click", async function () {
        run.disabled = true; out.hidden = false;
        out.textContent = ready ? "运行中……" : "正在加载 Python（Pyodide，首次约 13 MB）……";
        try {
          for (var j = 0; j < i; j++) {          // the page's earlier blocks, once, silently
            if (!state[j].ran) { await runSource(source(state[j]), state[j].module); state[j].ran = true; }
          }
          var text = await runSource(source(s), s.module);
          s.ran = true;
          out.textContent = text === "" ? "（运行完毕，没有输出）" : text;
          out.dataset.done = "1";
        } catch (e) {
          out.textContent = String(e && e.message || e);
          out.dataset.done = "error";
        } finally { run.disabled = false; }
      });
      edit.addEventListener("click", function () {
        if (s.editor) return;
        var ta = document.createElement("textarea");
        ta.className = "runner-editor"; ta.value = s.original; ta.spellcheck = false;
        ta.rows = Math.min(30, s.original.split("\n").length + 1);
        s.div.hidden = true; s.div.after(ta); s.editor = ta; ta.focus();
      });
      reset.addEventListener("click", function () {
        if (s.editor) { s.editor.remove(); s.editor = null; s.div.hidden = false; }
        out.hidden = true; out.textContent = "";
      });
    });
    calculators(article);
  }

  function button(label, cls) {
    var b = document.createElement("button");
    b.type = "button"; b.className = cls; b.textContent = label;
    return b;
  }

  /* <div class="pycalc" data-code="..."> with named inputs: the inputs become Python
     str variables, the code prints the answer. */
  function calculators(root) {
    root.querySelectorAll(".pycalc").forEach(function (form) {
      var go = button("计算", "md-button md-button--primary pycalc-run");
      var out = document.createElement("pre");
      out.className = "pycalc-output"; out.hidden = true;
      form.append(go, out);
      go.addEventListener("click", async function () {
        go.disabled = true; out.hidden = false; out.textContent = ready ? "计算中……" : "正在加载 Python（Pyodide）……";
        var lines = [];
        form.querySelectorAll("input[name], select[name]").forEach(function (el) {
          var v = el.type === "checkbox" ? (el.checked ? "1" : "") : el.value;
          lines.push(el.name + " = " + JSON.stringify(v));
        });
        lines.push("try:");
        form.dataset.code.split("\n").forEach(function (l) { lines.push("    " + l); });
        lines.push("except ValueError as e:\n    print('输入有误：', e)");
        lines.push("except SystemExit:\n    pass");      // the snippets' CLIs exit 2 after printing the reason
        try {
          var py = await pyodide();
          var fn = py.globals.get("_handbook_run");
          try { out.textContent = fn(lines.join("\n"), "calc:" + location.pathname); } finally { fn.destroy(); }
          out.dataset.done = "1";
        } catch (e) { out.textContent = String(e && e.message || e); out.dataset.done = "error"; }
        finally { go.disabled = false; }
      });
    });
  }

  /* The buttons are not needed for the first paint: add them when the browser is idle. */
  function later() { (window.requestIdleCallback || function (f) { setTimeout(f, 200); })(setup); }
  if (typeof document$ !== "undefined") document$.subscribe(later);
  else document.addEventListener("DOMContentLoaded", later);
})();
