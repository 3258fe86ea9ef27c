// Puppeteer (puppeteer-core, Debian's Chromium) through the register flow of `tell demo`, the way its
// docs show it: page.type (a key per character, no delay) and page.click (move to the centre, press,
// release). `evaluate` sets the values from page.$eval instead. `stealth` adds puppeteer-extra with puppeteer-extra-plugin-stealth, all evasions on.
// Usage: node drive.js URL USERNAME PASSWORD plain|evaluate|stealth   → prints one JSON line.
'use strict';
const [url, username, password, mode] = process.argv.slice(2);
const CHROMIUM = process.env.TELL_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

function load() {
  if (mode !== 'stealth') return require('puppeteer-core');
  const puppeteer = require('puppeteer-extra');
  puppeteer.use(require('puppeteer-extra-plugin-stealth')());
  return puppeteer;
}

(async () => {
  const puppeteer = load();
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  try {
    const page = await browser.newPage();
    await page.goto(url + '/register', { waitUntil: 'load' });
    await page.waitForFunction('window.Tell && window.Tell.v');
    if (mode === 'evaluate') {
      for (const [sel, value] of [['#username', username], ['#password', password]]) {
        await page.$eval(sel, (el, v) => { el.value = v; el.dispatchEvent(new Event('input', { bubbles: true })); }, value);
      }
    } else {
      await page.type('#username', username);
      await page.type('#password', password);
    }
    await Promise.all([page.waitForNavigation(), page.click('#submit')]);
    const d = await page.$eval('#decision', (el) => [el.dataset.decision, el.dataset.families, el.dataset.score]);
    const pkg = (n) => require(n + '/package.json').version;
    const version = mode === 'stealth'
      ? `${pkg('puppeteer-core')} + puppeteer-extra ${pkg('puppeteer-extra')} + stealth ${pkg('puppeteer-extra-plugin-stealth')}`
      : pkg('puppeteer-core');
    console.log(JSON.stringify({ version, browser: await browser.version(), decision: d[0], families: d[1], score: d[2] }));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
