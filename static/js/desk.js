/* billdesk desk — what the desk's pages add to billdesk.js. Every page works without it.
 *
 *   input[data-customer-picker="/url"]   suggests customers by name or e-mail (its <datalist>)
 *   [data-presence-url]                   the ticket page's heartbeat: who else has it open,
 *                                         and a notice when a new message arrived
 *   [data-keys-help]                      the keyboard help (<dialog>): j/k move in the queue,
 *                                         Enter opens, r replies, / searches, ? lists the keys;
 *                                         nothing fires while typing in a field
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

  /* Presence on the ticket page ------------------------------------------------ */

  function presenceFor(box) {
    var url = box.getAttribute("data-presence-url");
    var seen = parseInt(box.getAttribute("data-last-message-id"), 10) || 0;
    var viewers = box.querySelector("[data-presence-viewers]");
    var arrived = box.querySelector("[data-presence-new]");
    var label = viewers.getAttribute("data-label") || "Also viewing:";
    var writing = viewers.getAttribute("data-writing") || "writing a reply";
    var reply = document.querySelector("textarea[name=body]");
    function beat() {
      var typing = reply && reply.value.trim() ? "1" : "0";
      fetch(url + "?typing=" + typing, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (answer) { return answer.ok ? answer.json() : null; })
        .then(function (data) {
          if (!data) return;
          viewers.textContent = data.viewers.length ? label + " " + data.viewers.map(function (v) {
            return v.name + (v.typing ? " (" + writing + ")" : "");
          }).join(", ") : "";
          if (data.last_message_id && data.last_message_id > seen) arrived.hidden = false;
          window.setTimeout(beat, (data.refresh_seconds || 10) * 1000);
        })
        .catch(function () { window.setTimeout(beat, 30000); });
    }
    window.setTimeout(beat, 3000);
  }

  /* Keyboard ----------------------------------------------------------------- */

  function typingInField(event) {
    var el = event.target;
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function queueRows() {
    return $all("table.queue tbody tr");
  }

  function select(rows, index) {
    rows.forEach(function (row) { row.classList.remove("is-current"); row.removeAttribute("aria-current"); });
    var row = rows[index];
    if (!row) return;
    row.classList.add("is-current");
    row.setAttribute("aria-current", "true");
    row.scrollIntoView({ block: "nearest" });
  }

  function currentIndex(rows) {
    for (var i = 0; i < rows.length; i++) if (rows[i].classList.contains("is-current")) return i;
    return -1;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typingInField(event)) return;
    var help = document.querySelector("[data-keys-help]");
    var rows = queueRows();
    var index = currentIndex(rows);
    if (event.key === "j" && rows.length) {
      select(rows, Math.min(index + 1, rows.length - 1));
    } else if (event.key === "k" && rows.length) {
      select(rows, Math.max(index - 1, 0));
    } else if (event.key === "Enter" && index >= 0) {
      var link = rows[index].querySelector("a[href^='/desk/tickets/']");
      if (link) window.location.href = link.getAttribute("href");
    } else if (event.key === "r") {
      var reply = document.querySelector("textarea[name=body]");
      if (!reply) return;
      reply.focus();
    } else if (event.key === "/") {
      var box = document.querySelector("input[name=q]");
      if (!box) return;
      var details = box.closest("details");
      if (details) details.open = true;
      box.focus();
      box.select();
    } else if (event.key === "?" && help) {
      if (help.open) help.close(); else help.showModal();
    } else {
      return;
    }
    event.preventDefault();
  });

  function init() {
    $all("input[data-customer-picker]").forEach(pickerFor);
    $all("[data-presence-url]").forEach(presenceFor);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
