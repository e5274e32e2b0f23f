// Wide equations (display or inline) and markdown tables scroll sideways in their own box (site.css). A
// keyboard user must be able to reach such a box to scroll it, so each one that overflows gets
// tabindex="0", as the theme does for code blocks and cell outputs. MathJax typesets after the
// page has loaded, so the boxes are checked again whenever the article changes or the window
// is resized. A figure wider than the column scrolls in its cell's box as well; that
// cell gets the class "wide-output", and site.css writes a hint above the figure to swipe sideways.
(() => {
  const selector = "div.math, mjx-container, .pst-scrollable-table-container";
  const mark = () => {
    for (const box of document.querySelectorAll(selector)) {
      if (box.scrollWidth > box.clientWidth + 1) {
        box.setAttribute("tabindex", "0");
      } else {
        box.removeAttribute("tabindex");
      }
    }
    for (const cell of document.querySelectorAll(".bd-article div.cell_output")) {
      const boxes = [cell, ...cell.querySelectorAll(":scope > .output")];
      const wide = boxes.some((box) => box.scrollWidth > box.clientWidth + 1);
      cell.classList.toggle("wide-output", wide && cell.querySelector("img") !== null);
    }
  };
  let timer = null;
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(mark, 100);
  };
  window.addEventListener("resize", later);
  window.addEventListener("load", mark);
  // A figure that loads lazily takes its full width only once it arrives.
  document.addEventListener("load", (event) => { if (event.target.tagName === "IMG") later(); }, true);
  // A figure in a folded solution is laid out only when the reader opens it.
  document.addEventListener("toggle", later, true);
  document.addEventListener("DOMContentLoaded", () => {
    mark();
    const article = document.querySelector("article") || document.body;
    new MutationObserver(later).observe(article, { childList: true, subtree: true });
  });
})();
