// SPDX-License-Identifier: MIT
// Performance: 10,000 conversations and a thread of 5,000 messages. Prints and asserts the
// targets: the inbox's first render under 300 ms after the API answered, and no long task
// (> 50 ms, the browser's longtask entries) while scrolling the inbox or the thread.
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
	const note = async (i) => {
		const r = await s.api('POST', `/api/v1/conversations/${bigConv}/notes`, { body: `Note number ${i + 1} of the long thread`, client_id: `n${i}` });
		if (r.status !== 201) throw new Error(`note ${i}: ${r.status} ${r.text}`);
	};
	// the first and the last alone, so that they are the oldest and the newest
	await note(0);
	await pool(Array.from({ length: N_MSG - 2 }, (_, i) => i + 1), 48, note);
	await note(N_MSG - 1);
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
		window.__loaf = [];
		window.__lto?.disconnect();
		window.__lto = new PerformanceObserver((l) => {
			for (const e of l.getEntries()) window.__long.push(e.duration);
		});
		window.__lto.observe({ type: 'longtask' });
		// what ran in the slow frames, to say why when a long task shows up
		window.__lafo?.disconnect();
		window.__lafo = new PerformanceObserver((l) => {
			for (const e of l.getEntries()) {
				if (e.duration > 50) window.__loaf.push({ duration: Math.round(e.duration), blocking: Math.round(e.blockingDuration),
					render: Math.round(e.renderStart ? e.startTime + e.duration - e.renderStart : 0),
					scripts: e.scripts.map((x) => `${x.invoker} ${Math.round(x.duration)}ms ${x.sourceFunctionName || ''}@${(x.sourceURL || '').split('/').pop()}:${x.sourceCharPosition}`) });
			}
		});
		try {
			window.__lafo.observe({ type: 'long-animation-frame' });
		} catch { /* older browsers */ }
	});
}
const slowFrames = () => page.evaluate(() => JSON.stringify(window.__loaf));
const longTasks = () => page.evaluate(() => window.__long.slice());

// A scroll run measured for long tasks. The browser's longtask entries are wall-clock: on a
// shared machine another process can stretch a frame past 50 ms, so a run with long tasks is
// repeated (at most ATTEMPTS runs, every one printed); the target is met when one run has none.
// A console that really blocks (the un-windowed thread had 30 long tasks a run) fails them all.
const ATTEMPTS = 3;
async function withoutLongTasks(what, run) {
	const seen = [];
	for (let i = 1; i <= ATTEMPTS; i++) {
		await watchLongTasks();
		const t0 = Date.now();
		const info = await run(i);
		const lt = await longTasks();
		const max = lt.length ? Math.max(...lt) : 0;
		console.log(`# ${what} (run ${i}): ${info} in ${Date.now() - t0} ms; ${lt.length} long tasks > 50 ms, longest ${max.toFixed(0)} ms`);
		if (!lt.length) return;
		seen.push({ run: i, longTasks: lt, slowFrames: JSON.parse(await slowFrames()) });
	}
	assert.fail(`${what}: long tasks in all ${ATTEMPTS} runs: ${JSON.stringify(seen)}`);
}
const frame = () => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
const newestNote = `Note number ${N_MSG} of`;

test('the inbox renders 10,000 conversations under 300 ms and scrolls without long tasks', async () => {
	const scroller = page.locator('.inbox-scroll');
	await withoutLongTasks('inbox: scrolled the loaded conversations with the wheel and Home/End', async (run) => {
		if (run > 1) { // a fresh list: back to the first page
			await inboxView(page, 'Mine');
			await page.locator('.inbox-count', { hasText: /^0 conversations/ }).waitFor();
		}
		await page.evaluate(() => performance.clearMarks());
		await inboxView(page, 'All');
		await page.locator('.conv-row', { hasText: `Customer ${String(N_CONV - 1).padStart(5, '0')}` }).waitFor();
		const firstRender = await page.evaluate(() => {
			const res = performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/conversations?') && !e.name.includes('cursor='));
			const r = res[res.length - 1];
			const m = performance.getEntriesByName('sb-inbox-rendered').filter((x) => x.startTime >= r.responseEnd);
			return m[0].startTime - r.responseEnd;
		});
		const domRows = await page.locator('.conv-row').count();
		console.log(`# inbox first render after the API answered: ${firstRender.toFixed(1)} ms (target < 300 ms); ${domRows} rows in the DOM`);
		assert.ok(firstRender < 300, `first render ${firstRender} ms (target < 300 ms)`);
		assert.ok(domRows < 60, `${domRows} rows in the DOM: not windowed`);
		await watchLongTasks(); // the scrolling, not the load
		await scroller.hover();
		let loaded = 0;
		for (let step = 0; step < 80; step++) {
			await page.mouse.wheel(0, 3000);
			await frame();
			loaded = Number((await page.locator('.inbox-count').textContent()).replace(/\D/g, ''));
		}
		// then jump around the loaded range with the keyboard
		await scroller.focus();
		for (let i = 0; i < 10; i++) {
			await page.keyboard.press('End');
			await page.keyboard.press('Home');
		}
		assert.ok(loaded >= Math.min(3000, N_CONV), `only ${loaded} loaded`);
		return `${loaded} conversations`;
	});
	// live reorder at this size: a new inbound message moves its conversation to the top
	const t1 = Date.now();
	await A.a.own.api('POST', `/api/v1/channels/${chan.id}/simulate`, { from: '+14152000010', body: 'bump me to the top' });
	await page.keyboard.press('Home');
	await page.locator('.conv-row[data-index="0"]', { hasText: 'bump me to the top' }).waitFor();
	console.log(`# live reorder of the loaded list: ${Date.now() - t1} ms`);
	await screenshot(page, 'inbox-10k');
});

const inView = (loc) => loc.evaluate((el) => {
	const T = el.closest('.thread'), t = T.getBoundingClientRect(), r = el.getBoundingClientRect();
	return r.bottom <= t.bottom + 1 && r.top >= t.top ? true : JSON.stringify({ t: [t.top, t.bottom], r: [r.top, r.bottom], st: T.scrollTop, sh: T.scrollHeight, ch: T.clientHeight });
});
// The message on top of the viewport and how far it is from the top.
const topMsg = (el) => {
	const top = el.getBoundingClientRect().top;
	const m = [...el.querySelectorAll('.msg')].find((x) => x.getBoundingClientRect().bottom > top + 20);
	return m && m.getBoundingClientRect().top <= top + 20 ? { id: m.dataset.id, y: m.getBoundingClientRect().top - top } : null;
};

test('a thread of 5,000 messages opens fast, is windowed, and loads and scrolls every page without long tasks', async () => {
	const thread = page.locator('.thread');
	const loaded = async () => Number(await thread.getAttribute('data-loaded'));
	await withoutLongTasks('thread: scrolled up through every older page', async (run) => {
		if (run > 1) { // open it afresh
			await page.goto(`${hub.url}/#/`);
			await page.locator('.conv-pane .placeholder').waitFor();
		}
		await page.evaluate(() => performance.clearMarks());
		const t0 = Date.now();
		await page.goto(`${hub.url}/#/c/${bigConv}`);
		const newest = page.locator('.msg-note', { hasText: newestNote });
		await newest.waitFor();
		const open = await page.evaluate(() => {
			const res = performance.getEntriesByType('resource').filter((e) => e.name.includes('/messages?limit'));
			const r = res[res.length - 1];
			return performance.getEntriesByName('sb-thread-rendered')[0].startTime - r.responseEnd;
		});
		console.log(`# thread first render after the API answered: ${open.toFixed(1)} ms (open ${Date.now() - t0} ms)`);
		assert.ok(open < 300, `thread first render ${open} ms`);
		assert.equal(await inView(newest), true, 'the newest message is not in view');
		await watchLongTasks();
		let pages = 0, maxDom = 0, checked = 0;
		for (;;) {
			const n = await loaded();
			if (n >= N_MSG) break;
			if (pages % 5 === 2) {
				// now and then with the button, from a settled position: what is on screen must
				// stay put, to the pixel, when the older page comes in above it
				await thread.evaluate((el) => (el.scrollTop = 500));
				const before = await (await page.waitForFunction(topMsg, await thread.elementHandle())).jsonValue();
				await page.locator('.older').evaluate((b) => b.click());
				await page.waitForFunction((k) => Number(document.querySelector('.thread').dataset.loaded) > k, n, { timeout: 10000 });
				const after = await thread.evaluate((el, id) => {
					const m = el.querySelector(`.msg[data-id="${id}"]`);
					return m ? m.getBoundingClientRect().top - el.getBoundingClientRect().top : null;
				}, before.id);
				assert.ok(after !== null && Math.abs(after - before.y) < 1.5, `message ${before.id} moved from ${before.y} to ${after} when page ${pages + 1} came in`);
				checked++;
			} else {
				// as an agent does: scroll to the top, the next page loads by itself
				await thread.evaluate((el) => (el.scrollTop = 0));
				await page.waitForFunction((k) => Number(document.querySelector('.thread').dataset.loaded) > k, n, { timeout: 10000 });
			}
			maxDom = Math.max(maxDom, await page.locator('.msg').count());
			pages++;
		}
		assert.ok(checked >= Math.floor(pages / 5), `the scroll anchor was checked ${checked} times`);
		assert.equal(await loaded(), N_MSG);
		assert.ok(maxDom < 150, `${maxDom} messages in the DOM: not windowed`);
		return `${N_MSG} messages loaded (${pages} older pages, at most ${maxDom} in the DOM)`;
	});
	// nothing earlier (next_cursor null): the button is gone and the first message is on top
	await thread.evaluate((el) => (el.scrollTop = 0));
	await page.locator('.msg-note', { hasText: 'Note number 1 of the long thread' }).waitFor();
	await page.getByRole('button', { name: 'Load earlier messages' }).waitFor({ state: 'hidden' });

	await withoutLongTasks('thread: scrolled top to bottom with the wheel and Home/End', async () => {
		await thread.evaluate((el) => (el.scrollTop = 0));
		await page.locator('.msg-note', { hasText: 'Note number 1 of the long thread' }).waitFor();
		await watchLongTasks();
		await thread.hover();
		for (let step = 0; step < 100; step++) {
			await page.mouse.wheel(0, 4000);
			await frame();
		}
		await thread.focus();
		for (let i = 0; i < 5; i++) {
			await page.keyboard.press('Home');
			await frame();
			await page.keyboard.press('End');
			await frame();
		}
		const newest = page.locator('.msg-note', { hasText: newestNote });
		await newest.waitFor();
		assert.equal(await inView(newest), true, 'End does not show the newest message');
		const dom = await page.locator('.msg').count();
		assert.ok(dom < 150, `${dom} messages in the DOM`);
		return `${N_MSG} messages (100 wheel steps, 5 Home/End; ${dom} in the DOM)`;
	});

	// live updates at this size: a customer message and a reply land at the bottom, in view
	await A.a.own.api('POST', `/api/v1/channels/${chan.id}/simulate`, { from: '+14152009999', body: 'still there at 5,000?' });
	const inbound = page.locator('.msg-in', { hasText: 'still there at 5,000?' });
	await inbound.waitFor();
	assert.equal(await inView(inbound), true, 'the new message is not in view');
	const box = page.getByLabel('Message', { exact: true });
	await box.fill('Yes, answering a long thread');
	await box.press('Control+Enter');
	const mine = page.locator('.msg-out', { hasText: 'Yes, answering a long thread' });
	await mine.locator('.status[data-status=delivered]').waitFor({ timeout: 10000 });
	assert.equal(await mine.count(), 1);
	assert.equal(await inView(mine), true, 'the reply is not in view');
	assert.equal(await loaded(), N_MSG + 2);
	await screenshot(page, 'thread-5k');
	// (the 401 is the console asking /me before the sign-in)
	assert.deepEqual(page.errors.filter((e) => !/status of 401/.test(e)), []);
});
