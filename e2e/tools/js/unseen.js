// rebrowser-puppeteer-core (puppeteer-core with the Runtime.enable leak patched; default fix mode
// addBinding) through register → post → comment of `tell demo`, the way Puppeteer's docs show it:
// page.type with a per-key delay and page.click. Headless, Debian's Chromium.
// A refused post leaves none to comment on: then it comments on the board's first post, or stops.
// Usage: node unseen.js URL USERNAME PASSWORD POST COMMENT   → prints one JSON line.
'use strict';
const [url, username, password, postText, commentText] = process.argv.slice(2);
const CHROMIUM = process.env.TELL_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

async function write(page, fields) {
  await page.waitForFunction('window.Tell && window.Tell.v');
  for (const [sel, text] of fields) {
    await page.click(sel);
    await page.type(sel, text, { delay: 80 });
  }
  await Promise.all([page.waitForNavigation(), page.click('#submit')]);
  const d = await page.$eval('#decision', (el) => [el.dataset.decision, el.dataset.families, el.dataset.score]);
  return { decision: d[0], families: d[1], score: d[2] };
}

(async () => {
  const puppeteer = require('rebrowser-puppeteer-core');
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  try {
    const page = await browser.newPage();
    const writes = [];
    await page.goto(url + '/register', { waitUntil: 'load' });
    writes.push({ action: 'register', ...await write(page, [['#username', username], ['#password', password]]) });
    await page.goto(url + '/post', { waitUntil: 'load' });
    writes.push({ action: 'post', ...await write(page, [['#body', postText]]) });
    let target = await page.$eval('#next', (a) => (a.href.includes('/comment') ? a.href : null)).catch(() => null);
    if (!target) {
      await page.goto(url + '/', { waitUntil: 'load' });
      target = await page.$eval("a[href^='/comment?post=']", (a) => a.href).catch(() => null);
    }
    if (target) {
      await page.goto(target, { waitUntil: 'load' });
      writes.push({ action: 'comment', ...await write(page, [['#body', commentText]]) });
    }
    const version = require('rebrowser-puppeteer-core/package.json').version;
    const mode = process.env.REBROWSER_PATCHES_RUNTIME_FIX_MODE || 'addBinding (default)';
    console.log(JSON.stringify({ version, browser: await browser.version(), mode, writes }));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
