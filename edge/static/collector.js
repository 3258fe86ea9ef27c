/*! Tell collector, telemetry schema v1. Contract: docs/telemetry.md; embedding, privacy, cost: docs/collector.md.
 * Plain JS, no build step, at most 12 KB gzipped (tests/test_collector_static.py): hence our own msgpack writer.
 * Privacy: no typed character, field value or clipboard text enters the buffer: keys become a class
 * letter, text fields a length.
 */
(function (window, document) {
  'use strict';
  if (window.Tell && window.Tell.v) return; // loaded twice: keep the first instance and its listeners

  // ---- Natives, snapshotted before any later page code can swap them
  // We call these, never the live globals, and report those that are not native.
  var FTS = Function.prototype.toString;
  var perf = window.performance;
  var NATIVES = [ // [reported name, its native function name, current reference]
    ['addEventListener', 'addEventListener', function () { return EventTarget.prototype.addEventListener; }],
    ['fetch', 'fetch', function () { return window.fetch; }],
    ['performance.now', 'now', function () { return perf.now; }],
    ['JSON.stringify', 'stringify', function () { return JSON.stringify; }],
    ['Function.prototype.toString', 'toString', function () { return Function.prototype.toString; }]
  ];
  var SNAP = NATIVES.map(function (n) { return n[2](); });
  var addEL = SNAP[0], nativeFetch = SNAP[1], perfNow = SNAP[2];
  var formSubmit = window.HTMLFormElement && HTMLFormElement.prototype.submit;
  var conDebug = console.debug;
  var TE = window.TextEncoder && new TextEncoder();
  var hasOwn = Object.prototype.hasOwnProperty;

  var script = document.currentScript;
  var BASE = (function () {
    try { return new URL(script.src, location.href).origin; } catch (e) { return location.origin; }
  })();

  var MAX_EVENTS = 1500, MAX_LIST = 64, MAX_STR = 512;
  var TEXT_TYPES = /^(|text|search|email|url|tel|password|number)$/;

  function now() { return perfNow.call(perf); }
  function num(x) { return typeof x === 'number' && isFinite(x) ? x : 0; }
  function r1(x) { return Math.round(num(x) * 10) / 10; }
  function bit(x) { return x ? 1 : 0; }
  function utf8len(s) { return TE ? TE.encode(s).length : s.length * 3; }
  // Server limit: 512 (bytes, as msgpack counts them). Truncate rather than be refused.
  function str(x) {
    if (x == null) return null;
    x = String(x);
    while (x.length > 170 && utf8len(x) > MAX_STR) x = x.slice(0, Math.floor(x.length * 0.9));
    return x;
  }
  function strs(a) { return Array.prototype.slice.call(a || [], 0, MAX_LIST).map(str); }
  // `function [get ]NAME() { [native code] }` -> NAME. A Proxy prints without its name.
  var NATIVE_RE = /^function (?:get )?([^(]*)\(\) \{\s*\[native code\]\s*\}$/;
  function isNative(fts, f, name) { var m = NATIVE_RE.exec(fts.call(f)); return !!m && m[1] === name; }
  // pristineFTS: a fresh iframe's toString (set by the iframe probe), which a patched one cannot fool.
  var pristineFTS;
  function nativeText(f, name) {
    try { return typeof f === 'function' && isNative(FTS, f, name) && (!pristineFTS || isNative(pristineFTS, f, name)); }
    catch (e) { return false; }
  }

  // ---- Probe bookkeeping: a failing probe is a signal, never a crash
  var errors = {};
  function probe(name, fn, dflt) {
    try { return fn(); } catch (e) { errors[name] = 1; return dflt; }
  }

  // ---- Event buffer
  // Amortised ring: trim in batches, keep the newest MAX_EVENTS at collect time.
  var buf = [], total = 0, lastT = 0, lastTrustedT = -1e9, untrustedAfterTrusted = 0, pwEvents = 0;
  var stackMarks = {};

  function stamp() {
    var t = Math.round(now() * 10) / 10;
    if (t < lastT) t = lastT; // rounding never makes time run backwards
    return (lastT = t);
  }

  // Fields: id assigned on first sight, in the order fields are seen (docs/telemetry.md).
  var fieldIds = new WeakMap(), nextField = 0;
  function isText(el) {
    if (!el || el.nodeType !== 1) return false;
    var tag = el.tagName;
    if (tag === 'INPUT') return TEXT_TYPES.test(el.type);
    if (tag === 'TEXTAREA') return true;
    return !!el.isContentEditable;
  }
  function fid(el) {
    if (!isText(el)) return -1;
    var id = fieldIds.get(el);
    if (id === undefined) fieldIds.set(el, (id = nextField++));
    return id;
  }
  function vlen(el) {
    var v = el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' ? el.value : el.textContent;
    return typeof v === 'string' ? v.length : 0;
  }
  function fieldKind(el) {
    return el.tagName === 'TEXTAREA' ? 'textarea' : el.tagName === 'INPUT' ? el.type : 'contenteditable';
  }
  function textFields(form) {
    var els = form ? form.elements : document.querySelectorAll('input,textarea,[contenteditable]');
    var out = [];
    for (var i = 0; i < els.length && out.length < MAX_LIST; i++) if (isText(els[i])) out.push(els[i]);
    return out;
  }

  // Key class (docs/telemetry.md): the key itself is never stored.
  function keyClass(e) {
    var k = e.key;
    if (k === 'Process' || e.keyCode === 229) return 'p';
    if (typeof k !== 'string') return 'o';
    if (k.length === 1 || (k.length === 2 && /[\ud800-\udbff]/.test(k))) {
      if (k === ' ') return 's';
      if (/\d/.test(k)) return 'd';
      return /\p{L}/u.test(k) ? 'l' : 'o';
    }
    if (k === 'Backspace' || k === 'Delete') return 'b';
    if (k === 'Enter') return 'e';
    if (k === 'Tab') return 't';
    if (/^(Shift|Control|Alt|Meta|CapsLock)$/.test(k)) return 'm';
    if (/^(Arrow|Page)|^(Home|End)$/.test(k)) return 'n';
    return 'o';
  }
  function key(e, k, t, b) { return [k, t, b, keyClass(e), bit(e.code === ''), bit(e.repeat), bit(e.isComposing)]; }
  function touch(e, k, t, b) {
    var c = (e.changedTouches && e.changedTouches[0]) || {}, r = [k, t, b, r1(c.clientX), r1(c.clientY)];
    if (k === 'ts') r.push(r1(c.radiusX), r1(c.force));
    return r;
  }

  // Stack markers left by automation that calls into the page (evaluate, dispatchEvent).
  var STACK_RE = /pptr:|__puppeteer_evaluation_script__|playwright|UtilityScript/g;
  function scanStack() {
    var s = String(new Error().stack || ''), m;
    while ((m = STACK_RE.exec(s))) stackMarks[m[0]] = 1;
  }

  // [DOM event, kind, record(event, kind, time, trusted bit)]. Cheap: no layout read but on mousedown.
  var HANDLERS = [
    ['mousemove', 'mm', function (e, k, t, b) {
      return [k, t, b, r1(e.clientX), r1(e.clientY), r1(e.movementX), r1(e.movementY), r1(e.screenX), r1(e.screenY)];
    }],
    ['mousedown', 'md', function (e, k, t, b) {
      var x = e.clientX, y = e.clientY, g = e.target, r = { left: 0, top: 0, width: 0, height: 0 };
      if (g && g.getBoundingClientRect) r = g.getBoundingClientRect();
      return [k, t, b, r1(x), r1(y), num(e.button),
        r1(x - r.left - r.width / 2), r1(y - r.top - r.height / 2), r1(r.width), r1(r.height)];
    }],
    ['mouseup', 'mu', function (e, k, t, b) { return [k, t, b, r1(e.clientX), r1(e.clientY), num(e.button)]; }],
    ['click', 'ck', function (e, k, t, b) { return [k, t, b, r1(e.clientX), r1(e.clientY), num(e.detail)]; }],
    ['pointerdown', 'pd', function (e, k, t, b) {
      return [k, t, b, r1(e.clientX), r1(e.clientY), String(e.pointerType || ''), num(e.pressure), num(e.width), num(e.height), num(e.buttons)];
    }],
    ['keydown', 'kd', key],
    ['keyup', 'ku', key],
    ['input', 'in', function (e, k, t, b) {
      var g = e.target;
      return [k, t, b, String(e.inputType || ''), e.data ? e.data.length : 0, isText(g) ? vlen(g) : 0, fid(g)];
    }],
    ['compositionstart', 'cs', function (e, k, t, b) { return [k, t, b]; }],
    ['compositionend', 'ce', function (e, k, t, b) { return [k, t, b, e.data ? e.data.length : 0]; }],
    // The pasted text is only measured, never kept.
    ['paste', 'pa', function (e, k, t, b) { var d = e.clipboardData; return [k, t, b, d ? d.getData('text').length : 0]; }],
    ['focusin', 'fo', function (e, k, t, b) { return [k, t, b, fid(e.target)]; }],
    ['focusout', 'bl', function (e, k, t, b) { return [k, t, b, fid(e.target)]; }],
    ['scroll', 'sc', function (e, k, t, b) {
      var g = e.target;
      return [k, t, b, r1(g === document || g === window ? window.scrollY : g.scrollTop)];
    }],
    ['touchstart', 'ts', touch],
    ['touchmove', 'tm', touch],
    ['touchend', 'te', touch],
    ['submit', 'su', function (e, k, t, b) { var g = e.target; return [k, t, b, g && g.elements ? textFields(g).length : 0]; }],
    ['change', null]
  ];
  var LISTEN = { capture: true, passive: true };
  // Events of a page in use (not focus or scroll: a page's load fires those).
  var IN_USE = /^(mouse|pointer|key|touch|input|paste|click)/;
  HANDLERS.forEach(function (h) {
    var type = h[0], kind = h[1], record = h[2], wakes = IN_USE.test(type);
    addEL.call(window, type, function (e) {
      if (wakes && !inUse) startLazy();
      try {
        var trusted = e.isTrusted, t = stamp();
        if (trusted) lastTrustedT = t;
        else {
          scanStack();
          if ((type === 'input' || type === 'change') && t - lastTrustedT < 1000) untrustedAfterTrusted++;
        }
        if (kind) {
          var r = record(e, kind, t, trusted ? 1 : 0);
          total++;
          if (buf.push(r) >= 2 * MAX_EVENTS) buf.splice(0, buf.length - MAX_EVENTS);
        }
      } catch (err) { errors['ev.' + type] = 1; }
    }, LISTEN);
  });
  function pwEvent() { pwEvents++; }
  addEL.call(window, '__playwright_mark_target__', pwEvent, LISTEN);
  addEL.call(window, '__playwright_reset_targets__', pwEvent, LISTEN);

  // ---- Device
  // A WebGL context is the costliest thing here: one, 1x1, serves the page and the iframe probe.
  var glCache;
  function glCanvas() {
    var c = document.createElement('canvas');
    c.width = c.height = 1;
    return c;
  }
  // [vendor, renderer], through another realm's WebGLRenderingContext.prototype if given.
  function glRead(gl, proto) {
    if (!gl) return [null, null];
    var o = proto || gl, x = o.getExtension.call(gl, 'WEBGL_debug_renderer_info');
    return (x ? [x.UNMASKED_VENDOR_WEBGL, x.UNMASKED_RENDERER_WEBGL] : [gl.VENDOR, gl.RENDERER])
      .map(function (p) { return str(o.getParameter.call(gl, p)); });
  }
  function glLose(gl) {
    var l = gl && gl.getExtension('WEBGL_lose_context');
    if (l) l.loseContext(); // give the GPU context back at once
  }
  // The page's answer; on the iframe probe's canvas, left open for it.
  function webgl(c) {
    if (!glCache) glCache = probe('webgl', function () {
      var gl = (c || glCanvas()).getContext('webgl');
      try { return glRead(gl); } finally { if (!c) glLose(gl); }
    }, [null, null]);
    return glCache;
  }

  function device() {
    var n = navigator, s = screen, gl = webgl(), uad = n.userAgentData;
    var mem = n.deviceMemory, hw = n.hardwareConcurrency;
    return {
      ua: str(n.userAgent) || '',
      platform: str(n.platform),
      language: str(n.language),
      languages: strs(n.languages),
      tz: probe('tz', function () { return str(Intl.DateTimeFormat().resolvedOptions().timeZone); }, null),
      tz_offset_min: new Date().getTimezoneOffset(),
      screen: [s.width, s.height, s.availWidth, s.availHeight, s.colorDepth].map(num),
      window: [window.outerWidth, window.outerHeight, window.innerWidth, window.innerHeight].map(num),
      dpr: num(window.devicePixelRatio),
      hw_concurrency: typeof hw === 'number' ? hw : null,
      device_memory: typeof mem === 'number' ? mem : null,
      touch_points: num(n.maxTouchPoints),
      webgl_vendor: gl[0],
      webgl_renderer: gl[1],
      plugins: n.plugins ? n.plugins.length : 0,
      mime_types: n.mimeTypes ? n.mimeTypes.length : 0,
      uad: uad ? {
        brands: (uad.brands || []).slice(0, MAX_LIST).map(function (b) { return [str(b.brand), str(b.version)]; }),
        mobile: !!uad.mobile,
        platform: str(uad.platform)
      } : null,
      cookie_enabled: !!n.cookieEnabled,
      pdf_viewer: typeof n.pdfViewerEnabled === 'boolean' ? n.pdfViewerEnabled : null
    };
  }

  // ---- Markers
  var GLOBALS = ('__playwright__binding__ __pwInitScripts __playwright_evaluation_script__ ' +
    '__puppeteer_evaluation_script__ _phantom callPhantom __nightmare domAutomation ' +
    'domAutomationController __webdriver_evaluate __selenium_evaluate __selenium_unwrapped ' +
    '__webdriver_unwrapped __driver_evaluate __driver_unwrapped __fxdriver_evaluate __fxdriver_unwrapped ' +
    '__webdriver_script_fn __webdriver_script_func __webdriver_script_function __lastWatirAlert ' +
    '_Selenium_IDE_Recorder _selenium calledSelenium __stagehandV3Injected GlobalSkyvernFrameIndex')
    .split(' ');
  var CDC_RE = /^\$?cdc_|^\$?[A-Za-z0-9]{20,}_(Array|Promise|Symbol|JSON|Object|Proxy|Window)$/;
  var permQuery = null;
  function permProbe() { // -> a promise that never rejects
    return navigator.permissions.query({ name: 'notifications' }).then(function (s) { permQuery = s.state; }, function () {});
  }

  function markers() {
    var c = window.chrome;
    return {
      webdriver: typeof navigator.webdriver === 'boolean' ? navigator.webdriver : null,
      chrome: [!!c, !!(c && c.runtime), !!(c && c.app), !!(c && (c.csi || c.loadTimes))],
      cdc: probe('cdc', function () {
        return Object.getOwnPropertyNames(window).concat(Object.getOwnPropertyNames(document))
          .filter(function (k) { return CDC_RE.test(k); }).slice(0, MAX_LIST).map(str);
      }, []),
      globals: GLOBALS.filter(function (g) { return g in window || g in document; }),
      doc_attrs: probe('doc_attrs', function () {
        return document.documentElement.getAttributeNames()
          .filter(function (a) { return /webdriver|selenium|driver/i.test(a); }).slice(0, MAX_LIST).map(str);
      }, []),
      notif_perm: window.Notification ? str(Notification.permission) : null,
      perm_query: permQuery,
      outer_zero: window.outerWidth === 0 && window.outerHeight === 0,
      stack_markers: Object.keys(stackMarks),
      pw_events: pwEvents
    };
  }

  // ---- Probes: CDP presence
  // A DevTools client with Runtime enabled (Playwright, Puppeteer, CDP tools, open DevTools) serialises
  // console arguments, reading what a plain call does not. console.debug: DevTools hides "verbose".
  var cdp = {};
  function cdpProbe() {
    // A wrapped console (logging/monitoring libraries) may read the Error itself: no verdict then.
    if (!nativeText(conDebug, 'debug')) throw new Error('console.debug is not native');
    var hits, debug = function (x) { conDebug.call(console, x); };
    // Classic variant: the inspector reads an Error's `stack` (fixed in recent Chromium; kept for older).
    hits = 0;
    var e1 = new Error();
    Object.defineProperty(e1, 'stack', { get: function () { hits++; return ''; } });
    debug(e1);
    if (hits) cdp.stack_getter = 1;
    // The inspector formats the Error's stack, which calls Error.prepareStackTrace (V8).
    var old = Error.prepareStackTrace;
    hits = 0;
    Error.prepareStackTrace = function () { hits++; return ''; };
    try { debug(new Error()); } finally { Error.prepareStackTrace = old; }
    if (hits) cdp.prepare_stack_trace = 1;
    // The console reads `name` once by itself; the inspector's description reads it again.
    hits = 0;
    var e2 = new Error();
    Object.defineProperty(e2, 'name', { get: function () { hits++; return 'Error'; } });
    debug(e2);
    if (hits > 1) cdp.error_name_reads = 1;
  }

  // ---- Probes: lies (natives replaced by script)
  // Call a native with a wrong `this`: it throws TypeError from native code. A JS replacement either
  // does not throw, or throws with a script frame (a Proxy trap, a wrapper) above ours (Gecko: from line 0).
  function tellBadReceiver(f) {
    try { f.call(Object.create(null)); } catch (e) {
      if (!(e instanceof TypeError)) return false;
      var lines = String(e.stack).split('\n');
      for (var i = 0; i < lines.length; i++) {
        if (lines[i].indexOf('tellBadReceiver') >= 0) return true;
        if (/:\d+:\d+\)?$/.test(lines[i])) return false;
      }
      return true;
    }
    return false;
  }
  function lies(f, name, otherFTS) {
    if (typeof f !== 'function') return true;
    if (!isNative(FTS, f, name)) return true;
    if (otherFTS && !isNative(otherFTS, f, name)) return true; // a pristine realm's toString tells the truth
    var keys = Reflect.ownKeys(f); // natives own exactly `length` and `name`; no `prototype`
    if (keys.length !== 2 || hasOwn.call(f, 'prototype')) return true;
    if (name === 'query') return false; // Permissions.query rejects its promise rather than throwing
    return !tellBadReceiver(f);
  }
  var NAV_GETTERS = ['webdriver', 'userAgent', 'platform', 'languages', 'plugins', 'hardwareConcurrency'];
  // Getters are read at load (cheap), checked at send; methods are read when checked (reading
  // WebGLRenderingContext builds its interface object).
  function lieTargets() {
    var NP = window.Navigator && Navigator.prototype;
    return {
      d: NP && NAV_GETTERS.map(function (k) { return Object.getOwnPropertyDescriptor(NP, k); }),
      own: Object.getOwnPropertyNames(navigator).length
    };
  }
  function replaced(t) {
    var n = lieTargets();
    return t.own !== n.own || !t.d || t.d.some(function (d, i) {
      var e = n.d[i] || {};
      return !d || d.get !== e.get || d.set !== e.set || d.enumerable !== e.enumerable;
    });
  }
  function lieProbe(otherFTS, t) {
    var out = [];
    t = t || lieTargets();
    NAV_GETTERS.forEach(function (k, i) {
      probe('lies.' + k, function () {
        var d = t.d ? t.d[i] : Object.getOwnPropertyDescriptor(Navigator.prototype, k);
        if (!d || !d.get || d.set || !d.enumerable || lies(d.get, k, otherFTS)) out.push(k);
      });
    });
    if (t.own) out.push('navigator.own');
    [
      ['Permissions.query', window.Permissions && Permissions.prototype.query, 'query'],
      ['WebGL.getParameter', window.WebGLRenderingContext && WebGLRenderingContext.prototype.getParameter, 'getParameter'],
      ['Function.toString', Function.prototype.toString, 'toString'],
      ['attachShadow', window.Element && Element.prototype.attachShadow, 'attachShadow']
    ].forEach(function (m) {
      probe('lies.' + m[0], function () { if (m[1] === undefined || lies(m[1], m[2], otherFTS)) out.push(m[0]); });
    });
    return out;
  }

  // ---- Probes: cross-context (iframe now, worker async)
  function ctxValues(n, gl) {
    return { ua: n.userAgent, platform: n.platform, languages: String(n.languages),
      hw_concurrency: n.hardwareConcurrency, webgl_renderer: gl };
  }
  var mainCtx, ctxResults = {};
  var WORKER_SRC = 'var n=navigator,g=null;try{var c=new OffscreenCanvas(1,1).getContext("webgl"),' +
    'x=c.getExtension("WEBGL_debug_renderer_info");g=c.getParameter(x?x.UNMASKED_RENDERER_WEBGL:c.RENDERER)}catch(e){}' +
    'postMessage({ua:n.userAgent,platform:n.platform,languages:String(n.languages),hw_concurrency:n.hardwareConcurrency,webgl_renderer:g})';

  function iframeProbe() {
    var f = document.createElement('iframe');
    f.style.display = 'none';
    f.setAttribute('aria-hidden', 'true');
    (document.body || document.documentElement).appendChild(f);
    try {
      var w = f.contentWindow, c = glCanvas();
      webgl(c);
      // Read through this realm's getContext and getParameter: a spoofed page prototype or a wrapped
      // context answers differently.
      ctxResults.iframe = ctxValues(w.navigator, probe('ctx.iframe.webgl', function () {
        var gl = w.HTMLCanvasElement.prototype.getContext.call(c, 'webgl');
        try { return glRead(gl, w.WebGLRenderingContext.prototype)[1]; } finally { glLose(gl); }
      }, null));
      pristineFTS = w.Function.prototype.toString;
    } finally { f.remove(); }
  }
  function workerProbe() {
    // Never rejects: a CSP without blob: workers (or no Worker at all) only records an error.
    return new Promise(function (resolve) {
      var url, w;
      function done(v) {
        if (v) ctxResults.worker = v;
        if (w) w.terminate();
        if (url) URL.revokeObjectURL(url);
        resolve();
      }
      try {
        url = URL.createObjectURL(new Blob([WORKER_SRC], { type: 'text/javascript' }));
        w = new Worker(url);
        w.onmessage = function (e) { done(e.data); };
        w.onerror = function () { errors['ctx.worker'] = 1; done(); };
        setTimeout(done, 2000);
      } catch (e) { errors['ctx.worker'] = 1; done(); }
    });
  }
  // ---- Deferred probes
  // Not at load (the iframe and WebGL take ~20 ms): once the page is loaded and in use, one step per idle
  // callback. A send runs what is pending and waits for the async ones: a token's payload has them all.
  var loadTargets = probe('lies', lieTargets), waits = [], inUse = 0, LAZY_WAIT_MS = 1000;
  var STEPS = [
    ['cdp', cdpProbe], // and again at each send (a client may attach later)
    ['perm_query', function () { waits.push(permProbe()); }],
    ['ctx.iframe', iframeProbe],
    ['ctx.worker', function () { waits.push(workerProbe()); }]
  ];
  function step() {
    var s = STEPS.shift();
    if (s) probe(s[0], s[1]);
  }
  function idle() {
    function next() { step(); idle(); }
    if (STEPS.length) { if (window.requestIdleCallback) requestIdleCallback(next, { timeout: 2000 }); else setTimeout(next, 50); }
  }
  function startLazy() {
    inUse = 1;
    if (document.readyState === 'complete') idle();
    else addEL.call(window, 'load', idle, { once: true });
  }
  function finishLazy() {
    while (STEPS.length) step();
    return Promise.all(waits);
  }
  function ctxMismatch() {
    if (!mainCtx) mainCtx = ctxValues(navigator, webgl()[1]);
    var out = [];
    Object.keys(ctxResults).forEach(function (ctx) {
      var v = ctxResults[ctx];
      Object.keys(mainCtx).forEach(function (k) { if (v[k] != null && String(v[k]) !== String(mainCtx[k])) out.push(ctx + '.' + k); });
    });
    return out;
  }

  // ---- Probes: environment, injected DOM, integrity
  var CODECS = [['h264', 'video/mp4; codecs="avc1.42E01E"'], ['aac', 'audio/mp4; codecs="mp4a.40.2"'],
    ['vp9', 'video/webm; codecs="vp9"'], ['av1', 'video/mp4; codecs="av01.0.05M.08"'], ['opus', 'audio/webm; codecs="opus"']];
  function codecs() {
    var MS = window.MediaSource, v = document.createElement('video');
    return CODECS.filter(function (c) {
      return MS && MS.isTypeSupported ? MS.isTypeSupported(c[1]) : v.canPlayType(c[1]) !== '';
    }).map(function (c) { return c[0]; });
  }
  function domArtefacts() {
    var out = [];
    if (document.getElementById('playwright-highlight-container')) out.push('playwright-highlight-container');
    var bu = document.evaluate("count(//*[@*[starts-with(name(), 'data-browser-use')]])", document, null, 1, null);
    if (bu.numberValue > 0) out.push('data-browser-use');
    if (document.querySelector('[unique_id]')) out.push('unique_id');
    if ('__stagehandV3Injected' in window) out.push('__stagehandV3Injected');
    // attachShadow patched so that closed roots become open (agents that need to see inside them).
    var host = document.createElement('div');
    if (host.attachShadow) { host.attachShadow({ mode: 'closed' }); if (host.shadowRoot) out.push('shadow_forced_open'); }
    return out;
  }
  function tamper() {
    var out = [];
    NATIVES.forEach(function (n, i) {
      var cur = n[2]();
      if (!nativeText(SNAP[i], n[1])) out.push(n[0]); // already replaced when the collector loaded
      else if (cur !== SNAP[i] && !nativeText(cur, n[1])) out.push(n[0] + '@late'); // replaced since
    });
    return out;
  }
  function voices() {
    var s = window.speechSynthesis;
    return s && s.getVoices ? s.getVoices().length : null;
  }

  function union(a, b) { return a.concat(b.filter(function (x) { return a.indexOf(x) < 0; })); }

  function probes() {
    var dpr = window.devicePixelRatio || 1;
    var p = {
      cdp: null, lies: null,
      ctx_mismatch: probe('ctx_mismatch', ctxMismatch, []),
      ctx_done: Object.keys(ctxResults),
      screen_eq_viewport: screen.width === window.innerWidth && screen.height === window.innerHeight,
      mm_dpr: probe('mm_dpr', function () {
        return !matchMedia('(min-resolution: ' + (dpr - 0.01) + 'dppx) and (max-resolution: ' + (dpr + 0.01) + 'dppx)').matches;
      }, null),
      voices: probe('voices', voices, null),
      codecs: probe('codecs', codecs, []),
      tz_locale: probe('tz_locale', function () { return str(Intl.DateTimeFormat().resolvedOptions().locale); }, null),
      locale_mismatch: probe('locale_mismatch', function () {
        return Intl.DateTimeFormat().resolvedOptions().locale.split('-')[0] !== String(navigator.language).split('-')[0];
      }, null),
      dom: probe('dom', domArtefacts, []),
      untrusted_after_trusted: untrustedAfterTrusted,
      tamper: probe('tamper', tamper, []),
      errors: null
    };
    probe('cdp', cdpProbe);
    p.cdp = Object.keys(cdp);
    // The getters as at load need their own check only if one was replaced since.
    p.lies = union(probe('lies', function () { return loadTargets && replaced(loadTargets) ? lieProbe(pristineFTS, loadTargets) : []; }, []),
      probe('lies', function () { return lieProbe(pristineFTS); }, [])).slice(0, MAX_LIST);
    p.errors = Object.keys(errors).slice(0, MAX_LIST);
    return p;
  }

  // ---- Telemetry
  var SID = probe('sid', function () {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
  }, String(Math.random()).slice(2));

  function collect(form) {
    scanStack();
    var events = buf.slice(-MAX_EVENTS);
    var t = {
      v: 1,
      sid: SID,
      page: str(location.pathname) || '/',
      device: probe('device', device, {}),
      markers: probe('markers', markers, {}),
      probes: probe('probes', probes, {}),
      events: events,
      dropped: total - events.length,
      fields: probe('fields', function () {
        return textFields(form).map(function (el) { return [fid(el), str(fieldKind(el)), vlen(el)]; });
      }, [])
    };
    t.sent_ms = Math.max(stamp(), 0);
    return t;
  }

  // ---- msgpack, write only: nil, bool, int, float64, str, array and map (a library would not fit)
  function encode(obj) {
    var out = new Uint8Array(1024), view = new DataView(out.buffer), n = 0;
    function room(k) {
      if (n + k <= out.length) return;
      var bigger = new Uint8Array(Math.max(out.length * 2, n + k));
      bigger.set(out);
      out = bigger;
      view = new DataView(out.buffer);
    }
    function u8(x) { room(1); out[n++] = x; }
    function head(small, smallMax, code, len) { // fixed-size header for str/array/map lengths
      if (len <= smallMax) u8(small | len);
      else if (code === 0xd9 && len < 256) { u8(code); u8(len); }
      else if (len < 65536) { room(3); out[n++] = code === 0xd9 ? 0xda : code; view.setUint16(n, len); n += 2; }
      else { room(5); out[n++] = code === 0xd9 ? 0xdb : code + 1; view.setUint32(n, len); n += 4; }
    }
    function int(x) {
      room(9);
      if (x >= 0) {
        if (x < 128) out[n++] = x;
        else if (x < 256) { out[n++] = 0xcc; out[n++] = x; }
        else if (x < 65536) { out[n++] = 0xcd; view.setUint16(n, x); n += 2; }
        else if (x < 4294967296) { out[n++] = 0xce; view.setUint32(n, x); n += 4; }
        else { out[n++] = 0xcf; view.setUint32(n, Math.floor(x / 4294967296)); view.setUint32(n + 4, x % 4294967296); n += 8; }
      } else if (x >= -32) out[n++] = 0xe0 | (x + 32);
      else if (x >= -128) { out[n++] = 0xd0; view.setInt8(n++, x); }
      else if (x >= -32768) { out[n++] = 0xd1; view.setInt16(n, x); n += 2; }
      else if (x >= -2147483648) { out[n++] = 0xd2; view.setInt32(n, x); n += 4; }
      else {
        var hi = Math.floor(x / 4294967296);
        out[n++] = 0xd3; view.setInt32(n, hi); view.setUint32(n + 4, x - hi * 4294967296); n += 8;
      }
    }
    function w(v) {
      if (v === null || v === undefined) u8(0xc0);
      else if (v === true) u8(0xc3);
      else if (v === false) u8(0xc2);
      else if (typeof v === 'number') {
        // Whole numbers within 2^53 travel as ints; everything else (and NaN, ±Infinity) as float64.
        if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) int(v === 0 ? 0 : v);
        else { room(9); out[n++] = 0xcb; view.setFloat64(n, v); n += 8; }
      } else if (typeof v === 'string') {
        var b = TE.encode(v);
        head(0xa0, 31, 0xd9, b.length);
        room(b.length); out.set(b, n); n += b.length;
      } else if (Array.isArray(v)) {
        head(0x90, 15, 0xdc, v.length);
        for (var i = 0; i < v.length; i++) w(v[i]);
      } else if (typeof v === 'object') {
        var keys = Object.keys(v);
        head(0x80, 15, 0xde, keys.length);
        for (var j = 0; j < keys.length; j++) { w(keys[j]); w(v[keys[j]]); }
      } else u8(0xc0); // functions, symbols, bigints: not part of the schema
    }
    w(obj);
    return out.slice(0, n);
  }

  // ---- Transport
  var TIMEOUT_MS = 3000;
  // A cookie too, for gateways that forward only headers (Envoy, Traefik): a plain form post carries it.
  // Bound to tell_sid like any token. It lives until `expires` by the server's Date, not the device's.
  function tokenCookie(j, date) {
    var age = Math.floor(j.expires - (Date.parse(date) || Date.now()) / 1000) - 1;
    try { // a sandboxed frame has no cookies; the header and the field still work
      if (/^[\w.-]+$/.test(j.token) && age > 0) {
        document.cookie = 'tell_token=' + j.token + ';Path=/;SameSite=Strict;Max-Age=' + age + (location.protocol === 'https:' ? ';Secure' : '');
      }
    } catch (e) {}
  }
  function post(body) {
    var ctl = window.AbortController ? new AbortController() : null;
    var timer;
    var req = nativeFetch.call(window, BASE + '/edge/telemetry', {
      method: 'POST',
      headers: { 'Content-Type': 'application/msgpack' },
      body: body,
      credentials: 'same-origin',
      signal: ctl ? ctl.signal : undefined
    }).then(function (r) {
      if (!r.ok) throw new Error('tell: telemetry answered ' + r.status);
      return r.json().then(function (j) { tokenCookie(j, r.headers.get('Date')); return j; });
    });
    var timeout = new Promise(function (_, reject) {
      timer = setTimeout(function () { if (ctl) ctl.abort(); reject(new Error('tell: telemetry timed out')); }, TIMEOUT_MS);
    });
    return Promise.race([req, timeout]).then(
      function (j) { clearTimeout(timer); return j; },
      function (e) { clearTimeout(timer); throw e; });
  }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function send(form) {
    scanStack();
    return Promise.race([finishLazy(), sleep(LAZY_WAIT_MS)]).then(function () { return post(encode(collect(form))); });
  }
  function headers(form) {
    return send(form).then(function (j) { return { 'X-Tell-Token': String(j.token) }; });
  }

  // ---- Tell.fetch: answers a challenge by itself (docs/challenge.md), whose UI is loaded only then
  var chl;
  function challenge(url) {
    chl = chl || new Promise(function (ok, ko) {
      var s = document.createElement('script');
      s.src = BASE + '/edge/challenge.js';
      s.onload = ok;
      s.onerror = function () { chl = null; ko(new Error('tell: challenge script')); };
      document.head.appendChild(s);
    });
    return chl.then(function () { return window.TellChallenge.run(url); });
  }
  function tfetch(url, init) { // init.body must be re-sendable (not a stream): a challenge retries once
    init = init || {};
    function go(clearance) {
      return headers().then(null, function () { return {}; }).then(function (h) {
        var all = new Headers(init.headers);
        Object.keys(h).forEach(function (k) { all.set(k, h[k]); });
        if (clearance) all.set('X-Tell-Clearance', clearance);
        return nativeFetch.call(window, url, Object.assign({}, init, { headers: all }));
      });
    }
    return go().then(function (r) {
      var c = r.status === 401 && r.headers.get('X-Tell-Challenge');
      return c ? challenge(c).then(function (j) { return go(j.clearance); }, function () { return r; }) : r;
    });
  }

  // ---- Protected forms
  var inflight = new WeakSet();
  function hidden(form, name, value) {
    var el = form.querySelector('input[type=hidden][name="' + name + '"]');
    if (value == null) { if (el) el.remove(); return; }
    if (!el) {
      el = document.createElement('input');
      el.type = 'hidden';
      el.name = name;
      form.appendChild(el);
    }
    el.value = value;
  }
  // Bubble phase on window, after the page's own handlers: a page that cancels the submit (client
  // validation, its own fetch) keeps control. Not passive: we may cancel it.
  addEL.call(window, 'submit', function (e) {
    var form = e.target;
    if (!form || !form.hasAttribute || !form.hasAttribute('data-tell-protect')) return;
    if (inflight.has(form)) { e.preventDefault(); return; } // a double click while we are sending
    if (e.defaultPrevented) return;
    e.preventDefault();
    inflight.add(form);
    var sub = e.submitter;
    send(form).then(function (j) { return j && j.token != null ? String(j.token) : null; }, function () { return null; })
      .then(function (token) {
        // Without a token the server challenges; whatever happens here, the user's write is submitted.
        var saved = [], mirror;
        try {
          hidden(form, 'tell_token', token);
          // Native submit() ignores the submitter: carry its name/value and form* overrides ourselves
          // for the duration of the call (the form data set is built synchronously inside it).
          if (sub && sub.form === form) {
            if (sub.name) {
              mirror = document.createElement('input');
              mirror.type = 'hidden';
              mirror.name = sub.name;
              mirror.value = sub.value;
              form.appendChild(mirror);
            }
            ['action', 'method', 'enctype', 'target'].forEach(function (a) {
              if (sub.hasAttribute('form' + a)) { saved.push([a, form.getAttribute(a)]); form.setAttribute(a, sub.getAttribute('form' + a)); }
            });
          }
        } catch (err) { errors.form = 1; }
        try {
          formSubmit.call(form); // fires no submit event, so this cannot loop back into this handler
        } finally {
          if (mirror) mirror.remove();
          saved.forEach(function (s) { if (s[1] === null) form.removeAttribute(s[0]); else form.setAttribute(s[0], s[1]); });
          inflight.delete(form);
        }
      });
  }, false);

  // The API, documented in docs/collector.md ("API").
  window.Tell = Object.freeze({ v: 1, collect: collect, send: send, headers: headers, fetch: tfetch, encode: encode });
})(window, document);
