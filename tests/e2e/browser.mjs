// Chromium through playwright-core, with a watch on everything that must not happen on a page:
// uncaught exceptions, console errors (CSP violations show there as "Refused to ..."), UI files
// that fail to load, and admin API answers >= 400 that the scenario did not expect.

import path from 'node:path';

import {chromiumPath} from './harness.mjs';

export async function launchChromium() {
  // Loaded here, not at the top: a missing node_modules must fail with a clear message, which
  // ui.test.mjs gives before it gets here.
  const {chromium} = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
  });
}

// A page on its own browser context (own sessionStorage) that records problems.
//   const p = await openPage(browser, adminUrl, {viewport, shots, prefix});
//   p.allowApiErrors(401);       // expected for the rest of the current step
//   p.takeProblems() -> [text]   // and clears them (and the allowed statuses)
//   await p.shot('services');    // full-page screenshot <shots>/<prefix><NN>-services.png
export async function openPage(browser, adminUrl, {viewport = {width: 1280, height: 800}, shots,
  prefix = ''} = {}) {
  const context = await browser.newContext({viewport});
  await context.grantPermissions(['clipboard-read', 'clipboard-write'],
      {origin: new URL(adminUrl).origin});
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.setDefaultNavigationTimeout(10000);
  const problems = [];
  let allowed = new Set();
  const origin = new URL(adminUrl).origin;
  const isUiFile = (url) => {
    const u = new URL(url);
    return u.origin === origin && (u.pathname === '/' || u.pathname.startsWith('/ui/') ||
        u.pathname.startsWith('/favicon'));
  };

  page.on('pageerror', (error) => problems.push(`uncaught exception: ${error.stack || error}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    // Chromium logs every HTTP answer >= 400 as "Failed to load resource"; the response
    // handler below judges those (some are expected: a wrong token, a validation error).
    if (/^Failed to load resource: the server responded with a status of \d+/.test(text)) return;
    const where = message.location()?.url ? ` (${message.location().url})` : '';
    problems.push(`console error: ${text}${where}`);
  });
  page.on('response', (response) => {
    const status = response.status();
    if (status < 400) return;
    const url = response.url();
    const method = response.request().method();
    if (isUiFile(url)) {
      problems.push(`UI file ${url} answered ${status}`);
    } else if (!allowed.has(status)) {
      problems.push(`unexpected admin API answer ${status} to ${method} ${url}`);
    }
  });
  page.on('requestfailed', (request) => {
    const failure = request.failure()?.errorText || 'failed';
    // A poll cut short by a navigation or reload is not a problem.
    if (failure.includes('ERR_ABORTED')) return;
    problems.push(`request ${request.method()} ${request.url()} failed: ${failure}`);
  });

  let counter = 0;
  return {
    page,
    context,
    allowApiErrors(...statuses) {
      for (const s of statuses) allowed.add(s);
    },
    takeProblems() {
      const out = problems.splice(0);
      allowed = new Set();
      return out;
    },
    async shot(name) {
      if (!shots) return;
      counter += 1;
      const file = `${prefix}${String(counter).padStart(2, '0')}-${name.replace(/[^a-z0-9-]+/gi, '-')}.png`;
      await page.screenshot({path: path.join(shots, file), fullPage: true});
    },
    async close() {
      await context.close();
    },
  };
}
