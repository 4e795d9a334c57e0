import type { AlertPage, AlertRuleList, NativeMessage } from '@tacho/protocol';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpSink } from '../apps/server/src/test/smtp-sink.js';
import { launchBrowser, noBrowser, screenshot } from './support/browser.js';
import { publish } from './support/device.js';
import { type RunningServer, startServer } from './support/server.js';
import { ensureWebBuilt } from './support/web-build.js';

const admin = { email: 'admin@example.org', password: 'correct horse battery staple' };
const VIN = 'WVWZZZ1JZXW000018';
const VEHICLE = 'Blue car';
const RULE = 'Battery low';
const laptop = { width: 1280, height: 860 };
const phone = { width: 390, height: 844 };

async function call<T>(
  page: Page,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  return page.evaluate(
    async ([method, path, body]) => {
      const res = await fetch(path as string, {
        method: method as string,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    [method, path, body] as const,
  );
}

/** The text of what describes an input (its hint and error), as a screen reader reads it. */
async function description(input: Locator): Promise<string> {
  const ids = (await input.getAttribute('aria-describedby'))?.split(' ') ?? [];
  const texts = await Promise.all(ids.map((id) => input.page().locator(`[id="${id}"]`).textContent()));
  return texts.join(' ');
}

/** A message body as text: quoted-printable soft line breaks joined, `=3D` and the like decoded. */
function readable(raw: string): string {
  return raw
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

const battery = (pct: number, ts: number): NativeMessage => ({ ts, metrics: { battery_level_pct: pct } });

/**
 * Alerts as a person meets them: a rule made in the form, a battery that drops below its threshold, the
 * alert appearing live (badge, notice, list) without a reload, acknowledged, and its email at a real SMTP
 * server.
 */
describe.skipIf(noBrowser)('alerts in a browser', { timeout: 90_000 }, () => {
  let sink: SmtpSink;
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let vehicleId = '';
  let deviceToken = '';
  let clock = Date.now() - 60_000;
  /** What the page's live socket received. */
  const frames: string[] = [];
  /** Device times that only grow, all in the past. */
  const tick = () => (clock += 1000);

  const nav = () => page.getByRole('navigation', { name: 'Main' });
  const attention = () => page.getByRole('table', { name: 'Open and acknowledged alerts' });
  const alerts = async (query: string) => (await call<AlertPage>(page, 'GET', `/api/v1/alerts${query}`)).body;

  beforeAll(async () => {
    await ensureWebBuilt();
    sink = await SmtpSink.start();
    server = await startServer({
      TACHO_ADMIN_EMAIL: admin.email,
      TACHO_ADMIN_PASSWORD: admin.password,
      TACHO_SMTP_URL: sink.url,
      TACHO_SMTP_FROM: 'Tacho <alerts@example.org>',
    });
    browser = await launchBrowser();
    context = await browser.newContext({ baseURL: server.url, viewport: laptop });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('websocket', (socket) =>
      socket.on('framereceived', (frame) => frames.push(String(frame.payload))),
    );
    await page.goto('/login');
    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Password', { exact: true }).fill(admin.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(/\/vehicles$/);
    const vehicle = await call<{ id: string }>(page, 'POST', '/api/v1/vehicles', { vin: VIN, name: VEHICLE });
    expect(vehicle.status).toBe(201);
    vehicleId = vehicle.body.id;
    const token = await call<{ token: string }>(page, 'POST', `/api/v1/vehicles/${vehicleId}/tokens`, {});
    deviceToken = token.body.token;
    // Well above the threshold to begin with.
    await publish(server.url, VIN, deviceToken, [battery(35, tick())]);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await sink?.close();
  });

  it('creates a rule in the form: the metric picker shows units, a refused webhook is named at its field', async () => {
    await nav().getByRole('link', { name: 'Alerts', exact: true }).click();
    await page.waitForURL(/\/alerts$/);
    await page.getByText('Nothing needs attention: no alert is open.').waitFor();
    await page.getByRole('main').getByRole('link', { name: 'Rules', exact: true }).click();
    await page.waitForURL(/\/alerts\/rules$/);
    await page.getByText('No rules yet.').waitFor();

    await page.getByRole('button', { name: 'New rule' }).click();
    const form = page.getByRole('region', { name: 'New rule' });
    await form.getByLabel('Name', { exact: true }).fill(RULE);
    const metric = form.getByLabel('Metric', { exact: true });
    await expect(metric.locator('option', { hasText: 'Speed (km/h)' }).count()).resolves.toBe(1);
    await metric.selectOption({ label: 'Battery level (%)' });
    await form.getByLabel('Condition', { exact: true }).selectOption('<');
    await form.getByLabel('Value (%)', { exact: true }).fill('20');
    await expect(description(form.getByLabel('Value (%)', { exact: true }))).resolves.toContain(
      'Plausible range 0 – 100 %',
    );
    await form.getByLabel('Vehicle', { exact: true }).selectOption({ label: VEHICLE });
    const email = form.getByRole('checkbox', { name: `Email to ${admin.email}` });
    await expect(email.isChecked()).resolves.toBe(true);

    // A webhook to a private address, not allowed: the server's 400 shows at the webhook, not at the top.
    const webhook = form.getByRole('checkbox', { name: 'Webhook' });
    await webhook.check();
    await form.getByLabel('Webhook URL', { exact: true }).fill('https://10.0.0.1/hook');
    await form.getByRole('button', { name: 'Create rule' }).click();
    await expect
      .poll(() => description(form.getByLabel('Webhook URL', { exact: true })))
      .toContain('points at a private address');
    await expect(form.locator('.alert.error').count()).resolves.toBe(0);
    await screenshot(page, 'alerts-01-rule-refused-webhook');
    await webhook.uncheck();

    await form.getByRole('button', { name: 'Create rule' }).click();
    const row = page.getByRole('table', { name: 'Alert rules' }).getByRole('row', { name: new RegExp(RULE) });
    await row.getByText('Battery level < 20 %').waitFor();
    await row.getByText(`Email to ${admin.email}`).waitFor();
    await row.getByRole('cell', { name: VEHICLE }).waitFor();
    await expect(form.count()).resolves.toBe(0);
    await screenshot(page, 'alerts-02-rules');
    await page.setViewportSize(phone);
    await screenshot(page, 'alerts-02-rules-phone');
    await page.setViewportSize(laptop);
  });

  it("sends a test through the rule's channels: the email arrives, the dashboard shows a notice", async () => {
    await page.getByRole('button', { name: `Send test of ${RULE}` }).click();
    const results = page.getByRole('status').filter({ hasText: 'Test notification' });
    await results.getByText(admin.email).waitFor();
    await expect(results.textContent()).resolves.toMatch(/✓ Email to admin@example\.org: sent/);
    await expect(results.textContent()).resolves.toMatch(/✓ Dashboard notice: sent/);
    await page
      .getByRole('region', { name: 'New alerts' })
      .getByRole('status')
      .filter({ hasText: 'This is a test of the rule’s notifications' })
      .waitFor();
    await expect.poll(() => sink.received.length, { timeout: 15_000 }).toBe(1);
    expect(sink.received[0]?.to).toEqual([admin.email]);
    await screenshot(page, 'alerts-03-test');
    // Dismissed by hand (it would go by itself after a while).
    await page.getByRole('region', { name: 'New alerts' }).getByRole('button', { name: 'Dismiss' }).click();
  });

  it('shows the alert live when the battery drops below 20 %: list, badge and notice, without a reload', async () => {
    await nav().getByRole('link', { name: 'Alerts', exact: true }).click();
    await page.waitForURL(/\/alerts$/);
    await page.getByText('Nothing needs attention: no alert is open.').waitFor();
    // Marks this document: a reload would lose it.
    await page.evaluate(() => {
      (window as unknown as { alertsMark: string }).alertsMark = 'same page';
    });

    // The dashboard follows the vehicle (it was added after the page loaded): its snapshot has arrived.
    await expect.poll(() => frames.some((f) => f.includes('"snapshot"') && f.includes(vehicleId))).toBe(true);
    await publish(server.url, VIN, deviceToken, [battery(25, tick()), battery(18, tick())]);

    const row = attention().getByRole('row', { name: new RegExp(RULE) });
    await row.waitFor({ timeout: 20_000 });
    await row.getByRole('cell', { name: VEHICLE }).waitFor();
    await row.getByText('Open', { exact: true }).waitFor();
    await expect(row.textContent()).resolves.toMatch(/18/);
    await nav().getByRole('link', { name: 'Alerts, 1 open' }).waitFor();
    await page
      .getByRole('region', { name: 'New alerts' })
      .getByRole('status')
      .filter({ hasText: 'Battery level 18 % < 20 %' })
      .getByText(`${RULE} · ${VEHICLE}`)
      .waitFor();
    await expect(
      page.evaluate(() => (window as unknown as { alertsMark?: string }).alertsMark),
    ).resolves.toBe('same page');
    await screenshot(page, 'alerts-04-open');
    await page.setViewportSize(phone);
    await screenshot(page, 'alerts-04-open-phone');
    await page.setViewportSize(laptop);
  });

  it('acknowledges it: the state changes and the badge clears', async () => {
    const row = attention().getByRole('row', { name: new RegExp(RULE) });
    await row.getByRole('button', { name: /^Acknowledge/ }).click();
    await row.getByText('Acknowledged', { exact: true }).waitFor();
    await nav().getByRole('link', { name: 'Alerts', exact: true }).waitFor();
    const acknowledged = await alerts('?state=acknowledged');
    expect(acknowledged.items.map((a) => [a.ruleName, a.vehicleId])).toEqual([[RULE, vehicleId]]);
    expect((await alerts('?state=open')).items).toEqual([]);
  });

  it("emails the alert to the user's own address, naming the vehicle and linking to it, and logs the delivery", async () => {
    // The first message was the test.
    await expect.poll(() => sink.received.length, { timeout: 20_000 }).toBe(2);
    const mail = sink.received[1];
    expect(mail?.to).toEqual([admin.email]);
    expect(mail?.raw).toMatch(new RegExp(`^Subject: \\[Tacho\\] ${RULE}: ${VEHICLE}`, 'm'));
    expect(mail?.raw).toMatch(/^From: Tacho <alerts@example\.org>/m);
    expect(readable(mail?.raw ?? '')).toContain(`${server.url}/vehicles/${vehicleId}`);

    const row = attention().getByRole('row', { name: new RegExp(RULE) });
    await row.getByRole('button', { name: 'Deliveries' }).click();
    const log = attention().getByRole('table', { name: 'Deliveries' });
    const emailLine = log.getByRole('row', { name: /Email/ });
    await emailLine.getByText(admin.email).waitFor();
    await expect
      .poll(
        async () => {
          if ((await emailLine.getByText('sent', { exact: true }).count()) === 0)
            await attention().getByRole('button', { name: 'Refresh' }).click();
          return emailLine.getByText('sent', { exact: true }).count();
        },
        { timeout: 15_000 },
      )
      .toBe(1);
    await screenshot(page, 'alerts-05-deliveries');
  });

  it('keeps it in the history, where filters find it, and shows it resolved once the battery is back', async () => {
    const history = page.getByRole('table', { name: 'Alert history' });
    await history.getByRole('row', { name: new RegExp(RULE) }).waitFor();
    await page.getByLabel('State').selectOption('resolved');
    await page.getByText('No alert matches these filters.').waitFor();
    await page.getByLabel('State').selectOption('all');
    await page.getByLabel('Rule').selectOption({ label: RULE });
    await page.getByLabel('Vehicle').selectOption({ label: VEHICLE });
    await history.getByRole('row', { name: new RegExp(RULE) }).waitFor();

    await publish(server.url, VIN, deviceToken, [battery(30, tick())]);
    await history
      .getByRole('row', { name: new RegExp(RULE) })
      .getByText('Resolved', { exact: true })
      .waitFor({ timeout: 20_000 });
    await page.getByText('Nothing needs attention: no alert is open.').waitFor();
    await screenshot(page, 'alerts-06-history');
  });

  it('turns the rule off, edits it, and deletes it after a confirmation; its alert stays in the history', async () => {
    await page.getByRole('main').getByRole('link', { name: 'Rules', exact: true }).click();
    await page.waitForURL(/\/alerts\/rules$/);
    const rules = page.getByRole('table', { name: 'Alert rules' });
    const row = rules.getByRole('row', { name: new RegExp(RULE) });
    const enabled = row.getByRole('checkbox', { name: new RegExp(RULE) });
    await enabled.uncheck();
    await row.getByText('off', { exact: true }).waitFor();
    const stored = await call<AlertRuleList>(page, 'GET', '/api/v1/alert-rules');
    expect(stored.body.items.map((r) => r.enabled)).toEqual([false]);

    await row.getByRole('button', { name: `Edit ${RULE}` }).click();
    const form = page.getByRole('region', { name: `Edit “${RULE}”` });
    await expect(form.getByLabel('Value (%)', { exact: true }).inputValue()).resolves.toBe('20');
    await form.getByLabel('Value (%)', { exact: true }).fill('15');
    await form.getByRole('button', { name: 'Save changes' }).click();
    await row.getByText('Battery level < 15 %').waitFor();

    await row.getByRole('button', { name: `Delete ${RULE}` }).click();
    const dialog = page.getByRole('dialog', { name: `Delete “${RULE}”?` });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await row.waitFor();
    await row.getByRole('button', { name: `Delete ${RULE}` }).click();
    await dialog.getByRole('button', { name: 'Delete rule' }).click();
    await page.getByText('No rules yet.').waitFor();

    await nav().getByRole('link', { name: 'Alerts', exact: true }).click();
    await page.waitForURL(/\/alerts$/);
    await page
      .getByRole('table', { name: 'Alert history' })
      .getByRole('row', { name: new RegExp(RULE) })
      .getByText('Resolved', { exact: true })
      .waitFor();
  });

  it('in miles and °F: a threshold typed in °F is stored in °C, the rule, its alert and a CSV export read in °F', async () => {
    await page.goto('/settings?tab=profile');
    await page.getByLabel('Distance and speed').selectOption('mi');
    await page.getByLabel('Temperature').selectOption('f');
    await page.getByLabel('Tyre pressure').selectOption('psi');
    await page.getByRole('button', { name: 'Save units' }).click();
    await expect
      .poll(async () => (await call(page, 'GET', '/api/v1/auth/me/preferences')).body)
      .toEqual({ distance: 'mi', temperature: 'f', pressure: 'psi' });

    await nav().getByRole('link', { name: 'Alerts', exact: true }).click();
    await page.getByRole('main').getByRole('link', { name: 'Rules', exact: true }).click();
    await page.waitForURL(/\/alerts\/rules$/);
    await page.getByRole('button', { name: 'New rule' }).click();
    const form = page.getByRole('region', { name: 'New rule' });
    await form.getByLabel('Name', { exact: true }).fill('Too warm');
    const metric = form.getByLabel('Metric', { exact: true });
    await expect(metric.locator('option', { hasText: 'Speed (mph)' }).count()).resolves.toBe(1);
    await metric.selectOption({ label: 'Outside temperature (°F)' });
    await form.getByLabel('Condition', { exact: true }).selectOption('>');
    await form.getByLabel('Value (°F)', { exact: true }).fill('77');
    await expect(description(form.getByLabel('Value (°F)', { exact: true }))).resolves.toContain(
      'Plausible range -76 – 158 °F',
    );
    await form.getByLabel('Hysteresis (°F)', { exact: true }).fill('9');
    await form.getByLabel('Vehicle', { exact: true }).selectOption({ label: VEHICLE });
    await form.getByRole('checkbox', { name: `Email to ${admin.email}` }).uncheck();
    await form.getByRole('button', { name: 'Create rule' }).click();
    const row = page.getByRole('table', { name: 'Alert rules' }).getByRole('row', { name: /Too warm/ });
    await row.getByText('Outside temperature > 77.0 °F (hysteresis 9 °F)').waitFor();

    // The API keeps the canonical unit: 77 °F is 25 °C, a 9 °F hysteresis is 5 °C.
    const stored = await call<AlertRuleList>(page, 'GET', '/api/v1/alert-rules');
    const condition = stored.body.items.find((r) => r.name === 'Too warm')?.condition;
    expect(condition?.metric).toBe('outside_temp_c');
    expect(condition?.value).toBeCloseTo(25, 9);
    expect(condition?.hysteresis).toBeCloseTo(5, 9);
    await row.getByRole('button', { name: 'Edit Too warm' }).click();
    const edit = page.getByRole('region', { name: 'Edit “Too warm”' });
    await expect(edit.getByLabel('Value (°F)', { exact: true }).inputValue()).resolves.toBe('77');
    await expect(edit.getByLabel('Hysteresis (°F)', { exact: true }).inputValue()).resolves.toBe('9');
    await edit.getByRole('button', { name: 'Cancel' }).click();

    // 30 °C outside fires it; the dashboard says 86.0 °F > 77.0 °F, the stored message names °C.
    await nav().getByRole('link', { name: 'Alerts', exact: true }).click();
    await page.waitForURL(/\/alerts$/);
    await publish(server.url, VIN, deviceToken, [
      { ts: tick(), metrics: { outside_temp_c: 20 } },
      { ts: tick(), metrics: { outside_temp_c: 30 } },
    ]);
    const open = attention().getByRole('row', { name: /Too warm/ });
    await open.waitFor({ timeout: 20_000 });
    await open.getByRole('cell', { name: 'Outside temperature 86.0 °F > 77.0 °F', exact: true }).waitFor();
    const fired = (await alerts('?state=open')).items.find((a) => a.ruleName === 'Too warm');
    expect(fired?.message).toMatch(/^Outside temperature 30 °C > 25(\.0+\d*)? °C$/);
    await screenshot(page, 'alerts-07-in-fahrenheit');

    // The history's Export: a CSV in the user's units by default, with °F in the column's name.
    await page.goto(`/vehicles/${vehicleId}/history?range=day`);
    await page.getByLabel('Export format').selectOption('csv');
    await expect(page.getByLabel('Units').inputValue()).resolves.toBe('preferred');
    await page.getByLabel('Units').locator('option', { hasText: 'My units (mi, °F, psi)' }).waitFor({
      state: 'attached',
    });
    const link = page.getByRole('link', { name: 'Export this range as CSV' });
    const href = (await link.getAttribute('href')) ?? '';
    expect(href).toContain('units=preferred');
    const csv = await page.evaluate(async (url) => (await fetch(url)).text(), href);
    const [head, ...lines] = csv.trimEnd().split('\r\n');
    const columns = head!.split(',');
    expect(columns).toContain('outside_temp_f');
    expect(columns).not.toContain('outside_temp_c');
    const temps = lines.map((l) => l.split(',')[columns.indexOf('outside_temp_f')]).filter((v) => v !== '');
    expect(temps).toEqual(['68', '86']);
    await page.getByLabel('Units').selectOption('stored');
    expect(await link.getAttribute('href')).toContain('units=stored');
    const canonical = await page.evaluate(
      async (url) => (await fetch(url)).text(),
      (await link.getAttribute('href')) ?? '',
    );
    expect(canonical.split('\r\n')[0]).toContain('outside_temp_c');
  });
});
