/* Prepare the print page for Chromium's PDF printer (scripts/build_pdf.py).
   The print page does not load Material's bundle, so this script does what the
   site's scripts would: render Mermaid diagrams (as inline SVG, so they print as
   vectors and are not hidden in a closed shadow root), render KaTeX formulas,
   and show every tab of a tabbed block under its own label.  When it is done it
   sets window.__pdfReady; problems go to window.__pdfErrors. */
(async function () {
  var errors = [];
  try {
    document.querySelectorAll(".tabbed-set").forEach(function (set) {
      var labels = set.querySelectorAll(":scope > .tabbed-labels > label");
      var blocks = set.querySelectorAll(":scope > .tabbed-content > .tabbed-block");
      blocks.forEach(function (block, i) {
        if (!labels[i]) return;
        var title = document.createElement("p");
        title.className = "pdf-tab-title";
        title.textContent = labels[i].textContent;
        block.prepend(title);
      });
    });

    if (window.katex) {
      document.querySelectorAll(".arithmatex").forEach(function (el) {
        var tex = el.textContent.trim().replace(/^\\\(|\\\)$/g, "").replace(/^\\\[|\\\]$/g, "");
        try { katex.render(tex, el, { displayMode: el.tagName === "DIV", throwOnError: true }); }
        catch (e) { errors.push("formula " + JSON.stringify(tex) + ": " + e); }
      });
    }

    var diagrams = Array.prototype.slice.call(document.querySelectorAll("pre.mermaid"));
    if (diagrams.length) {
      if (!window.mermaid) throw new Error("page has diagrams but mermaid.min.js did not load");
      mermaid.initialize({
        startOnLoad: false, securityLevel: "strict", theme: "neutral",
        fontFamily: '"Noto Sans CJK SC", "DejaVu Sans", sans-serif',
      });
      for (var i = 0; i < diagrams.length; i++) {
        var el = diagrams[i];
        try {
          var out = await mermaid.render("pdf-mermaid-" + i, el.textContent);
          var fig = document.createElement("div");
          fig.className = "pdf-diagram";
          fig.innerHTML = out.svg;
          el.replaceWith(fig);
        } catch (e) {
          errors.push("diagram " + i + " (" + el.textContent.slice(0, 40) + "…): " + e);
        }
      }
    }
    /* Diagrams (rendered here or at build time by hooks/mermaid_svg.py) print at 80 % of
       the size Mermaid lays out for the screen (16 px labels become 9.6 pt), never wider
       than the column nor taller than about 2/3 of a page. */
    document.querySelectorAll(".pdf-diagram > svg, .mermaid-static > svg").forEach(function (svg) {
      var box = svg.viewBox && svg.viewBox.baseVal;
      if (!box || !box.width || !box.height) return;
      var width = box.width * 0.8, maxHeight = 620;
      if (box.height * 0.8 > maxHeight) width = box.width * maxHeight / box.height;
      svg.setAttribute("width", "100%");
      svg.removeAttribute("height");
      svg.style.maxWidth = Math.round(width) + "px";
    });
    await document.fonts.ready;
  } catch (e) {
    errors.push(String(e && e.stack || e));
  }
  window.__pdfErrors = errors;
  window.__pdfReady = true;
})();
