// What the console's browser tests share: the stack's addresses, HTTP helpers, bounded polling,
// fixtures made through the API and the browser's set-up.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set (the gateway stack exports it)`);
  return value.replace(/\/+$/, '');
};

export const GATEWAY_URL = env('GATEWAY_URL');
export const FAKE_STRIPE_URL = env('FAKE_STRIPE_URL');
export const ADMIN_TOKEN = process.env.ADMIN_TOKEN?.trim();
if (!ADMIN_TOKEN) throw new Error('ADMIN_TOKEN must be set (the gateway stack exports it)');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHOTS = path.join(REPO_ROOT, 'target', 'console');

// Deadlines: every wait below is bounded by one of these, never a fixed sleep.
export const API_DEADLINE_MS = 30_000;
export const UI_DEADLINE_MS = 20_000;

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const randomAlnum = (n) => Array.from({ length: n }, () => ALNUM[randomInt(ALNUM.length)]).join('');

// ---------------------------------------------------------------------------------------------
// HTTP helpers

async function call(base, method, pathname, { body, token } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(`${base}${pathname}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(API_DEADLINE_MS),
  });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: response.status, json, text };
}

export const gateway = (method, pathname, body) => call(GATEWAY_URL, method, pathname, { body, token: ADMIN_TOKEN });
export const fake = (method, pathname, body) => call(FAKE_STRIPE_URL, method, pathname, { body });

export function expectStatus(res, status, what) {
  assert.equal(res.status, status, `${what}: expected ${status}, got ${res.status}: ${res.text.slice(0, 500)}`);
  return res.json;
}

/** Calls `probe` until it returns a value other than undefined, or fails at the deadline. */
export async function poll(what, probe, { timeout = API_DEADLINE_MS, interval = 250 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await probe();
    if (last?.done) return last.value;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last seen: ${JSON.stringify(last?.seen ?? last)}`);
    }
    await new Promise((resolve) => { setTimeout(resolve, interval); });
  }
}

// ---------------------------------------------------------------------------------------------
// Fixtures made through the API

export async function createOrganizer() {
  const suffix = randomAlnum(6);
  const account = `acct_${randomAlnum(16)}`;
  const org = expectStatus(
    await gateway('POST', '/v1/organizers', { name: `Console Test Events ${suffix}`, stripe_account_id: account }),
    201,
    'POST /v1/organizers',
  );
  assert.equal(org.stripe_account_id, account);
  return org;
}

/**
 * A browser page on a fresh context, with the errors the page raises collected, and `step`: a
 * subtest that leaves a screenshot behind when it fails.
 */
export async function openConsole(t) {
  await mkdir(SHOTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(UI_DEADLINE_MS);
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    // Answers with an error status (the bad token's 401, a missing favicon) are logged by the
    // browser itself; anything else logged as an error is the page's own.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) pageErrors.push(`console: ${msg.text()}`);
  });
  const step = (name, fn) => t.test(name, async () => {
    try {
      await fn();
    } catch (err) {
      const file = path.join(SHOTS, `failed-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      throw err;
    }
  });
  const byTestId = (id) => page.locator(`[data-testid="${id}"]`);
  return { context, page, pageErrors, step, byTestId };
}

/** Opens the console and signs in with the admin token. */
export async function signIn(page, byTestId) {
  const response = await page.goto(`${GATEWAY_URL}/admin`);
  assert.equal(response.status(), 200);
  await page.locator('html[data-ready="true"]').waitFor({ state: 'attached' });
  await byTestId('token-input').fill(ADMIN_TOKEN);
  await byTestId('token-submit').click();
  await byTestId('session').waitFor();
}
