/* The printable post-mortem's Print button (a file, not an inline handler, for the CSP). */
(function () {
  "use strict";
  document.querySelectorAll(".print-button").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
