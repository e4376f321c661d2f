/* billdesk desk — what the desk's pages add to billdesk.js. Every page works without it.
 *
 *   input[data-customer-picker="/url"]   suggests customers by name or e-mail (its <datalist>)
 *   [data-presence-url]                   the ticket page's heartbeat: who else has it open,
 *                                         and a notice when a new message arrived
 *   [data-keys-help]                      the keyboard help (<dialog>): j/k move in the queue,
 *                                         Enter opens, r replies, / searches, ? lists the keys;
 *                                         nothing fires while typing in a field
 *   ul[data-live-counts="/desk/live"]     the live queue: polled every data-live-seconds while
 *                                         the tab is visible; its departments' badges follow
 *                                         the counts, and when the version moved …
 *   [data-live-rows="/desk/rows?…"]       … the queue's rows are fetched again (same filters and
 *                                         page) and swapped in, keeping the ticked boxes, the
 *                                         keyboard's current row and what is on screen;
 *                                         [data-live-note] says what changed
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


  /* Live queue ----------------------------------------------------------------- */

  function updateBadges(list, counts) {
    var label = list.getAttribute("data-open-label") || "open";
    counts.forEach(function (item) {
      var entry = list.querySelector('[data-department-id="' + item.department_id + '"] a');
      if (!entry) return;
      var badge = entry.querySelector(".badge");
      if (!item.open) {
        if (badge) badge.remove();
        return;
      }
      if (!badge) {
        badge = document.createElement("span");
        badge.className = "badge badge--alert";
        var hidden = document.createElement("span");
        hidden.className = "visually-hidden";
        hidden.textContent = " " + label;
        badge.appendChild(document.createTextNode(""));
        badge.appendChild(hidden);
        entry.appendChild(badge);
      }
      badge.firstChild.nodeValue = String(item.open);
    });
  }

  function markCurrent(rows, row) {
    rows.forEach(function (each) { each.classList.remove("is-current"); each.removeAttribute("aria-current"); });
    if (!row) return;
    row.classList.add("is-current");
    row.setAttribute("aria-current", "true");
  }

  function rowWithId(rows, id) {
    for (var i = 0; i < rows.length; i++) if (rows[i].getAttribute("data-ticket-id") === id) return rows[i];
    return null;
  }

  // The first row still on screen, and where: after the swap it is put back there.
  function screenAnchor(rows) {
    for (var i = 0; i < rows.length; i++) {
      var top = rows[i].getBoundingClientRect().top;
      if (rows[i].getBoundingClientRect().bottom > 0) return { id: rows[i].getAttribute("data-ticket-id"), top: top };
    }
    return null;
  }

  // What a person reads in the results: the same text means nothing to swap or to say.
  function readable(root) {
    return root ? $all("table.queue tbody tr, nav.pagination", root).map(function (el) {
      return (el.getAttribute("data-ticket-id") || "") + el.textContent.replace(/\s+/g, " ");
    }).join("|") : "";
  }

  function swapRows(region, fresh, note) {
    if (readable(region.querySelector("[data-live-fragment]")) === readable(fresh)) return;
    var rows = queueRows();
    var index = currentIndex(rows);
    var currentId = index >= 0 ? rows[index].getAttribute("data-ticket-id") : null;
    var ticked = $all('input[name="ids"]:checked', region).map(function (box) { return box.value; });
    var anchor = screenAnchor(rows);
    var scrolled = window.scrollY;

    var oldFragment = region.querySelector("[data-live-fragment]");
    var oldBody = region.querySelector("table.queue tbody");
    var newBody = fresh.querySelector("table.queue tbody");
    if (oldBody && newBody && oldFragment) {
      // The bulk bar stays as the agent left it (the chosen action, a typed reason).
      oldBody.replaceWith(document.adoptNode(newBody));
      var oldPages = oldFragment.querySelector("nav.pagination");
      var newPages = fresh.querySelector("nav.pagination");
      if (oldPages && newPages) oldPages.replaceWith(document.adoptNode(newPages));
      else if (oldPages) oldPages.remove();
      else if (newPages) oldFragment.appendChild(document.adoptNode(newPages));
    } else if (oldFragment) {
      oldFragment.replaceWith(document.adoptNode(fresh));
    }

    var boxes = $all('input[name="ids"]', region);
    boxes.forEach(function (box) { if (ticked.indexOf(box.value) >= 0) box.checked = true; });
    if (boxes.length) boxes[0].dispatchEvent(new Event("change", { bubbles: true }));

    rows = queueRows();
    if (currentId !== null) {
      markCurrent(rows, rowWithId(rows, currentId) || rows[Math.min(index, rows.length - 1)]);
    }
    var again = anchor ? rowWithId(rows, anchor.id) : null;
    if (again) window.scrollBy(0, again.getBoundingClientRect().top - anchor.top);
    else window.scrollTo(window.scrollX, scrolled);

    var text = fresh.getAttribute("data-note") || "";
    if (note && text) note.textContent = text;
  }

  function liveQueue(list) {
    var seconds = parseFloat(list.getAttribute("data-live-seconds")) || 10;
    var region = document.querySelector("[data-live-rows]");
    var note = document.querySelector("[data-live-note]");
    var version = region ? region.getAttribute("data-live-version") : null;
    var timer = null;
    var asking = false;

    function later(delay) {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, delay);
    }

    function fetchRows(newVersion) {
      var rows = queueRows().map(function (row) { return row.getAttribute("data-ticket-id"); });
      var url = region.getAttribute("data-live-rows") + "&shown=" + encodeURIComponent(rows.join(","));
      return fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" })
        .then(function (answer) { return answer.ok ? answer.text() : null; })
        .then(function (html) {
          if (html === null) return;
          var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-live-fragment]");
          if (!fresh) return;
          swapRows(region, fresh, note);
          version = newVersion;
        });
    }

    function ask() {
      // A hidden tab asks nothing; it asks at once when shown again.
      if (asking || document.visibilityState === "hidden") return;
      asking = true;
      fetch(list.getAttribute("data-live-counts"), {
        headers: { Accept: "application/json" }, credentials: "same-origin"
      }).then(function (answer) { return answer.ok ? answer.json() : null; })
        .then(function (data) {
          if (!data) return null;
          updateBadges(list, data.counts || []);
          if (data.refresh_seconds) seconds = data.refresh_seconds;
          if (region && data.version !== version) return fetchRows(data.version);
          return null;
        })
        .catch(function () { /* the next round asks again */ })
        .then(function () {
          asking = false;
          later(seconds * 1000);
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") later(0);
      else window.clearTimeout(timer);
    });
    later(seconds * 1000);
  }

  function init() {
    $all("input[data-customer-picker]").forEach(pickerFor);
    $all("[data-presence-url]").forEach(presenceFor);
    $all("ul[data-live-counts]").slice(0, 1).forEach(liveQueue);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
