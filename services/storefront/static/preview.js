// Shows the chosen logo before it is uploaded. The upload works without it.
(function () {
  "use strict";
  var input = document.getElementById("logo");
  var preview = document.getElementById("logo-preview");
  if (!input || !preview) { return; }
  input.addEventListener("change", function () {
    var file = input.files && input.files[0];
    if (!file) { return; }
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
  });
})();
