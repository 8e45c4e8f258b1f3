// The status page in a real browser: Debian's headless Chromium, driven by
// playwright-core, with JavaScript off, against the exporter on the fake
// world (scripts/browser-test.sh starts both on 127.0.0.1 and sets
// EXPORTER_URL). Checks that the header's counts match /metrics, that a
// failing domain sorts first, that the filter form works, that a domain's
// page shows its failing MX host and what to do, and that nothing is fetched from
// anywhere but the exporter. Saves a screenshot to SCREENSHOT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const base = process.env.EXPORTER_URL;
const screenshot = process.env.SCREENSHOT;
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
assert.ok(base && base.startsWith('http://127.0.0.1:'), 'EXPORTER_URL must be the exporter on loopback');

let browser;
let context;
const foreign = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  // Readable with JavaScript off: every check runs without it.
  context = await browser.newContext({
    javaScriptEnabled: false,
    viewport: { width: 1400, height: 900 },
  });
  context.on('request', (request) => {
    if (!request.url().startsWith(base) && !request.url().startsWith('data:')) {
      foreign.push(request.url());
    }
  });
  // Nothing may leave loopback: any other request is aborted and recorded.
  await context.route((url) => !url.href.startsWith(base) && url.protocol !== 'data:', (route) => route.abort());
});

after(async () => {
  await browser?.close();
});

/** The text exposition as `name{labels}` → value (labels as the exporter writes them). */
async function metrics() {
  const response = await fetch(`${base}/metrics`);
  assert.equal(response.status, 200);
  const series = new Map();
  for (const line of (await response.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    series.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return series;
}

/** Values of `name` by their `domain` label. */
function byDomain(series, name) {
  const out = new Map();
  for (const [key, value] of series) {
    if (!key.startsWith(`${name}{`)) continue;
    const domain = /domain="([^"]*)"/.exec(key)?.[1];
    if (domain !== undefined) out.set(domain, [...(out.get(domain) || []), value]);
  }
  return out;
}

/** What the page's header cards say, by key. */
async function cards(page) {
  const out = {};
  for (const card of await page.locator('nav.cards a.card').all()) {
    const key = (await card.getAttribute('id')).replace(/^count-/, '');
    out[key] = Number(await card.locator('.n').innerText());
  }
  return out;
}

/** The (domain, status) of each row of the domains table, in order. */
async function rows(page) {
  return page.locator('#domains tbody tr').evaluateAll((trs) =>
    trs.map((tr) => [tr.dataset.domain, tr.querySelector('.badge').innerText]));
}

test('the counts in the header match /metrics', async () => {
  const page = await context.newPage();
  await page.goto(`${base}/`);
  const shown = await cards(page);
  const series = await metrics();
  const success = byDomain(series, 'mtasts_probe_success');
  const warned = byDomain(series, 'mtasts_policy_warning');
  const failed = byDomain(series, 'mtasts_probe_failed');
  const expiry = byDomain(series, 'mtasts_cert_earliest_expiry_timestamp_seconds');
  const passing = [...success].filter(([, v]) => v[0] === 1).map(([d]) => d);
  const withWarnings = passing.filter((d) => (warned.get(d) || []).some((v) => v === 1) || failed.has(d));
  const now = Date.now() / 1000;
  const within = (days) => [...expiry.values()].filter(([t]) => t - now <= days * 86400).length;
  const expected = {
    failing: [...success.values()].filter((v) => v[0] === 0).length,
    warning: withWarnings.length,
    ok: passing.length - withWarnings.length,
    'not-probed': series.get('mtasts_domains_configured') - success.size,
    // The fake world's config keeps the default thresholds: 21 and 7 days.
    'cert-warning': within(21),
    'cert-critical': within(7),
    all: series.get('mtasts_domains_configured'),
  };
  assert.ok(expected.failing > 0 && expected.ok > 0 && expected['cert-critical'] > 0, JSON.stringify(expected));
  for (const [key, value] of Object.entries(expected)) {
    assert.equal(shown[key], value, `card ${key}: page ${shown[key]}, /metrics ${value}`);
  }
  await page.close();
});

test('a failing domain sorts first, ok ones last', async () => {
  const page = await context.newPage();
  await page.goto(`${base}/`);
  const order = await rows(page);
  const success = byDomain(await metrics(), 'mtasts_probe_success');
  assert.equal(order[0][1], 'failing');
  assert.equal(success.get(order[0][0])[0], 0, `${order[0][0]} is failing in /metrics`);
  const rank = { failing: 0, incomplete: 1, warnings: 2, ok: 3, 'not probed yet': 4 };
  const ranks = order.map(([, status]) => rank[status]);
  assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b), JSON.stringify(order));
  assert.equal(order.length, success.size);
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  await page.close();
});

test('the filter form selects by name and status, without JavaScript', async () => {
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.getByLabel('Domain name contains').fill('mx');
  await page.getByLabel('Status').selectOption('failing');
  await Promise.all([page.waitForURL(/[?&]q=mx/), page.getByRole('button', { name: 'Filter' }).click()]);
  assert.match(page.url(), /status=failing/);
  const success = byDomain(await metrics(), 'mtasts_probe_success');
  const expected = [...success].filter(([d, v]) => d.includes('mx') && v[0] === 0).map(([d]) => d).sort();
  const shown = await rows(page);
  assert.ok(expected.length >= 2, JSON.stringify(expected));
  assert.deepEqual(shown.map(([d]) => d), expected);
  assert.ok(shown.every(([, status]) => status === 'failing'));
  // The form keeps what was asked; "show all" clears it.
  assert.equal(await page.getByLabel('Domain name contains').inputValue(), 'mx');
  await page.getByRole('link', { name: 'show all' }).click();
  assert.equal((await rows(page)).length, success.size);
  // A card is a filter too.
  await page.locator('#count-ok').click();
  const ok = await rows(page);
  assert.ok(ok.length > 0 && ok.every(([, status]) => status === 'ok'), JSON.stringify(ok));
  await page.close();
});

test("a domain's page shows its failing MX host", async () => {
  const page = await context.newPage();
  await page.goto(`${base}/?status=failing`);
  await page.getByRole('link', { name: 'mxexpired.test', exact: true }).click();
  assert.equal(new URL(page.url()).pathname, '/domain/mxexpired.test');
  assert.equal(await page.locator('#status').innerText(), 'failing');
  const failure = page.locator('#failure-table tbody tr', { hasText: 'certificate-expired' });
  assert.equal(await failure.count(), 1);
  assert.match(await failure.innerText(), /mx2\.mxexpired\.test/);
  // What to do: the failure table's last column, from the remedy table.
  assert.equal(await page.locator('#failure-table th').last().innerText(), 'What to do');
  assert.ok((await failure.locator('td').last().innerText()).length > 20);
  const host = page.locator('#mx-table tr[data-mx="mx2.mxexpired.test"]');
  assert.match(await host.innerText(), /certificate-expired/);
  assert.match(await host.innerText(), /expired \d+ days ago/);
  assert.ok(await page.locator('#policy-text').isVisible());
  assert.equal(await page.locator('#timing-table tbody tr').count() > 4, true);
  await page.getByRole('link', { name: '← all domains' }).click();
  assert.equal(new URL(page.url()).pathname, '/');
  await page.close();
});

test('nothing is fetched from outside the exporter', () => {
  assert.deepEqual(foreign, []);
});
