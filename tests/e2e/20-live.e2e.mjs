// SPDX-License-Identifier: MIT
// Live and resumable: two agents of one tenant and one of another, a customer texting from the
// simulator, a reply with its delivery status, three messages while offline, a failed send and
// its retry after fixing the number.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { launch, startTestHub, tenant, sandboxChannel, agentPage, inboxView, row, screenshot, simulate } from './lib.mjs';

let hub, browser, A, B, chan, p1, p2, p3, sim, c1, c2;
const CUSTOMER = '+14155550111';

before(async () => {
	hub = await startTestHub();
	A = await tenant(hub, 'Acme', [
		{ key: 'a1', email: 'alice@acme.test', role: 'owner', name: 'Alice Admin' },
		{ key: 'a2', email: 'bob@acme.test', role: 'agent', name: 'Bob Agent' },
	]);
	B = await tenant(hub, 'Beta', [{ key: 'b1', email: 'carol@beta.test', role: 'owner', name: 'Carol Beta' }]);
	chan = await sandboxChannel(A.a.a1);
	await sandboxChannel(B.a.b1, 'Beta sandbox');
	browser = await launch();
	({ context: c1, page: p1 } = await agentPage(browser, hub, 'alice@acme.test'));
	({ context: c2, page: p2 } = await agentPage(browser, hub, 'bob@acme.test'));
	({ page: p3 } = await agentPage(browser, hub, 'carol@beta.test'));
	for (const p of [p1, p2, p3]) await inboxView(p, 'All');
	sim = await c1.newPage();
});

after(async () => {
	await browser?.close();
	await hub?.cleanup();
});

test('a customer SMS from the simulator reaches both agents within a second, never the other tenant', async () => {
	await sim.goto(`${hub.url}/#/simulator`);
	await sim.getByLabel('Customer phone number').fill(CUSTOMER);
	await sim.getByLabel('Message from the customer').fill('Hi, is my order ready?');
	const t0 = Date.now();
	await sim.getByRole('button', { name: 'Send as customer' }).click();
	await Promise.all([
		row(p1, 'Hi, is my order ready?').waitFor({ timeout: 5000 }),
		row(p2, 'Hi, is my order ready?').waitFor({ timeout: 5000 }),
	]);
	const ms = Date.now() - t0;
	console.log(`# simulator -> both inboxes: ${ms} ms`);
	assert.ok(ms < 1000, `took ${ms} ms`);
	await sim.locator('.sim-msg', { hasText: 'Hi, is my order ready?' }).waitFor();
	await screenshot(sim, 'simulator');
	// the unread badge and the tab title
	await row(p1, 'Hi, is my order ready?').locator('.badge').waitFor();
	assert.match(await p1.title(), /^\(1\) /);
	// the other tenant: nothing live, nothing after a fresh load
	await inboxView(p3, 'Unassigned');
	await inboxView(p3, 'All');
	await p3.locator('.inbox-count', { hasText: '0 conversations' }).waitFor();
	assert.equal(await p3.locator('.conv-row').count(), 0);
	assert.deepEqual(p3.errors.filter((e) => !/401/.test(e)), []);
});

test('agent 1 replies; agent 2 sees the reply and its status move to delivered', async () => {
	await row(p1, 'order ready').click();
	await p1.locator('.msg-in', { hasText: 'Hi, is my order ready?' }).waitFor();
	await row(p2, 'order ready').click();
	await p2.locator('.msg-in', { hasText: 'Hi, is my order ready?' }).waitFor();
	// both see the other viewing
	await p1.locator('.viewing', { hasText: 'Bob Agent' }).waitFor();
	// typing shows on the other side
	await p1.getByLabel('Message', { exact: true }).pressSequentially('Yes, it is ready');
	await p2.locator('.typing', { hasText: 'Alice Admin is typing' }).waitFor();
	await p1.getByLabel('Message', { exact: true }).press('Enter');
	const mine = p1.locator('.msg-out', { hasText: 'Yes, it is ready' });
	await mine.locator('.status[data-status=delivered]').waitFor({ timeout: 10000 });
	const theirs = p2.locator('.msg-out', { hasText: 'Yes, it is ready' });
	await theirs.waitFor();
	await theirs.locator('.status[data-status=delivered]').waitFor({ timeout: 10000 });
	assert.equal(await theirs.count(), 1);
	assert.equal(await mine.count(), 1);
	// the console's client id sorts by time (12 hex digits of milliseconds, then 20 random), so
	// the hub's per-tenant index of client ids takes it at its end, not on a random page
	const cid = await mine.getAttribute('data-client-id');
	assert.match(cid, /^[0-9a-f]{32}$/);
	assert.ok(Math.abs(parseInt(cid.slice(0, 12), 16) - Date.now()) < 60000, `client id ${cid} is not stamped with the time`);
	// the customer got it
	await sim.locator('.sim-theirs', { hasText: 'Yes, it is ready' }).waitFor({ timeout: 5000 });
});

test('offline while three messages arrive, then online: exactly those three, once each, in order, no reload', async () => {
	await p2.evaluate(() => (window.__noReload = 1));
	const before = await p2.locator('.msg-in').allTextContents();
	await c2.setOffline(true);
	await p2.locator('.conn[data-state=offline], .conn[data-state=reconnecting]').waitFor();
	for (const n of [1, 2, 3]) await simulate(A.a.a1, chan.id, CUSTOMER, `offline message ${n}`);
	await p1.locator('.msg-in', { hasText: 'offline message 3' }).waitFor(); // the hub has them all
	assert.equal(await p2.locator('.msg-in', { hasText: 'offline message' }).count(), 0);
	await c2.setOffline(false);
	await p2.locator('.conn[data-state=live]').waitFor({ timeout: 15000 });
	await p2.locator('.msg-in', { hasText: 'offline message 3' }).waitFor({ timeout: 5000 });
	const texts = (await p2.locator('.msg-in .msg-body').allTextContents());
	assert.deepEqual(texts.slice(before.length), ['offline message 1', 'offline message 2', 'offline message 3']);
	assert.equal(texts.filter((t) => t.startsWith('offline message')).length, 3);
	assert.equal(await p2.evaluate(() => window.__noReload), 1, 'the page reloaded');
	// the inbox row moved on too
	await row(p2, 'offline message 3').waitFor();
});

test('a failed send shows the reason; retry after fixing the number delivers', async () => {
	const ct = await A.a.a1.api('POST', '/api/v1/contacts', { name: 'Wrong Number', phone: '+15005550001' });
	assert.equal(ct.status, 201, ct.text);
	const cv = await A.a.a1.api('POST', '/api/v1/conversations', { contact_id: ct.json.id, channel_id: chan.id });
	assert.equal(cv.status, 201, cv.text);
	await row(p1, 'Wrong Number').click();
	await p1.locator('.conv-title', { hasText: 'Wrong Number' }).waitFor();
	const box = p1.getByLabel('Message', { exact: true });
	await box.fill('Your table is ready');
	await box.press('Enter');
	const msg = p1.locator('.msg-out', { hasText: 'Your table is ready' });
	await msg.locator('.status[data-status=failed]').waitFor({ timeout: 10000 });
	assert.match(await msg.locator('.reason').textContent(), /not a valid phone number/);
	await screenshot(p1, 'failed-send');
	await p1.getByLabel('Phone').fill('+14155550112');
	await p1.getByRole('button', { name: 'Save contact' }).click();
	await p1.locator('.toast', { hasText: 'Contact saved' }).waitFor();
	await msg.getByRole('button', { name: 'Retry' }).click();
	await msg.locator('.status[data-status=delivered]').waitFor({ timeout: 10000 });
	assert.equal(await p1.locator('.msg-out', { hasText: 'Your table is ready' }).count(), 1);
});

test('a click on a row that a live update redraws between press and release still opens it', async () => {
	const OTHER = '+14155550123';
	await simulate(A.a.a1, chan.id, OTHER, 'first from the other customer');
	// a row's box, once it is laid out (null while a redraw has it detached, as under ASan)
	const boxOf = async (loc) => {
		for (let i = 0; i < 100; i++) {
			const b = await loc.boundingBox();
			if (b) return b;
			await sleep(50);
		}
		throw new Error('the row was never laid out');
	};
	const r = row(p1, 'first from the other customer');
	await r.waitFor();
	const box = await boxOf(r);
	await p1.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
	await p1.mouse.down();
	// the row is drawn anew (its preview changes) while the button is held
	await simulate(A.a.a1, chan.id, OTHER, 'second while pressed');
	const redrawn = row(p1, 'second while pressed');
	await redrawn.waitFor();
	const again = await boxOf(redrawn);
	assert.ok(Math.abs(again.y - box.y) < 1, 'the row stayed under the pointer');
	await p1.mouse.up();
	await p1.locator('.msg-in', { hasText: 'second while pressed' }).waitFor({ timeout: 5000 });
	await p1.locator('.conv-title', { hasText: OTHER.slice(-4) }).waitFor();
});
