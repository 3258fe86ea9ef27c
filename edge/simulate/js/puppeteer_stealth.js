// puppeteer-extra with the stealth plugin, driving Debian's Chromium through puppeteer-core.
//
// A line-oriented RPC server for edge/simulate/agents/puppeteer_stealth.py: the Python side walks the
// same flow as every other agent and sends one JSON command per line ({id, method, args}); this side
// answers {id, result} or {id, error}. Input is Puppeteer's own idiom: page.type() (a keydown, keypress,
// input and keyup per character, no delay) and page.click() (the mouse moved to the element's centre,
// pressed and released). Telemetry bodies are read from a separate CDP session's
// Network.requestWillBeSent (postDataEntries): nothing in the page is wrapped or patched for it.
'use strict';

const readline = require('readline');
const puppeteer = require('puppeteer-extra');
const StealthPlugin = require('puppeteer-extra-plugin-stealth');

puppeteer.use(StealthPlugin());

const TELEMETRY_PATH = '/edge/telemetry';
let browser = null;
let page = null;
let sent = new Map(); // requestId → {body, headers}, in the order sent
let timeoutMs = 20000;

function decode(request) {
  if (Array.isArray(request.postDataEntries) && request.postDataEntries.length) {
    return Buffer.concat(request.postDataEntries.map((e) => Buffer.from(e.bytes || '', 'base64')));
  }
  return request.postData != null ? Buffer.from(request.postData, 'latin1') : null;
}

const methods = {
  async launch({ executablePath, args, stepTimeoutS }) {
    timeoutMs = stepTimeoutS * 1000;
    // pipe: the browser exits with this process even when it is killed (a websocket port would leave
    // it running); the page cannot tell the transport apart.
    browser = await puppeteer.launch({ executablePath, headless: true, args, pipe: true });
    page = await browser.newPage();
    page.setDefaultTimeout(timeoutMs);
    const cdp = await page.createCDPSession();
    await cdp.send('Network.enable');
    cdp.on('Network.requestWillBeSent', (e) => {
      if (e.request.method === 'POST' && e.request.url.split('?')[0].endsWith(TELEMETRY_PATH)) {
        const body = decode(e.request);
        const had = sent.get(e.requestId);
        if (body) sent.set(e.requestId, { body: body.toString('base64'), headers: had ? had.headers : e.request.headers });
      }
    });
    // The raw headers Chromium sent (the page-set ones above lack sec-ch-ua, accept-encoding, …).
    cdp.on('Network.requestWillBeSentExtraInfo', (e) => {
      const had = sent.get(e.requestId);
      if (had) had.headers = e.headers;
      else sent.set(e.requestId, { body: null, headers: e.headers });
    });
    return {
      toolVersion: require('puppeteer-core/package.json').version,
      extraVersion: require('puppeteer-extra/package.json').version,
      stealthVersion: require('puppeteer-extra-plugin-stealth/package.json').version,
      browserVersion: (await browser.version()).replace(/^[^/]*\//, ''),
    };
  },
  async goto({ url }) { await page.goto(url, { waitUntil: 'load', timeout: timeoutMs }); },
  async waitReady({ expression }) { await page.waitForFunction(expression, { timeout: timeoutMs }); },
  async enter({ selector, text }) {
    await page.waitForSelector(selector, { visible: true, timeout: timeoutMs });
    await page.type(selector, text);
  },
  async submit({ selector }) {
    await Promise.all([page.waitForNavigation({ waitUntil: 'load', timeout: timeoutMs }), page.click(selector)]);
  },
  async attribute({ selector, name }) {
    const el = await page.$(selector);
    if (!el) return null;
    try { return await el.evaluate((e, n) => e.getAttribute(n), name); } finally { await el.dispose(); }
  },
  async url() { return page.url(); },
  async setCookie({ name, value, url }) {
    await page.setCookie({ name, value, url, httpOnly: true, sameSite: 'Lax' });
  },
  async takeTelemetry() {
    const out = [...sent.values()].filter((s) => s.body !== null);
    sent = new Map();
    return out;
  },
  async close() { if (browser) { await browser.close(); browser = null; } },
};

const rl = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
rl.on('line', (line) => {
  queue = queue.then(async () => {
    let msg;
    try { msg = JSON.parse(line); } catch (e) { return; }
    const reply = { id: msg.id };
    try {
      const fn = methods[msg.method];
      if (!fn) throw new Error(`unknown method ${msg.method}`);
      reply.result = (await fn(msg.args || {})) ?? null;
    } catch (e) {
      reply.error = `${e.name || 'Error'}: ${String(e.message || e).split('\n')[0]}`;
    }
    process.stdout.write(JSON.stringify(reply) + '\n');
  });
});
rl.on('close', () => { queue.then(() => methods.close()).finally(() => process.exit(0)); });
