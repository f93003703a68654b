// The dashboard's only script: served locally. Refreshes pages while a run is in progress
// and asks for confirmation before promote / roll back.
(function () {
  "use strict";
  var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (seconds > 0) {
    window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
  }
  document.querySelectorAll("form.confirm").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var question = form.getAttribute("data-confirm") || "Are you sure?";
      if (!window.confirm(question)) { event.preventDefault(); }
    });
  });
})();
