// Sale boards (views/coupons.templ, Sales): countdowns, the Claim button
// turning on at the opening second, live counts with a poll when the stream
// is down, and claim answers. Time comes from the server: the board carries
// the server's clock when it rendered, and the page counts on from there
// with the browser's monotonic clock, never its wall clock (which may be
// wrong). The claim itself is decided by the server either way.
(function () {
  'use strict';

  var boards = document.querySelectorAll('.sale-board[data-server-time]');
  if (!boards.length) return;

  // performance.now() when the page's response began to arrive: the server
  // stamped its time just before, so the estimate errs late, never early.
  var nav = performance.getEntriesByType && performance.getEntriesByType('navigation')[0];
  var loadedAt = nav && nav.responseStart > 0 ? nav.responseStart : performance.now();
  var serverAt = Number(boards[0].dataset.serverTime);
  function serverNow() { return serverAt + (performance.now() - loadedAt); }

  // The same words as views.Until and views.Countdown (views/format.go).
  function until(ms) {
    if (ms <= 0) return '';
    var m = Math.round(ms / 60000), h = Math.floor(m / 60), mm = m % 60;
    if (h >= 48) return Math.floor(h / 24) + ' days';
    if (h > 0) return h + ' h ' + mm + ' min';
    if (mm > 0) return mm + ' min';
    return 'less than a minute';
  }
  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function countdown(ms) {
    if (ms <= 0) return '00:00';
    var s = Math.ceil(ms / 1000);
    if (s >= 3600) return until(ms);
    return pad(Math.floor(s / 60)) + ':' + pad(s % 60);
  }

  var words = { upcoming: 'Upcoming', open: 'Open now', sold_out: 'Sold out', closed: 'Closed' };
  var classes = { upcoming: 'sale-upcoming', open: 'in-stock', sold_out: 'sold-out', closed: 'state-ended' };

  function left(card) {
    var el = card.querySelector('.remaining');
    return el ? parseInt(el.textContent.replace(/[^0-9]/g, ''), 10) : NaN;
  }

  function update(card, now) {
    var starts = Number(card.dataset.starts), ends = Number(card.dataset.ends);
    var status = card.dataset.status;
    if (status !== 'closed') {
      if (now >= ends) status = 'closed';
      else if (now < starts) status = 'upcoming';
      else status = left(card) === 0 ? 'sold_out' : 'open';
    }
    if (status !== card.dataset.status) {
      card.dataset.status = status;
      var badge = card.querySelector('[data-testid=sale-status]');
      if (badge) { badge.textContent = words[status]; badge.className = 'badge ' + classes[status]; }
    }
    var when = card.querySelector('.sale-when');
    if (when) {
      var text = status === 'upcoming' ? 'Opens in ' + countdown(starts - now)
        : status === 'closed' ? 'Claims closed' : 'Ends in ' + until(ends - now);
      if (when.textContent !== text) when.textContent = text;
    }
    var button = card.querySelector('button[data-claim]');
    if (!button) return;
    var form = button.form;
    if (form && form.classList.contains('htmx-request')) return; // htmx holds it while the claim is in flight
    var on = status === 'open' && card.dataset.done !== '1';
    if (button.disabled === on) button.disabled = !on;
  }

  function tick() {
    var now = serverNow();
    document.querySelectorAll('.sale-board .coupon-card[data-campaign]').forEach(function (c) { update(c, now); });
  }

  // Each opening to the millisecond, and the countdowns every quarter second.
  document.querySelectorAll('.coupon-card[data-status=upcoming]').forEach(function (c) {
    var wait = Number(c.dataset.starts) - serverNow();
    if (wait > 0 && wait < 2147483647) setTimeout(tick, wait + 1);
  });
  setInterval(tick, 250);
  tick();

  // Live counts: the stream when it is open, a poll every 5 s when it is not.
  var streaming = false;
  document.body.addEventListener('htmx:sseOpen', function () { streaming = true; });
  document.body.addEventListener('htmx:sseError', function () { streaming = false; });
  setInterval(function () {
    if (streaming || !window.htmx) return;
    document.querySelectorAll('.sale-board [data-poll]').forEach(function (p) { htmx.trigger(p, 'poll-counts'); });
  }, 5000);

  // A claim's answer: focus moves to it; an answer that ends claiming for
  // this shopper turns the button off.
  document.body.addEventListener('htmx:afterSwap', function (e) {
    var area = e.detail.target;
    if (!area || !area.classList || !area.classList.contains('claim-message')) return;
    var result = area.querySelector('[data-result]');
    var card = area.closest('.coupon-card');
    if (card && result && ['claimed', 'already_claimed', 'sold_out'].indexOf(result.dataset.result) >= 0) {
      card.dataset.done = '1';
    }
    area.focus();
    tick();
  });
})();
