// Typeset math with the KaTeX shipped in this site (no CDN). Arithmatex wraps page math in
// .arithmatex as \( \) and \[ \]; rendered notebooks keep $ and $$ in .jp-RenderedMarkdown.
// document$ is Material's page-load observable, so this also runs after instant navigation.
function kbRenderMath() {
  const options = {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "\\[", right: "\\]", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
    ],
    throwOnError: false,
  };
  document.querySelectorAll(".arithmatex, .jp-RenderedMarkdown, .jp-RenderedHTMLCommon").forEach(function (el) {
    renderMathInElement(el, options);
  });
}

// A box that scrolls sideways (a wide table, code, an output) gets the class kb-scroll-x, which caps
// its height at the viewport's (kb.css): its horizontal scrollbar is then always on screen, not at the
// foot of a table thousands of pixels down.
function kbMarkScrollBoxes() {
  const boxes = ".md-typeset__scrollwrap, .md-typeset pre > code, .md-typeset .kb-output, .md-typeset .katex-display";
  document.querySelectorAll(boxes).forEach(function (el) {
    el.classList.toggle("kb-scroll-x", el.scrollWidth > el.clientWidth + 1);
  });
}

function kbPage() {
  kbRenderMath();
  kbMarkScrollBoxes();
}
if (typeof document$ !== "undefined") {
  document$.subscribe(kbPage);
} else {
  document.addEventListener("DOMContentLoaded", kbPage);
}
window.addEventListener("resize", kbMarkScrollBoxes);
