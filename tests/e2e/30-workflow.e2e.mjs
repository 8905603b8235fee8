// SPDX-License-Identifier: MIT
// An agent's day with mouse and keyboard: a wrong password, sign in, assignment, status, snooze,
// an internal note, a canned response picked with '/', search, sign out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startTestHub, tenant, sandboxChannel, newContext, signIn, inboxView, inboxLoaded, row, openConversation, screenshot, simulate, PASSWORD } from './lib.mjs';

let hub, browser, A, chan, page;

before(async () => {
	hub = await startTestHub();
	A = await tenant(hub, 'Gamma', [
		{ key: 'own', email: 'olga@gamma.test', role: 'owner', name: 'Olga Owner' },
		{ key: 'ag', email: 'pete@gamma.test', role: 'agent', name: 'Pete Agent' },
	]);
	chan = await sandboxChannel(A.a.own);
	await simulate(A.a.own, chan.id, '+14155550201', 'Do you deliver on Sundays?');
	await simulate(A.a.own, chan.id, '+14155550202', 'I need to change my booking');
	await A.a.own.api('PATCH', '/api/v1/contacts/1', { name: 'Sunday Sam' });
	browser = await launch();
	({ page } = await newContext(browser, hub));
});

after(async () => {
	await browser?.close();
	await hub?.cleanup();
});

const convOf = async (phone) => (await A.a.own.api('GET', '/api/v1/conversations?status=all&limit=200')).json.conversations.find((c) => c.contact.phone === phone);

test('a wrong password is refused with a clear message; the right one signs in', async () => {
	await page.goto(`${hub.url}/`);
	await page.getByLabel('Email').fill('olga@gamma.test');
	await page.getByLabel('Password').fill('not the password');
	await page.keyboard.press('Enter');
	await page.getByRole('alert').filter({ hasText: 'Wrong email or password' }).waitFor();
	await page.getByLabel('Password').fill(PASSWORD);
	await page.keyboard.press('Enter');
	await page.locator('.conn[data-state=live]').waitFor();
	await inboxView(page, 'All');
	await row(page, 'Sunday Sam').waitFor();
	await row(page, 'change my booking').waitFor();
	// the list is in order of last activity: the newest first
	const names = await page.locator('.conv-row .conv-name').allTextContents();
	assert.deepEqual(names, ['+14155550202', 'Sunday Sam']);
	await screenshot(page, 'inbox');
});

test('keyboard: arrows and Enter open a conversation; assignment to another agent', async () => {
	await page.locator('.inbox-scroll').focus();
	await page.keyboard.press('ArrowDown');
	await page.locator('.conv-row.focused', { hasText: 'Sunday Sam' }).waitFor();
	await page.keyboard.press('Enter');
	await page.locator('.conv-title', { hasText: 'Sunday Sam' }).waitFor();
	await page.locator('.thread[aria-busy=false]').waitFor();
	// one message, nothing earlier (next_cursor null): no "Load earlier messages"
	assert.equal(await page.getByRole('button', { name: 'Load earlier messages' }).isVisible(), false);
	await page.getByLabel('Assignee').selectOption({ label: 'Pete Agent' });
	await page.locator('.toast', { hasText: 'Assigned to Pete Agent' }).waitFor();
	assert.equal((await convOf('+14155550201')).assignee_id, A.a.ag.id);
	await inboxView(page, 'Unassigned');
	await row(page, 'change my booking').waitFor();
	assert.equal(await row(page, 'Sunday Sam').count(), 0);
	await inboxView(page, 'All');
});

test('status change and snooze', async () => {
	await page.getByLabel('Status', { exact: true }).nth(1).selectOption('pending');
	await page.locator('.toast', { hasText: 'Marked pending' }).waitFor();
	assert.equal((await convOf('+14155550201')).status, 'pending');
	// gone from Open, there under Pending
	await row(page, 'Sunday Sam').waitFor({ state: 'detached' });
	await page.locator('#inbox-status').selectOption('pending');
	await row(page, 'Sunday Sam').waitFor();
	await page.locator('.snooze summary').click();
	await page.getByRole('button', { name: '1 hour' }).click();
	await page.locator('.toast', { hasText: 'Snoozed until' }).waitFor();
	const c = await convOf('+14155550201');
	assert.equal(c.status, 'snoozed');
	assert.ok(Date.parse(c.snoozed_until) > Date.now() + 50 * 60e3);
	await page.locator('#inbox-status').selectOption('snoozed');
	await row(page, 'Sunday Sam').waitFor();
	await page.locator('.conv-sub', { hasText: 'Snoozed until' }).waitFor();
});

test('an internal note is told apart and never sent to the customer', async () => {
	await page.getByLabel('Internal note').check();
	const box = page.getByLabel('Message', { exact: true });
	await box.fill('Customer is a VIP, offer free delivery');
	await box.press('Enter');
	const note = page.locator('.msg-note', { hasText: 'offer free delivery' });
	await note.waitFor();
	await note.locator('.msg-label', { hasText: 'Internal note' }).waitFor();
	// the note shows at once (optimistic); wait for the hub to have committed it
	let stored;
	for (let i = 0; i < 100 && !stored; i++) {
		const msgs = (await A.a.own.api('GET', `/api/v1/conversations/${(await convOf('+14155550201')).id}/messages`)).json.messages;
		stored = msgs.find((m) => m.body.includes('free delivery'));
		if (!stored) await new Promise((r) => setTimeout(r, 50));
	}
	assert.equal(stored?.kind, 'note');
	await page.getByLabel('Reply (SMS)').check();
});

test('a canned response made in settings is picked with / and sent', async () => {
	await page.getByRole('link', { name: 'Settings' }).click();
	await page.getByRole('link', { name: 'Canned responses' }).click();
	await page.getByLabel('Shortcut').fill('sunday');
	await page.getByLabel('Title').fill('Sunday delivery');
	await page.getByLabel('Text').fill('Yes, we deliver on Sundays from 10 to 4.');
	await page.getByRole('button', { name: 'Add' }).click();
	await page.locator('form[aria-label="Canned response /sunday"]').waitFor();
	await page.getByRole('link', { name: 'Inbox' }).click();
	await page.locator('#inbox-status').selectOption('all');
	await page.locator('.inbox-count', { hasText: '2 conversations' }).waitFor();
	await openConversation(page, 'Sunday Sam', 'Sunday Sam');
	const box = page.getByLabel('Message', { exact: true });
	await box.pressSequentially('/sun');
	await page.getByRole('option', { name: /sunday/ }).waitFor();
	await box.press('Enter');
	assert.equal(await box.inputValue(), 'Yes, we deliver on Sundays from 10 to 4.');
	await page.locator('#composer-count', { hasText: '1 segment' }).waitFor();
	await box.press('Enter');
	await page.locator('.msg-out', { hasText: 'we deliver on Sundays' }).waitFor();
	await screenshot(page, 'conversation');
});

test('the segment counter follows GSM-7 and UCS-2 like the hub', async () => {
	const box = page.getByLabel('Message', { exact: true });
	for (const text of ['a'.repeat(160), 'a'.repeat(161), '€'.repeat(80), 'é😀'.repeat(30), 'Ω'.repeat(200)]) {
		await box.fill(text);
		const srv = (await A.a.own.api('POST', '/api/v1/segments/count', { body: text })).json;
		await page.locator('#composer-count', { hasText: `${srv.segments} segment` }).waitFor();
	}
	await box.fill('');
});

test('search finds by text and by number', async () => {
	await page.getByLabel('Search conversations').fill('booking');
	await page.locator('.inbox-count', { hasText: '1 conversation' }).waitFor();
	await row(page, 'change my booking').waitFor();
	await page.getByLabel('Search conversations').fill('+14155550201');
	await row(page, 'Sunday Sam').waitFor();
	await page.locator('.inbox-count', { hasText: '1 conversation' }).waitFor();
	await page.getByLabel('Search conversations').fill('');
});

test('with two channels the composer offers a choice, and the reply goes out on the chosen one', async () => {
	const second = await sandboxChannel(A.a.own, 'Second line');
	await page.reload();
	await page.locator('.conn[data-state=live]').waitFor();
	await page.locator('#inbox-status').selectOption('all');
	await inboxLoaded(page);
	await openConversation(page, 'Sunday Sam', 'Sunday Sam');
	const via = page.getByLabel('Send via');
	await via.waitFor();
	assert.equal(await via.inputValue(), String(chan.id), 'the conversation\'s own channel first');
	await via.selectOption({ label: 'Second line' });
	const box = page.getByLabel('Message', { exact: true });
	await box.fill('Sent on the second line');
	await box.press('Enter');
	await page.locator('.msg-out', { hasText: 'Sent on the second line' }).waitFor();
	const conv = await convOf('+14155550201');
	const msgs = (await A.a.own.api('GET', `/api/v1/conversations/${conv.id}/messages`)).json.messages;
	assert.equal(msgs.find((m) => m.body === 'Sent on the second line').channel_id, second.id);
	await page.getByLabel('Internal note').check();
	assert.equal(await via.isHidden(), true, 'no channel choice for a note');
	await page.getByLabel('Reply (SMS)').check();
});

test('sign out ends the session', async () => {
	await page.getByRole('button', { name: 'Sign out' }).click();
	await page.getByRole('button', { name: 'Sign in' }).waitFor();
	await page.reload();
	await page.getByRole('button', { name: 'Sign in' }).waitFor();
	const me = await page.evaluate(async () => (await fetch('/api/v1/me')).status);
	assert.equal(me, 401);
});
