// Opens a test page in headless Debian Chromium and prints the page's
// result as JSON on stdout. Usage: node run-page.mjs <url> [timeout-ms]
// [driver.mjs]. The page signals completion by setting window.__result;
// a driver module's drive(page, timeout), run once the page has loaded,
// works a page that is not made for tests (clicks, waits) and sets it.
import { chromium } from 'playwright-core';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// Debian's /usr/bin/chromium is a shell wrapper that loses Playwright's
// --remote-debugging-pipe descriptors; the binary behind it works.
function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const p of ['/usr/lib/chromium/chromium', '/usr/bin/chromium']) {
    if (existsSync(p)) return p;
  }
  return '/usr/bin/chromium';
}

// gotoSettled opens url, once more if Chromium aborted the navigation
// because the host's addresses or links changed (ERR_NETWORK_CHANGED): that
// is the environment moving under the page, which a person would answer
// with a reload. The test namespaces are built not to move (browsertest's
// setupVeth); the retry is said on stderr so it shows in the test log.
async function gotoSettled(page, url) {
  try {
    await page.goto(url);
  } catch (e) {
    if (!String(e.message).includes('ERR_NETWORK_CHANGED')) throw e;
    process.stderr.write(`run-page: ${url}: ERR_NETWORK_CHANGED, loading again\n`);
    await page.goto(url);
  }
}

const url = process.argv[2];
const timeout = Number(process.argv[3] || 20000);
const driver = process.argv[4];
const userDataDir = mkdtempSync(join(tmpdir(), 'mediad-chromium-'));
const ctx = await chromium.launchPersistentContext(userDataDir, {
  executablePath: chromiumPath(),
  headless: true,
  timeout: 90000,
  // sipproxy's WSS listener has a self-signed certificate in the tests.
  ignoreHTTPSErrors: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    '--ignore-certificate-errors',
  ],
});
let code = 0;
try {
  const page = await ctx.newPage();
  page.on('console', (m) => process.stderr.write(`console: ${m.text()}\n`));
  await gotoSettled(page, url);
  if (driver) {
    const { drive } = await import(resolve(driver));
    await drive(page, timeout);
  }
  const res = await page.waitForFunction(() => window.__result, null, { timeout });
  process.stdout.write(JSON.stringify(await res.jsonValue()) + '\n');
} catch (e) {
  process.stderr.write(`run-page: ${e}\n`);
  code = 1;
} finally {
  await ctx.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(code);
