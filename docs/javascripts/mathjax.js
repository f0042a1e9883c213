// MathJax settings for pymdownx.arithmatex (generic mode): \( … \) inline, \[ … \] display.
// MathJax itself and its fonts are served from this site (docs/assets/mathjax, MathJax 3.2.2,
// Apache-2.0), not from a CDN: the formulas render with no network.
(function () {
  var here = document.currentScript ? document.currentScript.src : window.location.href;
  var base = new URL("../assets/mathjax/", here).href;
  window.MathJax = {
    loader: { paths: { mathjax: base } },
    chtml: { fontURL: base + "fonts" },
    tex: {
      inlineMath: [["\\(", "\\)"]],
      displayMath: [["\\[", "\\]"]],
      processEscapes: true,
      processEnvironments: true
    },
    options: {
      ignoreHtmlClass: ".*|",
      // formulas in the text, and in the table of contents and nav (which hold headings as plain text)
      processHtmlClass: "arithmatex|md-ellipsis",
      enableMenu: false  // the menu's speech tools would fetch a speech engine from the network
    }
  };
})();

document$.subscribe(() => {
  MathJax.startup.output.clearCache()
  MathJax.typesetClear()
  MathJax.texReset()
  MathJax.typesetPromise()
})
