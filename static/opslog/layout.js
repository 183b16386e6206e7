// Marks each sideways-scrolling table box that is wider than its room, so the CSS shows
// "Scroll sideways for more →" above it; the mark follows resizes.
(function () {
  "use strict";
  var boxes = document.querySelectorAll(".table-scroll");
  if (!boxes.length) return;
  function mark(box) {
    box.classList.toggle("overflowing", box.scrollWidth > box.clientWidth + 1);
  }
  if ("ResizeObserver" in window) {
    var observer = new ResizeObserver(function (entries) {
      entries.forEach(function (entry) { mark(entry.target); });
    });
    boxes.forEach(function (box) { observer.observe(box); });
  } else {
    var markAll = function () { boxes.forEach(mark); };
    window.addEventListener("resize", markAll);
    markAll();
  }
})();
