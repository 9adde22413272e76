// Headless Chromium for the suites: Debian's /usr/bin/chromium driven by playwright-core (no
// browser download), a fresh profile per launch, and no network: every request is aborted
// unless its origin is one the test allows (the gateway's own, by default).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const BROWSER_TIMEOUT_MS = 20_000;

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Opens a browser context on a fresh --user-data-dir. `allow(url)` says which requests may
 * reach the network; the rest are aborted and listed in `blocked`. `close()` removes it all.
 */
export async function openBrowser({ allow }) {
  const userDataDir = await mkdtemp(join(tmpdir(), 'clients-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    timeout: BROWSER_TIMEOUT_MS,
    offline: false,
    serviceWorkers: 'block',
  });
  context.setDefaultTimeout(BROWSER_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(BROWSER_TIMEOUT_MS);
  const blocked = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (allow(url)) return route.fallback();
    blocked.push(url.href);
    return route.abort('internetdisconnected');
  });
  const close = async () => {
    await context.close().catch(() => {});
    await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
  };
  return { context, blocked, close };
}
