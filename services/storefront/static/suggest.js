// Suggestions as you type: fills the search box's <datalist> from /suggest. Search works
// without it.
(function () {
  "use strict";
  var input = document.querySelector("input[data-suggest]");
  if (!input) { return; }
  var list = document.getElementById(input.getAttribute("list"));
  var timer = null;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = input.value.trim();
      if (q.length < 2) { return; }
      fetch(input.dataset.suggest + "?q=" + encodeURIComponent(q))
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (names) {
          list.replaceChildren();
          names.forEach(function (name) {
            var option = document.createElement("option");
            option.value = name;
            list.appendChild(option);
          });
        }).catch(function () {});
    }, 150);
  });
})();
