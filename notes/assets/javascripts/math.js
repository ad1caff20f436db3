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
if (typeof document$ !== "undefined") {
  document$.subscribe(kbRenderMath);
} else {
  document.addEventListener("DOMContentLoaded", kbRenderMath);
}
