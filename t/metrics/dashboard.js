#!/usr/bin/env node
/*
 * The ws_gateway_status HTML dashboard in headless Chromium (Debian's
 * /usr/bin/chromium, driven by playwright-core from t/metrics/node_modules).
 *
 *   node dashboard.js URL SCREENSHOT.png PROFILE_DIR
 *
 * Opens URL while the caller keeps sessions coming and going, waits for
 * the first poll, takes two samples of the charts (canvas pixels) and of
 * the numbers (header and tables) a few seconds apart, saves a
 * screenshot, and prints one JSON line with what it saw: the caller
 * (metrics_test.py) makes the checks.
 */

'use strict';

const fs = require('fs');
const { chromium } = require('playwright-core');

const [url, shot, profile] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

function sample(page) {
  return page.evaluate(() => {
    const cv = Array.from(document.querySelectorAll('canvas'));
    return {
      canvases: cv.length,
      pixels: cv.map((c) => c.toDataURL()),
      inked: cv.filter((c) => {
        if (!c.width || !c.height) return false;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i]) return true;
        return false;
      }).length,
      info: document.getElementById('info') ?
        document.getElementById('info').textContent : null,
      tables: Array.from(document.querySelectorAll('table'))
        .map((t) => t.innerText).join('\n'),
      workerRows: document.querySelectorAll('#workers tr').length - 1,
      linkRows: document.querySelectorAll('#links tr').length - 1,
      linksText: document.getElementById('links') ?
        document.getElementById('links').innerText : null,
      linksHtml: document.getElementById('links') ?
        document.getElementById('links').innerHTML : null,
      chanText: document.getElementById('chan') ?
        document.getElementById('chan').innerText : null,
      errText: document.getElementById('err') ?
        document.getElementById('err').textContent : null,
    };
  });
}

(async () => {
  const res = {
    loaded: false, canvases: 0, inked: 0, chartsChanged: false,
    chartsChangedCount: 0, numbersChanged: false, info: [], workerRows: 0,
    consoleErrors: [], faviconErrors: [], pageErrors: [], errText: null, gapMs: 0,
  };
  fs.rmSync(profile, { recursive: true, force: true });
  fs.mkdirSync(profile, { recursive: true });

  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
           '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });

  try {
    const page = context.pages()[0] || await context.newPage();
    // the browser's own request for /favicon.ico is not the page's: its
    // 404 is reported apart (the page could declare an inline icon)
    const failed = {};
    page.on('response', (r) => {
      if (r.status() >= 400) failed[r.url()] = r.status();
    });
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const where = (m.location() && m.location().url) || '';
      if (/\/favicon\.ico$/.test(where)) {
        res.faviconErrors.push(m.text());
        return;
      }
      res.consoleErrors.push(m.text() + (where ? ' (' + where + ')' : ''));
    });
    page.on('pageerror', (e) => res.pageErrors.push(String(e)));

    const resp = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
    res.status = resp ? resp.status() : null;
    res.contentType = resp ? resp.headers()['content-type'] : null;
    res.loaded = res.status === 200 && /^text\/html/.test(res.contentType || '');

    // the first poll fills the workers' table
    await page.waitForFunction(
      () => document.querySelectorAll('#workers tr').length > 1,
      null, { timeout: 10000 });
    await page.waitForTimeout(2500);

    const a = await sample(page);
    const t = Date.now();
    await page.waitForTimeout(3500);
    const b = await sample(page);
    res.gapMs = Date.now() - t;

    res.canvases = b.canvases;
    res.inked = b.inked;
    res.chartsChangedCount = a.pixels.filter((p, i) => p !== b.pixels[i]).length;
    res.chartsChanged = res.chartsChangedCount > 0;
    res.info = [a.info, b.info];
    res.numbersChanged = a.tables !== b.tables || a.info !== b.info;
    res.workerRows = b.workerRows;
    res.linkRows = b.linkRows;
    res.linksText = b.linksText;
    res.linksHtml = b.linksHtml;
    res.chanText = b.chanText;
    res.errText = b.errText;
    res.failedResponses = failed;

    await page.screenshot({ path: shot, fullPage: true });
  } catch (e) {
    res.pageErrors.push('dashboard.js: ' + String(e));
  } finally {
    await context.close();
  }
  console.log(JSON.stringify(res));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
