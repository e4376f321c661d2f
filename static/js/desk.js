/* billdesk desk — what the desk's pages add to billdesk.js. Every page works without it.
 *
 *   input[data-customer-picker="/url"]   suggests customers by name or e-mail (its <datalist>)
 */
(function () {
  "use strict";

  function $all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }

  /* Customer picker --------------------------------------------------------- */

  function pickerFor(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    var asked = "";
    input.addEventListener("input", function () {
      var typed = input.value.trim();
      if (timer) window.clearTimeout(timer);
      if (typed.length < 2 || typed === asked || /<[^>]+>$/.test(typed)) return;
      timer = window.setTimeout(function () {
        asked = typed;
        fetch(input.getAttribute("data-customer-picker") + "?q=" + encodeURIComponent(typed), {
          headers: { Accept: "application/json" }, credentials: "same-origin"
        }).then(function (answer) { return answer.ok ? answer.json() : { items: [] }; })
          .then(function (data) {
            list.textContent = "";
            data.items.forEach(function (customer) {
              var option = document.createElement("option");
              option.value = customer.name + " <" + customer.email + ">";
              list.appendChild(option);
            });
          })
          .catch(function () { /* suggestions are a convenience; typing still works */ });
      }, 200);
    });
  }

  function init() {
    $all("input[data-customer-picker]").forEach(pickerFor);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
