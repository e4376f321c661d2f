/* billdesk — the few behaviours the pages need. No dependencies; every page
 * works without it. Loaded with `defer` from base.html.
 *
 *   data-confirm="Text"            ask confirm() before the form is sent / the link followed
 *                                  (on an <option>: when it is the chosen one)
 *   (every page)                   remembers the browser's time zone in the billdesk_tz cookie
 *   data-fold-on-phone             <details open> closed on a narrow screen unless [data-keep-open]
 *   (every POST form)              submit buttons disabled after the first submit
 *   data-allow-resubmit            on a form: leave its buttons alone (downloads)
 *   data-select-all="name"         checkbox toggling every checkbox named "name"
 *   data-selected-count="name"     element showing how many of them are checked
 *   data-template-target="#id"     select whose <option data-body> is inserted in #id
 *   data-subject-source            textarea whose first line is the subject …
 *   data-subject-preview           … shown in this element
 *   data-quota-select              select whose <option data-quota data-price-warning> …
 *   data-quota-info                … fills this element, and shows/hides …
 *   data-price-warning             … this box (text goes in [data-price-warning-text] if present)
 */
(function () {
  "use strict";

  var SUBJECT_MAX = 100;

  function $all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }

  function cssEscape(value) {
    return window.CSS && CSS.escape ? CSS.escape(value) : String(value).replace(/["\\]/g, "\\$&");
  }

  /* (b) Confirmation ------------------------------------------------------ */

  // Buttons and links: a click is also what Enter in a field triggers on the
  // default button, so one click listener covers both.
  document.addEventListener("click", function (event) {
    var el = event.target.closest ? event.target.closest("[data-confirm]") : null;
    if (!el || el.tagName === "FORM") return;
    if (!window.confirm(el.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  /* (a) One submit per form ------------------------------------------------ */

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;

    if (form.hasAttribute("data-confirm")) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
        return;
      }
    }
    // A chosen <option data-confirm> (a bulk "Move to trash") asks too.
    var chosen = $all("select", form).map(function (select) {
      return select.options[select.selectedIndex];
    }).filter(function (option) { return option && option.hasAttribute("data-confirm"); });
    if (chosen.length && !window.confirm(chosen[0].getAttribute("data-confirm"))) {
      event.preventDefault();
      return;
    }
    if (event.defaultPrevented) return;

    var method = (form.getAttribute("method") || "get").toLowerCase();
    if (method !== "post" || form.hasAttribute("data-allow-resubmit")) return;

    if (form.dataset.submitting) {
      event.preventDefault();
      return;
    }
    form.dataset.submitting = "1";
    form.setAttribute("aria-busy", "true");
    // Disable after the browser has read the form, so the pressed button's
    // name/value is still sent.
    window.setTimeout(function () {
      $all('button[type="submit"], button:not([type]), input[type="submit"]', form).forEach(function (btn) {
        if (!btn.disabled) {
          btn.disabled = true;
          btn.setAttribute("data-disabled-by-submit", "");
        }
      });
    }, 0);
  });

  // Back/forward cache: the page comes back with buttons still disabled.
  window.addEventListener("pageshow", function () {
    $all("form[data-submitting]").forEach(function (form) {
      delete form.dataset.submitting;
      form.removeAttribute("aria-busy");
    });
    $all("[data-disabled-by-submit]").forEach(function (btn) {
      btn.disabled = false;
      btn.removeAttribute("data-disabled-by-submit");
    });
  });

  /* (c) Select all -------------------------------------------------------- */

  function boxesNamed(name) {
    return $all('input[type="checkbox"][name="' + cssEscape(name) + '"]');
  }

  function syncSelectAll(name) {
    var boxes = boxesNamed(name).filter(function (b) { return !b.disabled; });
    var checked = boxes.filter(function (b) { return b.checked; }).length;
    $all('input[type="checkbox"][data-select-all="' + cssEscape(name) + '"]').forEach(function (all) {
      all.checked = boxes.length > 0 && checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    });
    $all('[data-selected-count="' + cssEscape(name) + '"]').forEach(function (el) {
      // The page gives the words in its language, with {n} for the number.
      var text = el.getAttribute("data-selected-text") || "{n} selected";
      el.textContent = text.replace("{n}", String(checked));
    });
  }

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (!(el instanceof HTMLInputElement) || el.type !== "checkbox") return;
    var group = el.getAttribute("data-select-all");
    if (group) {
      boxesNamed(group).forEach(function (box) {
        if (!box.disabled) box.checked = el.checked;
      });
      syncSelectAll(group);
    } else if (el.name && document.querySelector('[data-select-all="' + cssEscape(el.name) + '"]')) {
      syncSelectAll(el.name);
    }
  });

  /* (d) Quick-reply templates --------------------------------------------- */

  // Remember whether the person has placed the cursor in a textarea; if not,
  // a template goes at the end instead of wherever the caret defaults to.
  document.addEventListener("focusin", function (event) {
    if (event.target instanceof HTMLTextAreaElement) event.target.dataset.touched = "1";
  });

  function insertAtCursor(textarea, text) {
    var value = textarea.value;
    var start = value.length;
    var end = value.length;
    if (textarea.dataset.touched && typeof textarea.selectionStart === "number") {
      start = textarea.selectionStart;
      end = textarea.selectionEnd;
    }
    var before = value.slice(0, start);
    if (before && !/\n\n$/.test(before) && start === value.length) {
      text = (/\n$/.test(before) ? "\n" : "\n\n") + text;
    }
    if (typeof textarea.setRangeText === "function") {
      textarea.setRangeText(text, start, end, "end");
    } else {
      textarea.value = before + text + value.slice(end);
    }
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    textarea.focus();
  }

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!(select instanceof HTMLSelectElement) || !select.hasAttribute("data-template-target")) return;
    var option = select.options[select.selectedIndex];
    var body = option ? option.getAttribute("data-body") : null;
    var target = document.querySelector(select.getAttribute("data-template-target"));
    if (body && target) insertAtCursor(target, body);
    select.selectedIndex = 0; // so the same template can be picked again
  });

  /* (e) New ticket: subject preview, quota and price warning --------------- */

  function subjectFrom(text) {
    var lines = String(text).split(/\r\n|\r|\n/);
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i].replace(/\s+/g, " ").trim();
      if (line) {
        var chars = Array.from(line); // count code points, as the server does
        return chars.length > SUBJECT_MAX ? chars.slice(0, SUBJECT_MAX - 1).join("") + "…" : line;
      }
    }
    return "";
  }

  function updateSubject(source) {
    var scope = source.form || document;
    var preview = scope.querySelector("[data-subject-preview]") || document.querySelector("[data-subject-preview]");
    if (!preview) return;
    var subject = subjectFrom(source.value);
    preview.textContent = subject;
    preview.classList.toggle("is-empty", !subject);
  }

  function updateQuota(select) {
    var scope = select.form || document;
    var pick = function (sel) { return scope.querySelector(sel) || document.querySelector(sel); };
    var option = select.options[select.selectedIndex];
    var quota = option ? option.getAttribute("data-quota") || "" : "";
    var warning = option ? option.getAttribute("data-price-warning") || "" : "";

    var info = pick("[data-quota-info]:not(option)");
    if (info) info.textContent = quota;

    var box = pick("[data-price-warning]:not(option)");
    if (box) {
      var text = box.querySelector("[data-price-warning-text]") || box;
      if (warning) text.textContent = warning;
      box.hidden = !warning;
      // A hidden, required "I accept the price" box must not block the form.
      $all("input, select, textarea, button", box).forEach(function (el) {
        el.disabled = !warning;
      });
    }
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea[data-subject-source]")) updateSubject(event.target);
  });
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-quota-select]")) updateQuota(event.target);
  });

  /* Page start ------------------------------------------------------------- */

  function init() {
    $all("textarea[data-subject-source]").forEach(updateSubject);
    $all("select[data-quota-select]").forEach(updateQuota);

    var groups = {};
    $all("[data-select-all]").forEach(function (el) { groups[el.getAttribute("data-select-all")] = true; });
    Object.keys(groups).forEach(syncSelectAll);

    // Bring the error summary into view (and to screen readers) unless
    // something else already asked for focus.
    var summary = document.querySelector("[data-form-errors]");
    if (summary && !document.querySelector("[autofocus]")) summary.focus();

    // On phones the nav is a scrolling strip: show the current item.
    var current = document.querySelector('.sidebar [aria-current="page"]');
    var strip = document.querySelector(".sidebar");
    if (current && strip && strip.scrollWidth > strip.clientWidth) {
      var offset = current.getBoundingClientRect().left - strip.getBoundingClientRect().left + strip.scrollLeft;
      strip.scrollLeft = Math.max(0, offset - strip.clientWidth / 2 + current.offsetWidth / 2);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
  /* Filter forms fold away on a phone ----------------------------------- */

  if (window.matchMedia && window.matchMedia("(max-width: 52rem)").matches) {
    $all("details[data-fold-on-phone]:not([data-keep-open])").forEach(function (details) {
      details.open = false;
    });
  }
  /* The browser's time zone, for people who have not chosen one -------- */

  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("billdesk_tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "billdesk_tz=" + encodeURIComponent(zone) +
        "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (ignored) { /* no Intl: times stay in UTC */ }
})();
