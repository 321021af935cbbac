// Card tokenization: the card goes from this browser straight to the payment gateway
// (POST <tokenize-url>/tokens?appId=<public key>); only the token is posted to Summit.
// The card inputs have no name, so the form can never carry them.
(function () {
  "use strict";
  var form = document.getElementById("checkout");
  if (!form) { return; }
  var busy = false;
  var error = document.getElementById("checkout-error");
  function show(message) { error.textContent = message; error.hidden = false; }
  function value(id) { return document.getElementById(id).value.trim(); }
  form.addEventListener("submit", function (event) {
    var token = document.getElementById("card_token");
    if (token.value) { return; }            // tokenized: let the form go
    event.preventDefault();
    if (busy) { return; }                   // a double click while tokenizing
    busy = true;
    var button = document.getElementById("place-order");
    button.disabled = true;
    var url = form.dataset.tokenizeUrl + "/tokens?appId=" + encodeURIComponent(form.dataset.publicKey);
    fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ type: "card", card: {
        number: value("card_number").replace(/\s+/g, ""),
        holder_name: value("card_holder"),
        exp_month: parseInt(value("card_exp_month"), 10),
        exp_year: parseInt(value("card_exp_year"), 10),
        cvv: value("card_cvv")
      } })
    }).then(function (response) {
      if (!response.ok) { throw new Error("tokenization refused"); }
      return response.json();
    }).then(function (answer) {
      token.value = answer.id;
      form.submit();                        // submit() fires no submit event: posts once
    }).catch(function () {
      busy = false;
      button.disabled = false;
      show(form.dataset.cardError);
    });
  });
})();
