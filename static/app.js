// Opener Market's few behaviours on top of htmx. Every page works without
// this file; it makes answers land where the eye is (docs/HTTP.md, "Answers: page, fragment or JSON").
(function () {
  'use strict';
  document.documentElement.classList.add('js');

  // --- Errors keep you going --------------------------------------------
  // An error answer (4xx/5xx) to an htmx request is shown in the message area
  // next to the control that sent it, never over the control: the nearest
  // [data-messages] element, searching outwards from the control; one is
  // made after the control's form when the page has none. Answers that are
  // not the shop's error fragment (a claim outcome, a form shown again with
  // its field messages) still go where the control said.
  function findArea(elt) {
    for (var n = elt; n && n !== document.body; n = n.parentElement) {
      if (n.matches('[data-messages]')) return n;
      var found = n.querySelector('[data-messages]');
      if (found) return found;
    }
    return null;
  }

  function messageArea(elt) {
    var found = findArea(elt);
    if (found) return found;
    var anchor = elt.closest('form') || elt;
    var area = document.createElement('div');
    area.setAttribute('data-messages', '');
    area.className = 'messages';
    anchor.insertAdjacentElement('afterend', area);
    return area;
  }

  function isErrorFragment(body) {
    return /^\s*<[a-z]+[^>]*\sdata-error[\s>=]/i.test(body || '');
  }

  // An answer for the control's own target (a claim's outcome) starts with
  // an element that names it in data-result.
  function isAnswerFragment(body) {
    return /^\s*<[a-z]+[^>]*\sdata-result[\s>=]/i.test(body || '');
  }

  document.addEventListener('htmx:beforeSwap', function (e) {
    var d = e.detail;
    var status = d.xhr ? d.xhr.status : 0;
    if (status < 400) {
      skipUnchanged(d);
      return;
    }
    var elt = d.requestConfig && d.requestConfig.elt;
    if (!elt || !elt.isConnected) return;
    if (!isErrorFragment(d.serverResponse)) {
      if (status < 500) return;
      if (isAnswerFragment(d.serverResponse)) {
        // The shop's own answer for the control's target (a claim it could
        // not confirm, with its Try again): shown where the control said.
        d.shouldSwap = true;
        d.isError = false;
        return;
      }
      // A 5xx from something in front of the shop (a proxy page): say it plainly.
      d.serverResponse = '<p class="flash flash-error" role="alert" data-error>The shop did not answer. Please try again.</p>';
    }
    d.target = messageArea(elt);
    d.swapOverride = 'innerHTML';
    d.shouldSwap = true;
    d.isError = false;
    d.target.setAttribute('data-focus-message', '');
  });

  // A polled region (the dashboard) whose words did not change is left alone,
  // so its live region does not read the same numbers out every 2 seconds.
  function skipUnchanged(d) {
    var t = d.target;
    if (!t || !t.hasAttribute || !t.hasAttribute('data-swap-if-changed')) return;
    var tpl = document.createElement('template');
    tpl.innerHTML = d.serverResponse || '';
    if (tpl.content.textContent.replace(/\s+/g, ' ').trim() === t.textContent.replace(/\s+/g, ' ').trim()) {
      d.shouldSwap = false;
    }
  }

  // The request never reached the shop (offline, connection dropped).
  document.addEventListener('htmx:sendError', function (e) {
    var elt = e.detail.elt;
    if (!elt || !elt.isConnected) return;
    var area = messageArea(elt);
    area.innerHTML = '<p class="flash flash-error" role="alert" data-error>Could not reach the shop. Check your connection and try again.</p>';
    focusMessage(area);
  });

  function focusMessage(area) {
    var msg = area.querySelector('[data-error]') || area.firstElementChild;
    if (!msg) return;
    msg.setAttribute('tabindex', '-1');
    msg.focus();
  }

  // A new answer clears the message a control showed before.
  document.addEventListener('htmx:beforeRequest', function (e) {
    var elt = e.detail.elt;
    if (!elt || !elt.isConnected) return;
    var area = findArea(elt);
    if (area && area.querySelector('[data-error]')) area.innerHTML = '';
    disableSubmits(elt);
  });

  // --- Buttons are disabled while their request is in flight -------------
  function disableSubmits(elt) {
    var form = elt.tagName === 'FORM' ? elt : null;
    if (!form) return;
    var buttons = form.querySelectorAll('button[type=submit]:not([disabled]), button:not([type]):not([disabled])');
    buttons.forEach(function (b) { b.disabled = true; b.setAttribute('data-busy', ''); });
  }

  document.addEventListener('htmx:afterRequest', function (e) {
    var elt = e.detail.elt;
    if (!elt || elt.tagName !== 'FORM') return;
    elt.querySelectorAll('button[data-busy]').forEach(function (b) { b.disabled = false; b.removeAttribute('data-busy'); });
  });

  document.addEventListener('htmx:afterSettle', function (e) {
    var t = e.detail.target;
    if (t && t.hasAttribute && t.hasAttribute('data-focus-message')) {
      t.removeAttribute('data-focus-message');
      focusMessage(t);
      return;
    }
    // After paging, keyboard and screen-reader users start at the new list.
    var elt = e.detail.requestConfig && e.detail.requestConfig.elt;
    if (t && t.id === 'results' && elt && elt.closest && elt.closest('.pager')) {
      t.focus({ preventScroll: true });
    }
  });

  // --- Search: the controls follow the URL ------------------------------
  // htmx restores a page from its history snapshot, which keeps the markup
  // but not what was chosen in the controls; set them from the address.
  function syncFromLocation(selector) {
    var params = new URLSearchParams(location.search);
    document.querySelectorAll(typeof selector === 'string' ? selector : 'form[data-sync-url], form.search').forEach(function (form) {
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!el.name || el.type === 'submit' || el.type === 'button' || el.type === 'hidden') return;
        var v = params.get(el.name);
        if (el.type === 'checkbox') {
          el.checked = v !== null && v !== '' && v !== '0' && v !== 'false';
        } else if (el.tagName === 'SELECT') {
          if (v === null) {
            var def = Array.prototype.find.call(el.options, function (o) { return o.defaultSelected; });
            el.value = def ? def.value : el.options.length ? el.options[0].value : '';
          } else {
            el.value = v;
          }
        } else {
          el.value = v === null ? '' : v;
        }
      });
    });
  }
  document.addEventListener('htmx:historyRestore', syncFromLocation);
  // The keyword box searches as it is typed in (after a pause). Its change
  // event, on blur, would search once more, racing whatever click caused
  // the blur: "Next page" pressed right after typing came back as page 1.
  document.addEventListener('change', function (e) {
    if (e.target && e.target.id === 'f-q') e.stopPropagation();
  }, true);
  // A new search from the page's own box shows in the header's box too
  // (not the other way round: the page's box may still be being typed in).
  document.addEventListener('htmx:pushedIntoHistory', function () {
    if (location.pathname === '/products') syncFromLocation('form.search');
  });
  window.addEventListener('pageshow', function (e) { if (e.persisted) syncFromLocation(); });

  // --- The header's Log in and Sign up come back to this page ------------
  document.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('.site-nav a[href="/login"], .site-nav a[href="/signup"]');
    if (!a || /^\/(login|signup)$/.test(location.pathname)) return;
    a.setAttribute('href', a.getAttribute('href') + '?next=' + encodeURIComponent(location.pathname + location.search));
  });

  // --- Search on a phone: filters fold behind a button -------------------
  document.addEventListener('click', function (e) {
    var btn = e.target.closest && e.target.closest('[data-filters-toggle]');
    if (!btn) return;
    var panel = document.getElementById(btn.getAttribute('aria-controls'));
    if (!panel) return;
    var open = btn.getAttribute('aria-expanded') !== 'true';
    btn.setAttribute('aria-expanded', open ? 'true' : 'false');
    panel.classList.toggle('open', open);
  });

  // --- Asking before an irreversible action (views/ask.templ) -------------
  // Browsers with invoker commands open and close the dialog themselves;
  // this does it for the others.
  if (!('command' in HTMLButtonElement.prototype)) {
    document.addEventListener('click', function (e) {
      var btn = e.target.closest && e.target.closest('button[commandfor]');
      var dialog = btn && document.getElementById(btn.getAttribute('commandfor'));
      if (!dialog) return;
      if (btn.getAttribute('command') === 'show-modal' && !dialog.open) dialog.showModal();
      if (btn.getAttribute('command') === 'close') dialog.close();
    });
  }
})();
