// The card payment of an order: Stripe's payment form in the page, confirmed with the
// order's client secret; Stripe then sends the customer back to the store's return page.
(function () {
  "use strict";
  var form = document.getElementById("stripe-payment");
  if (!form || typeof window.Stripe !== "function") {
    return;
  }
  var message = document.getElementById("stripe-message");
  var stripe = window.Stripe(form.dataset.key);
  var elements = stripe.elements({ clientSecret: form.dataset.secret });
  elements.create("payment").mount("#stripe-element");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    stripe
      .confirmPayment({ elements: elements, confirmParams: { return_url: form.dataset.return } })
      .then(function (result) {
        // Only reached when the payment could not be confirmed (otherwise the browser
        // has gone to the return page).
        if (result.error) {
          message.textContent = result.error.message || "The payment did not go through.";
          message.hidden = false;
        }
        button.disabled = false;
      });
  });
})();
