/*! Tell challenge worker: the proof of work, off the page's main thread. Contract: docs/challenge.md.
 *
 * In:  {nonce: hex string, bits: int}
 * Out: {counter, ms, hashes, ctx: {ua, platform, languages, hw_concurrency}, impl: 'subtle' | 'js'}
 *
 * Finds the smallest counter such that SHA-256(nonce ‖ counter as 8 bytes big-endian) starts with
 * `bits` zero bits. SubtleCrypto digests are asynchronous, so they are issued in batches and awaited
 * together; each call copies its input at once (WebCrypto spec), so one buffer is reused.
 * Loaded from a URL, never a Blob: its navigator is the browser's own, which the page's scripts
 * (and an automation tool's init scripts) cannot patch — the server compares the two (`ctx`).
 */
'use strict';

var BATCH = 256;

function hex(s) {
  var out = new Uint8Array(s.length >> 1);
  for (var i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
}

function zeroBits(h) {
  var n = 0;
  for (var i = 0; i < h.length; i++) {
    if (h[i] === 0) { n += 8; continue; }
    return n + Math.clz32(h[i]) - 24;
  }
  return n;
}

// Plain-JS SHA-256 for pages served without TLS (crypto.subtle exists only in secure contexts).
var K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2]);
function sha256(msg) { // msg: Uint8Array shorter than 56 bytes (one block), which is all we hash
  var W = new Uint32Array(64), b = new Uint8Array(64), i;
  b.set(msg); b[msg.length] = 0x80;
  new DataView(b.buffer).setUint32(60, msg.length * 8);
  for (i = 0; i < 16; i++) W[i] = (b[i * 4] << 24) | (b[i * 4 + 1] << 16) | (b[i * 4 + 2] << 8) | b[i * 4 + 3];
  for (i = 16; i < 64; i++) {
    var x = W[i - 15], y = W[i - 2];
    var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    W[i] = W[i - 16] + s0 + W[i - 7] + s1;
  }
  var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
  var a = h[0], c = h[1], d = h[2], e = h[3], f = h[4], g = h[5], k = h[6], l = h[7];
  for (i = 0; i < 64; i++) {
    var S1 = ((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7));
    var t1 = (l + S1 + ((f & g) ^ (~f & k)) + K[i] + W[i]) | 0;
    var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    var t2 = (S0 + ((a & c) ^ (a & d) ^ (c & d))) | 0;
    l = k; k = g; g = f; f = (e + t1) | 0; e = d; d = c; c = a; a = (t1 + t2) | 0;
  }
  var out = new Uint8Array(32), v = new DataView(out.buffer);
  [a, c, d, e, f, g, k, l].forEach(function (x, j) { v.setUint32(j * 4, (x + h[j]) >>> 0); });
  return out;
}

function context() {
  var n = self.navigator;
  return { ua: n.userAgent, platform: n.platform, languages: String(n.languages), hw_concurrency: n.hardwareConcurrency };
}

self.onmessage = function (e) {
  var nonce = hex(String(e.data.nonce)), bits = e.data.bits | 0, n = nonce.length;
  var msg = new Uint8Array(n + 8), view = new DataView(msg.buffer);
  var subtle = self.crypto && self.crypto.subtle;
  var t0 = performance.now(), counter = 0;
  msg.set(nonce);
  function put(c) { view.setUint32(n, Math.floor(c / 4294967296)); view.setUint32(n + 4, c >>> 0); }
  function done(c) {
    self.postMessage({ counter: c, ms: performance.now() - t0, hashes: c + 1, ctx: context(), impl: subtle ? 'subtle' : 'js' });
  }
  function batch() {
    var jobs = [];
    for (var i = 0; i < BATCH; i++) { put(counter + i); jobs.push(subtle.digest('SHA-256', msg)); }
    Promise.all(jobs).then(function (hs) {
      for (var j = 0; j < hs.length; j++) if (zeroBits(new Uint8Array(hs[j])) >= bits) return done(counter + j);
      counter += BATCH;
      batch();
    }, function (err) { self.postMessage({ error: String(err) }); });
  }
  if (subtle) return batch();
  for (;; counter++) { put(counter); if (zeroBits(sha256(msg)) >= bits) return done(counter); }
};
