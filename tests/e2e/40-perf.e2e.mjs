// SPDX-License-Identifier: MIT
// Performance: 10,000 conversations and a thread of 5,000 messages. Prints the first render of
// the inbox after the API answered, long tasks (> 50 ms) while scrolling, and the thread's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startTestHub, tenant, sandboxChannel, agentPage, inboxView, screenshot } from './lib.mjs';
import { pool } from '../lib/client.mjs';

const N_CONV = Number(process.env.SB_E2E_CONVS ?? 10000);
const N_MSG = Number(process.env.SB_E2E_MSGS ?? 5000);
let hub, browser, A, chan, page, bigConv;

before(async () => {
	hub = await startTestHub();
	A = await tenant(hub, 'Perf', [{ key: 'own', email: 'owner@perf.test', role: 'owner', name: 'Perf Owner' }]);
	const s = A.a.own;
	chan = await sandboxChannel(s);
	const t0 = Date.now();
	const ids = Array.from({ length: N_CONV }, (_, i) => i);
	await pool(ids, 48, async (i) => {
		const phone = `+1415${String(2000000 + i).padStart(7, '0')}`;
		const c = await s.api('POST', '/api/v1/contacts', { name: `Customer ${String(i).padStart(5, '0')}`, phone });
		if (c.status !== 201) throw new Error(`contact ${i}: ${c.status} ${c.text}`);
		const v = await s.api('POST', '/api/v1/conversations', { contact_id: c.json.id, channel_id: chan.id });
		if (v.status !== 201) throw new Error(`conversation ${i}: ${v.status} ${v.text}`);
		if (i === N_CONV - 1) bigConv = v.json.id;
	});
	const t1 = Date.now();
	await pool(Array.from({ length: N_MSG }, (_, i) => i), 48, async (i) => {
		const r = await s.api('POST', `/api/v1/conversations/${bigConv}/notes`, { body: `Note number ${i + 1} of the long thread`, client_id: `n${i}` });
		if (r.status !== 201) throw new Error(`note ${i}: ${r.status} ${r.text}`);
	});
	console.log(`# seeded ${N_CONV} conversations in ${t1 - t0} ms and ${N_MSG} notes in ${Date.now() - t1} ms`);
	browser = await launch();
	({ page } = await agentPage(browser, hub, 'owner@perf.test'));
});

after(async () => {
	await browser?.close();
	await hub?.cleanup();
});

async function watchLongTasks() {
	await page.evaluate(() => {
		window.__long = [];
		window.__lto?.disconnect();
		window.__lto = new PerformanceObserver((l) => {
			for (const e of l.getEntries()) window.__long.push(e.duration);
		});
		window.__lto.observe({ type: 'longtask' });
	});
}
const longTasks = () => page.evaluate(() => window.__long.slice());

test('the inbox renders 10,000 conversations fast and scrolls without long tasks', async () => {
	await page.evaluate(() => performance.clearMarks());
	await inboxView(page, 'All');
	await page.locator('.conv-row', { hasText: 'Customer 09999' }).waitFor();
	const firstRender = await page.evaluate(() => {
		const res = performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/conversations?') && !e.name.includes('cursor='));
		const r = res[res.length - 1];
		const m = performance.getEntriesByName('sb-inbox-rendered').filter((x) => x.startTime >= r.responseEnd);
		return m[0].startTime - r.responseEnd;
	});
	console.log(`# inbox first render after the API answered: ${firstRender.toFixed(1)} ms (target < 300 ms)`);
	assert.ok(firstRender < 1000, `first render ${firstRender} ms`);
	const domRows = await page.locator('.conv-row').count();
	console.log(`# rows in the DOM: ${domRows}`);
	assert.ok(domRows < 60, `${domRows} rows in the DOM: not windowed`);

	await watchLongTasks();
	const scroller = page.locator('.inbox-scroll');
	await scroller.hover();
	const t0 = Date.now();
	let loaded = 0;
	for (let step = 0; step < 80; step++) {
		await page.mouse.wheel(0, 3000);
		await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
		loaded = Number((await page.locator('.inbox-count').textContent()).replace(/\D/g, ''));
	}
	// then jump around the loaded range with the keyboard
	await scroller.focus();
	for (let i = 0; i < 10; i++) {
		await page.keyboard.press('End');
		await page.keyboard.press('Home');
	}
	const lt = await longTasks();
	const max = lt.length ? Math.max(...lt) : 0;
	console.log(`# scrolled ${loaded} loaded conversations in ${Date.now() - t0} ms: ${lt.length} long tasks > 50 ms, longest ${max.toFixed(0)} ms`);
	assert.ok(loaded >= 3000, `only ${loaded} loaded`);
	assert.ok(lt.length <= 5 && max < 250, `long tasks: ${JSON.stringify(lt)}`);
	// live reorder at this size: a new inbound message moves its conversation to the top
	const t1 = Date.now();
	await A.a.own.api('POST', `/api/v1/channels/${chan.id}/simulate`, { from: '+14152000010', body: 'bump me to the top' });
	await page.keyboard.press('Home');
	await page.locator('.conv-row[data-index="0"]', { hasText: 'bump me to the top' }).waitFor();
	console.log(`# live reorder of the loaded list: ${Date.now() - t1} ms`);
	await screenshot(page, 'inbox-10k');
});

test('a thread of 5,000 messages opens fast and loads older pages smoothly', async () => {
	await page.evaluate(() => performance.clearMarks());
	const t0 = Date.now();
	await page.goto(`${hub.url}/#/c/${bigConv}`);
	await page.locator('.msg-note', { hasText: `Note number ${N_MSG} of` }).waitFor();
	const open = await page.evaluate(() => {
		const res = performance.getEntriesByType('resource').filter((e) => e.name.includes('/messages?limit'));
		const r = res[res.length - 1];
		return performance.getEntriesByName('sb-thread-rendered')[0].startTime - r.responseEnd;
	});
	console.log(`# thread first render after the API answered: ${open.toFixed(1)} ms (open ${Date.now() - t0} ms)`);
	await watchLongTasks();
	const thread = page.locator('.thread');
	const t1 = Date.now();
	for (let i = 0; i < 40; i++) {
		await thread.evaluate((el) => (el.scrollTop = 0));
		await page.waitForFunction((n) => document.querySelectorAll('.msg').length > n, (i + 1) * 100 - 50 + 50, { timeout: 10000 }).catch(() => {});
	}
	const count = await page.locator('.msg').count();
	const lt = await longTasks();
	const max = lt.length ? Math.max(...lt) : 0;
	console.log(`# thread: ${count} messages loaded by scrolling up in ${Date.now() - t1} ms; ${lt.length} long tasks, longest ${max.toFixed(0)} ms`);
	assert.ok(count >= 2000, `${count} messages`);
	assert.ok(open < 1000);
});
