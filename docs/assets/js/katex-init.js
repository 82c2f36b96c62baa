/* Render arithmatex (generic mode) formulas with the site's own KaTeX.
   Material re-emits document$ on every page load, so we render on each. */
(function () {
  function render(root) {
    root.querySelectorAll(".arithmatex").forEach(function (el) {
      var tex = el.textContent.trim();
      var display = el.tagName === "DIV";
      tex = tex.replace(/^\\\(|\\\)$/g, "").replace(/^\\\[|\\\]$/g, "");
      try { katex.render(tex, el, { displayMode: display, throwOnError: false }); }
      catch (e) { el.title = String(e); }
    });
  }
  if (typeof document$ !== "undefined") { document$.subscribe(function () { render(document.body); }); }
  else { document.addEventListener("DOMContentLoaded", function () { render(document.body); }); }
})();
