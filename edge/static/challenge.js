/*! Tell challenge: what a 401 "challenge" asks of the browser. Contract: docs/challenge.md.
 *
 * Loaded lazily, never with the collector: by the page edge.guard answers a challenged form post
 * with (it mounts itself into #tell-challenge and, once passed, sends the form again with the
 * clearance), or by Tell.fetch() on a 401 that names a challenge (TellChallenge.run(url) shows it in
 * an overlay and resolves with the clearance).
 *
 * One challenge = the proof of work (a Web Worker, edge/static/challenge-worker.js), the deep probes
 * (only here: they cost frames, a worker and a media-devices query) and an interaction: press and
 * hold a button, or drag a handle; with a keyboard, hold Space or Enter on the focused control.
 * The interaction's input events are the collector's own (window.Tell), sent in the telemetry
 * schema (docs/telemetry.md) to POST /edge/challenge/solve. No typed text is involved at all.
 */
(function (window, document) {
  'use strict';
  if (window.TellChallenge) return;

  var script = document.currentScript;
  var BASE = (function () {
    try { return new URL(script.src, location.href).origin; } catch (e) { return location.origin; }
  })();
  var perf = window.performance;
  var nativeSubmit = HTMLFormElement.prototype.submit;
  var HANDLE_PX = 56;

  var CSS = '.tell-chl-ov{position:fixed;inset:0;background:rgba(15,20,25,.55);display:flex;align-items:center;' +
    'justify-content:center;z-index:2147483647}' +
    '.tell-chl-dlg{background:#fff;color:#1f2328;font:16px/1.5 system-ui,sans-serif;max-width:26rem;' +
    'width:calc(100% - 2rem);border-radius:12px;padding:1.5rem;box-shadow:0 8px 30px rgba(0,0,0,.3)}' +
    '.tell-chl-dlg h2{font-size:1.25rem;margin:0 0 .5rem}' +
    '.tell-chl-ctl{position:relative;overflow:hidden;display:block;width:100%;min-height:3.5rem;font:inherit;' +
    'font-weight:600;border:2px solid #1f2328;border-radius:10px;background:#fff;color:#1f2328;cursor:pointer;' +
    'touch-action:none;user-select:none;-webkit-user-select:none;-webkit-touch-callout:none}' +
    '.tell-chl-ctl:focus-visible,.tell-chl-handle:focus-visible{outline:3px solid #0969da;outline-offset:2px}' +
    '.tell-chl-ctl[disabled]{cursor:default;opacity:.7}' +
    '.tell-chl-track{position:relative;height:3.5rem;max-width:100%;border-radius:10px;background:#eaeef2;touch-action:none}' +
    '.tell-chl-track span{position:absolute;inset:0;display:flex;align-items:center;justify-content:center;color:#57606a;pointer-events:none}' +
    '.tell-chl-handle{position:absolute;left:0;top:0;width:' + HANDLE_PX + 'px;height:3.5rem;border:2px solid #1f2328;' +
    'border-radius:10px;background:#fff;font:inherit;font-size:1.4rem;cursor:grab;touch-action:none;user-select:none}' +
    '.tell-chl-bar{height:6px;background:#eaeef2;border-radius:3px;margin:.75rem 0;overflow:hidden}' +
    '.tell-chl-bar>div{height:100%;width:0;background:#1a7f37}' +
    '.tell-chl-status{min-height:1.5em;color:#57606a;margin:.25rem 0}' +
    '.tell-chl-cancel{font:inherit;background:none;border:0;color:#0969da;cursor:pointer;padding:.25rem 0;text-decoration:underline}';

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text != null) e.textContent = text;
    return e;
  }
  function css() {
    if (document.getElementById('tell-chl-css')) return;
    var s = el('style', { id: 'tell-chl-css' }, CSS);
    (document.head || document.documentElement).appendChild(s);
  }
  function languages() {
    var l = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ''];
    return Array.prototype.slice.call(l, 0, 8).join(',');
  }
  function fail(code, extra) {
    var e = new Error('tell challenge: ' + code);
    e.code = code;
    Object.keys(extra || {}).forEach(function (k) { e[k] = extra[k]; });
    return e;
  }
  function r1(x) { return Math.round(x * 10) / 10; }

  function getParams(url) {
    var u = new URL(url, BASE);
    u.searchParams.set('lang', languages());
    return fetch(u.href, { credentials: 'same-origin', headers: { Accept: 'application/json' } }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) throw fail(j.error || 'http_' + r.status);
        j.c = u.searchParams.get('c');
        return j;
      });
    });
  }

  // ---- proof of work ---------------------------------------------------------------------------
  function pow(p) {
    return new Promise(function (resolve, reject) {
      var w;
      try { w = new Worker(BASE + '/edge/challenge-worker.js'); } catch (e) { reject(fail('worker')); return; }
      w.onmessage = function (e) { w.terminate(); if (e.data && e.data.error) reject(fail('worker')); else resolve(e.data); };
      w.onerror = function () { w.terminate(); reject(fail('worker')); };
      w.postMessage({ nonce: p.nonce, bits: p.bits });
    });
  }
  function workerMismatch(ctx) {
    var n = navigator, here = { ua: n.userAgent, platform: n.platform, languages: String(n.languages), hw_concurrency: n.hardwareConcurrency };
    return Object.keys(here).filter(function (k) { return ctx && String(ctx[k]) !== String(here[k]); });
  }

  // ---- deep probes (docs/challenge.md § deep probes) --------------------------------------------------
  function frames(n) { // animation-frame intervals: a rendering browser paces them to its display
    return new Promise(function (resolve) {
      var ts = [], timer = setTimeout(function () { resolve(ts); }, 2000);
      function tick(t) { ts.push(t); if (ts.length > n) { clearTimeout(timer); resolve(ts); } else requestAnimationFrame(tick); }
      requestAnimationFrame(tick);
    });
  }
  function stats(xs) {
    if (!xs.length) return [null, null];
    var s = xs.slice().sort(function (a, b) { return a - b; }), mean = 0, v = 0;
    xs.forEach(function (x) { mean += x / xs.length; });
    xs.forEach(function (x) { v += (x - mean) * (x - mean) / xs.length; });
    return [r1(s[s.length >> 1]), mean ? Math.round(Math.sqrt(v) / mean * 1000) / 1000 : null];
  }
  function deepProbes(state) {
    var out = {};
    var t = perf.now(), step = Infinity, end = t + 2; // smallest step of the clock (coarsened in some browsers)
    while (t < end) { var u = perf.now(); if (u > t) { step = Math.min(step, u - t); t = u; } }
    out.chl_clock_step_ms = isFinite(step) ? Math.round(step * 1000) / 1000 : null;
    var media = navigator.mediaDevices && navigator.mediaDevices.enumerateDevices
      ? navigator.mediaDevices.enumerateDevices().then(function (d) { out.chl_media_devices = d.length; }, function () { out.chl_media_devices = null; })
      : Promise.resolve(out.chl_media_devices = null);
    var raf = frames(30).then(function (ts) {
      var d = [];
      for (var i = 1; i < ts.length; i++) d.push(ts[i] - ts[i - 1]);
      var s = stats(d);
      out.chl_raf_ms_median = s[0];
      out.chl_raf_ms_cv = s[1];
    });
    return Promise.all([media, raf]).then(function () { return out; }, function () { state.errors.push('chl_probes'); return out; });
  }

  // ---- the interaction ----------------------------------------------------------------------------------
  // Builds the control into `root`; calls done(modality) once the hold (or drag) is complete.
  function interaction(root, p, s, state, done) {
    var drag = p.interaction === 'drag', holdMs = p.hold_ms, travel = p.drag_px;
    var bar = el('div', { class: 'tell-chl-bar', role: 'progressbar', 'aria-label': s.progress_label,
      'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' });
    var fill = el('div');
    bar.appendChild(fill);
    var ctl, track;
    if (drag) {
      track = el('div', { class: 'tell-chl-track', style: 'width:' + (travel + HANDLE_PX) + 'px' });
      track.appendChild(el('span', { 'aria-hidden': 'true' }, s.drag_label));
      ctl = el('button', { type: 'button', class: 'tell-chl-handle', id: 'tell-hold', 'aria-label': s.drag_label,
        'aria-describedby': 'tell-chl-desc' }, '\u2192');
      track.appendChild(ctl);
      root.appendChild(track);
    } else {
      ctl = el('button', { type: 'button', class: 'tell-chl-ctl', id: 'tell-hold', 'aria-describedby': 'tell-chl-desc' }, s.hold_label);
      root.appendChild(ctl);
    }
    root.appendChild(bar);
    var status = el('p', { class: 'tell-chl-status', role: 'status', 'aria-live': 'polite' });
    root.appendChild(status);

    var press = null, finished = false, lastAria = 0;
    function show(frac) {
      frac = Math.max(0, Math.min(1, frac));
      fill.style.width = (frac * 100) + '%';
      if (drag && (!press || press.kind !== 'keyboard')) ctl.style.transform = 'translateX(' + (frac * travel) + 'px)';
      var pct = Math.round(frac * 10) * 10;
      if (pct !== lastAria) { lastAria = pct; bar.setAttribute('aria-valuenow', String(pct)); }
    }
    function complete() {
      finished = true;
      show(1);
      ctl.disabled = true;
      done(press.kind);
    }
    function tick() {
      if (!press || finished) return;
      if (press.kind === 'keyboard' || !drag) {
        var frac = (perf.now() - press.t0) / holdMs;
        show(frac);
        if (frac >= 1) return complete();
      }
      requestAnimationFrame(tick);
    }
    function start(kind, e) {
      if (press || finished) return;
      press = { kind: kind, t0: perf.now(), x0: e && e.clientX, id: e && e.pointerId };
      state.modality = kind;
      status.textContent = s.holding;
      requestAnimationFrame(tick);
    }
    function stop() {
      if (!press || finished) return;
      press = null;
      show(0);
      status.textContent = s.too_short;
    }
    ctl.addEventListener('pointerdown', function (e) {
      if (e.button !== 0 || finished) return;
      // No preventDefault here: it would cancel the compatibility mousedown/mouseup, which are the
      // events the server reads the press from. Text selection and scrolling are off through CSS.
      try { ctl.setPointerCapture(e.pointerId); } catch (err) { /* synthetic pointer ids */ }
      start(e.pointerType === 'touch' ? 'touch' : 'pointer', e);
    });
    ctl.addEventListener('pointermove', function (e) {
      if (!drag || !press || press.kind === 'keyboard' || e.pointerId !== press.id || finished) return;
      var frac = (e.clientX - press.x0) / travel;
      show(frac);
      if (frac >= 0.95 && perf.now() - press.t0 >= 300) complete();
    });
    ['pointerup', 'pointercancel', 'lostpointercapture'].forEach(function (type) {
      ctl.addEventListener(type, function (e) { if (press && press.kind !== 'keyboard' && e.pointerId === press.id) stop(); });
    });
    ctl.addEventListener('contextmenu', function (e) { e.preventDefault(); }); // long touch
    ctl.addEventListener('keydown', function (e) {
      if (e.key !== ' ' && e.key !== 'Enter') return;
      e.preventDefault(); // no click: holding is the point
      if (!e.repeat) start('keyboard');
    });
    ctl.addEventListener('keyup', function (e) {
      if (e.key !== ' ' && e.key !== 'Enter') return;
      e.preventDefault();
      if (press && press.kind === 'keyboard') stop();
    });
    ctl.addEventListener('click', function (e) { e.preventDefault(); });
    return { control: ctl, status: status };
  }

  // ---- one run: params → (proof of work ‖ probes ‖ interaction) → solve ---------------------------------
  function watch(state) {
    function vis() { if (document.hidden) state.hidden = true; }
    function move(e) {
      var n = e.getCoalescedEvents ? e.getCoalescedEvents().length : null;
      if (n != null && n > state.coalesced) state.coalesced = n;
    }
    document.addEventListener('visibilitychange', vis, true);
    window.addEventListener('pointermove', move, { capture: true, passive: true });
    vis();
    return function () {
      document.removeEventListener('visibilitychange', vis, true);
      window.removeEventListener('pointermove', move, { capture: true, passive: true });
    };
  }

  function solve(p, state, work, probes) {
    var T = window.Tell;
    if (!T || !T.collect) return Promise.reject(fail('no_collector'));
    var t = T.collect(document.createElement('form')); // an empty form: no field lengths of the page
    var all = t.events.length;
    t.events = t.events.filter(function (e) { return e[1] >= state.t0; }); // the challenge's input only
    t.dropped += all - t.events.length;
    var pr = t.probes || (t.probes = {});
    Object.keys(probes).forEach(function (k) { pr[k] = probes[k]; });
    pr.chl_t0_ms = r1(state.t0);
    pr.chl_pow_ms = r1(work.ms);
    pr.chl_pow_hashes = work.hashes;
    pr.chl_pow_impl = work.impl;
    pr.chl_worker_mismatch = workerMismatch(work.ctx);
    pr.chl_hidden = !!state.hidden || document.hidden;
    pr.chl_focus = document.hasFocus();
    pr.chl_modality = state.modality;
    pr.chl_coalesced_max = state.coalesced;
    pr.chl_errors = state.errors;
    return fetch(BASE + '/edge/challenge/solve?c=' + encodeURIComponent(p.c), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/msgpack', 'X-Tell-Pow': String(work.counter) },
      body: T.encode(t)
    }).then(function (r) {
      return r.json().then(function (j) {
        if (r.ok && j.ok) return j;
        throw fail(j.error || 'http_' + r.status, { blocked: !!j.blocked, requestId: j.request_id });
      });
    });
  }

  // Mount into `root` and run. Resolves with the server's {clearance, token, expires}; rejects with
  // an Error whose `code` says why (challenge_failed, challenge_expired, cancelled, ...).
  function mount(root, url, hooks) {
    css();
    var state = { t0: perf.now(), hidden: false, coalesced: 0, modality: null, errors: [] };
    var unwatch = watch(state);
    return getParams(url).then(function (p) {
      var s = p.strings;
      hooks.strings(s, p);
      var work = pow(p);
      var probes = deepProbes(state);
      return new Promise(function (resolve, reject) {
        var ui = interaction(root, p, s, state, function () {
          ui.status.textContent = s.working;
          Promise.all([work, probes]).then(function (r) { return solve(p, state, r[0], r[1]); })
            .then(function (j) { ui.status.textContent = hooks.passedText(s); resolve(j); },
              function (e) { ui.status.textContent = e.blocked ? s.blocked : e.code === 'challenge_failed' ? hooks.failedText(s) : s.error; reject(e); });
        });
        hooks.ready(ui, reject);
      });
    }).then(function (j) { unwatch(); return j; }, function (e) { unwatch(); throw e; });
  }

  // Overlay on the current page (Tell.fetch): a modal dialog; Escape or Cancel rejects (`cancelled`).
  function run(url) {
    var before = document.activeElement;
    var ov = el('div', { class: 'tell-chl-ov' });
    var dlg = el('div', { class: 'tell-chl-dlg', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'tell-chl-title',
      'aria-describedby': 'tell-chl-desc' });
    var title = el('h2', { id: 'tell-chl-title' }), desc = el('p', { id: 'tell-chl-desc' });
    var body = el('div'), cancel = el('button', { type: 'button', class: 'tell-chl-cancel' });
    dlg.appendChild(title); dlg.appendChild(desc); dlg.appendChild(body); dlg.appendChild(cancel);
    ov.appendChild(dlg);
    css();
    document.body.appendChild(ov);
    function close() { ov.remove(); if (before && before.focus) try { before.focus(); } catch (e) { /* gone */ } }
    return mount(body, url, {
      strings: function (s, p) {
        title.textContent = s.title;
        desc.textContent = p.interaction === 'drag' ? s.drag_hint : s.hold_hint;
        cancel.textContent = s.cancel;
      },
      ready: function (ui, reject) {
        function cancelled() { reject(fail('cancelled')); }
        cancel.addEventListener('click', cancelled);
        dlg.addEventListener('keydown', function (e) {
          if (e.key === 'Escape') cancelled();
          if (e.key === 'Tab') { // keep the focus inside the dialog
            e.preventDefault();
            (document.activeElement === ui.control ? cancel : ui.control).focus();
          }
        });
        ui.control.focus();
      },
      passedText: function (s) { return s.passed_plain; },
      failedText: function (s) { return s.failed; }
    }).then(function (j) { setTimeout(close, 600); return j; }, function (e) { setTimeout(close, e.code === 'cancelled' ? 0 : 1500); throw e; });
  }

  // The page edge.guard answers a challenged form post with: run here, then send the form again.
  function autoMount() {
    var root = document.getElementById('tell-challenge');
    var form = document.getElementById('tell-resubmit');
    if (!root || !root.getAttribute('data-tell-challenge')) return;
    function hidden(name, value) {
      var i = el('input', { type: 'hidden', name: name });
      i.value = value;
      form.appendChild(i);
    }
    function resend(token, clearance) {
      if (!form) return;
      if (token) hidden('tell_token', token);
      if (clearance) hidden('tell_clearance', clearance);
      if (clearance && root.getAttribute('data-tell-via') === 'cookie') {
        // Behind a gateway the auth subrequest sees headers, not the form body: a cookie, then.
        document.cookie = 'tell_clearance=' + clearance + '; path=/; max-age=30; samesite=strict' +
          (location.protocol === 'https:' ? '; secure' : '');
      }
      nativeSubmit.call(form);
    }
    var title = document.getElementById('tell-chl-title'), desc = document.getElementById('tell-chl-desc');
    mount(root, root.getAttribute('data-tell-challenge'), {
      strings: function (s, p) {
        if (title) title.textContent = s.title;
        if (desc) desc.textContent = p.interaction === 'drag' ? s.drag_hint : s.hold_hint;
        document.documentElement.lang = p.lang;
      },
      ready: function (ui) { ui.control.focus(); },
      passedText: function (s) { return root.getAttribute('data-tell-files') === '1' ? s.files_lost : s.passed; },
      failedText: function (s) { return s.retrying; }
    }).then(function (j) {
      if (root.getAttribute('data-tell-files') !== '1') resend(j.token, j.clearance);
    }, function () {
      // Failed, expired or broken: send the form again without a clearance. The server decides
      // afresh: a new challenge (a person gets another try), or the block once the failures add up.
      setTimeout(function () {
        var T = window.Tell;
        (T && T.send ? T.send(form).then(function (j) { return j.token; }, function () { return null; }) : Promise.resolve(null))
          .then(function (token) { resend(token, null); });
      }, 1500);
    });
  }

  window.TellChallenge = Object.freeze({ v: 1, run: run });
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', autoMount);
  else autoMount();
})(window, document);
