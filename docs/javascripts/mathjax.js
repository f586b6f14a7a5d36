// MathJax settings for the math that pymdownx.arithmatex (generic mode) leaves in the
// pages: \( ... \) inline and \[ ... \] displayed, inside elements of class "arithmatex".
// MathJax itself is served from the site (javascripts/mathjax/, added by
// docs/hooks/mathjax.py), so nothing is fetched from the network.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};

// Typeset again when Material swaps the page in place (navigation.instant).
document$.subscribe(() => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => {
      MathJax.typesetClear();
      MathJax.texReset();
      return MathJax.typesetPromise();
    });
  }
});
