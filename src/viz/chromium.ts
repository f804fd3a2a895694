/**
 * Headless Chromium (Debian package `chromium`) through playwright-core, offline: every request that is
 * not file:, data:, blob: or about: is aborted and reported. Shared by the static figure exporter and the
 * notebook browser check.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BrowserContext } from 'playwright-core';

/** `CHROMIUM_PATH` overrides the Debian default. */
export function chromiumPath(): string {
  return process.env.CHROMIUM_PATH || '/usr/bin/chromium';
}

export function chromiumAvailable(executablePath: string = chromiumPath()): boolean {
  try {
    fs.accessSync(executablePath, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Launch flags (playwright adds its own automation flags on top). */
export const CHROMIUM_ARGS: readonly string[] = Object.freeze([
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
]);

/** URLs that stay on this machine. */
export function isLocalUrl(url: string): boolean {
  return /^(file|data|blob|about):/i.test(url);
}

export interface OfflineBrowser {
  context: BrowserContext;
  /** Non-local URLs that something tried to load (all were aborted). */
  blocked: string[];
  close(): Promise<void>;
}

/**
 * Launch Chromium with a fresh, temporary user-data dir (removed on close) and a route that aborts
 * every non-local request.
 */
export async function launchOfflineChromium(opts: { executablePath?: string; allow?: (url: string) => boolean; viewport?: { width: number; height: number } } = {}): Promise<OfflineBrowser> {
  const executablePath = opts.executablePath ?? chromiumPath();
  if (!chromiumAvailable(executablePath)) {
    throw new Error(`Chromium not found at ${executablePath} (Debian: apt-get install chromium; or set CHROMIUM_PATH)`);
  }
  // Required lazily so that code which only builds figure specs never loads playwright.
  const { chromium } = require('playwright-core') as typeof import('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS],
      viewport: opts.viewport ?? { width: 1280, height: 900 },
      offline: false,
    });
  } catch (err) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw err;
  }
  const blocked: string[] = [];
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (isLocalUrl(url) || opts.allow?.(url)) return route.continue();
    blocked.push(url);
    return route.abort('blockedbyclient');
  });
  return {
    context,
    blocked,
    async close() {
      try {
        await context.close();
      } finally {
        fs.rmSync(userDataDir, { recursive: true, force: true });
      }
    },
  };
}
