// SPDX-License-Identifier: MIT
// Accessible and usable on a narrow screen: every control has a name, text meets WCAG AA
// contrast, the main flow works with the keyboard alone (sign in, inbox, open with Enter,
// reply with Ctrl+Enter, status, connection changes announced), and a phone-sized screen
// (390x844) can open a conversation, reply and open the contact panel.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startTestHub, tenant, sandboxChannel, newContext, agentPage, inboxView, row, openConversation, screenshot, simulate, PASSWORD } from './lib.mjs';

let hub, browser, A, chan;

before(async () => {
	hub = await startTestHub();
	A = await tenant(hub, 'Delta', [
		{ key: 'own', email: 'dora@delta.test', role: 'owner', name: 'Dora Owner' },
		{ key: 'ag', email: 'eli@delta.test', role: 'agent', name: 'Eli Agent' },
	]);
	chan = await sandboxChannel(A.a.own);
	await simulate(A.a.own, chan.id, '+14155550301', 'Can I move my appointment?');
	await simulate(A.a.own, chan.id, '+14155550302', 'Where is my parcel?');
	browser = await launch();
});

after(async () => {
	await browser?.close();
	await hub?.cleanup();
});

// Controls (and focusable things) without an accessible name, by a simple reading of the rules
// (aria-labelledby, aria-label, <label>, text, title, placeholder is not a name).
const unnamed = (page) => page.evaluate(() => {
	const name = (el) => {
		const by = el.getAttribute('aria-labelledby');
		if (by) return by.split(/\s+/).map((id) => document.getElementById(id)?.textContent || '').join(' ').trim();
		if (el.getAttribute('aria-label')) return el.getAttribute('aria-label').trim();
		if (el.labels && el.labels.length) return [...el.labels].map((l) => l.textContent).join(' ').trim();
		if (el.tagName === 'DETAILS') return el.querySelector('summary')?.textContent.trim() || '';
		if (!/^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) return (el.textContent || el.title || '').trim();
		return el.title || '';
	};
	const sel = 'a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"]), [role=listbox], [role=option], [role=region], aside, nav';
	return [...document.querySelectorAll(sel)]
		.filter((el) => el.getClientRects().length && !el.closest('[hidden]') && el.type !== 'hidden')
		.filter((el) => !name(el))
		.map((el) => el.outerHTML.slice(0, 120));
});

// Text below WCAG AA contrast: 4.5:1, 3:1 for large text. The background is the first opaque
// one up the tree (translucent ones blended over it).
const lowContrast = (page) => page.evaluate(() => {
	const parse = (c) => {
		const m = c.match(/rgba?\(([^)]+)\)/);
		if (!m) return null;
		const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
		return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
	};
	const lum = ({ r, g, b }) => {
		const f = (v) => {
			v /= 255;
			return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
		};
		return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
	};
	const over = (top, under) => ({ r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a), b: top.b * top.a + under.b * (1 - top.a), a: 1 });
	const bgOf = (el) => {
		const layers = [];
		for (let e = el; e; e = e.parentElement) {
			const c = parse(getComputedStyle(e).backgroundColor);
			if (c && c.a > 0) {
				layers.push(c);
				if (c.a >= 1) break;
			}
		}
		let bg = { r: 255, g: 255, b: 255, a: 1 };
		for (const l of layers.reverse()) bg = over(l, bg);
		return bg;
	};
	const bad = [];
	const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
	const seen = new Set();
	for (let t = walker.nextNode(); t; t = walker.nextNode()) {
		const el = t.parentElement;
		if (!t.textContent.trim() || seen.has(el) || !el.getClientRects().length) continue;
		seen.add(el);
		if (el.closest('.sr-only, [hidden], option, :disabled')) continue;
		const cs = getComputedStyle(el);
		if (cs.visibility === 'hidden' || Number(cs.opacity) === 0) continue;
		const fg = parse(cs.color), bg = bgOf(el);
		const c = over(fg, bg);
		const L1 = lum(c), L2 = lum(bg);
		const ratio = (Math.max(L1, L2) + 0.05) / (Math.min(L1, L2) + 0.05);
		const size = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
		const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
		if (ratio < need) bad.push(`${ratio.toFixed(2)} < ${need}: "${t.textContent.trim().slice(0, 30)}" (${cs.color} on rgb(${Math.round(bg.r)}, ${Math.round(bg.g)}, ${Math.round(bg.b)})) in ${el.className || el.tagName}`);
	}
	return bad;
});

// What has the focus, with its name and whether a focus ring shows.
const focused = (page) => page.evaluate(() => {
	const el = document.activeElement;
	const cs = getComputedStyle(el);
	const ring = (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2) || (cs.boxShadow && cs.boxShadow !== 'none');
	return {
		tag: el.tagName.toLowerCase(), cls: el.className, role: el.getAttribute('role'),
		name: el.getAttribute('aria-label') || (el.labels && el.labels[0]?.textContent) || el.textContent.trim().slice(0, 40),
		ring,
	};
});

// Tab (or Shift+Tab) until pred(focused) holds; every stop on the way must show a focus ring.
async function tabTo(page, pred, { max = 40, back = false } = {}) {
	const path = [];
	for (let i = 0; i < max; i++) {
		await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
		const f = await focused(page);
		path.push(`${f.tag}.${f.cls}(${f.name})`);
		if (f.tag !== 'body') assert.ok(f.ring, `no visible focus ring on ${path[path.length - 1]}`);
		if (pred(f)) return path;
	}
	assert.fail(`never reached the target; focus went: ${path.join(' → ')}`);
}

test('keyboard only: sign in, pick a conversation with Enter, reply with Ctrl+Enter, change status; changes are announced', async () => {
	const { context, page } = await newContext(browser, hub);
	await page.goto(`${hub.url}/`);
	// the email field has the focus on arrival
	await page.waitForFunction(() => document.activeElement?.type === 'email');
	await page.keyboard.type('dora@delta.test');
	await page.keyboard.press('Tab');
	await page.keyboard.type(PASSWORD);
	await page.keyboard.press('Enter');
	await page.locator('.conn[data-state=live]').waitFor();
	assert.deepEqual(await unnamed(page), []);
	// the focus is at the start of the content (the skip link before the top bar leads there too)
	assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
	assert.equal(await page.evaluate(() => document.querySelector('a[href], button').textContent), 'Skip to content');
	// the view tabs, filters and search come before the list
	const path = await tabTo(page, (f) => f.role === 'listbox');
	assert.ok(path.some((p) => p.includes('(All)')) && path.some((p) => p.includes('Search')), path.join(' → '));
	// All view, with the keyboard: back to the All tab
	await tabTo(page, (f) => f.name === 'All', { back: true });
	await page.keyboard.press('Enter');
	await page.locator('.inbox-count', { hasText: '2 conversations' }).waitFor();
	await tabTo(page, (f) => f.role === 'listbox');
	await page.keyboard.press('ArrowDown');
	await page.locator('.conv-row.focused', { hasText: 'appointment' }).waitFor();
	await page.keyboard.press('Enter');
	await page.locator('.conv-title', { hasText: '+14155550301' }).waitFor();
	// the focus moved to the conversation
	assert.equal((await focused(page)).cls, 'conv-title');
	assert.deepEqual(await unnamed(page), []);
	assert.deepEqual(await lowContrast(page), []);
	// header controls, the thread, the message type, then the composer
	const toBox = await tabTo(page, (f) => f.tag === 'textarea', { max: 15 });
	assert.ok(toBox.some((p) => p.includes('Assignee')) || toBox.some((p) => p.startsWith('select')), toBox.join(' → '));
	await page.keyboard.type('We can move it to Friday.');
	await page.keyboard.press('Shift+Enter'); // a new line, not a send
	await page.keyboard.type('Does 10:00 suit you?');
	await page.keyboard.press('Control+Enter');
	const mine = page.locator('.msg-out', { hasText: 'Does 10:00 suit you?' });
	await mine.locator('.status[data-status=delivered]').waitFor({ timeout: 10000 });
	assert.match(await mine.locator('.msg-body').textContent(), /Friday\.\nDoes 10:00/);
	await page.locator('#announcer', { hasText: 'delivered' }).waitFor();
	// status with the keyboard: back to the Status select, arrow to Pending
	await tabTo(page, (f) => f.tag === 'select' && /Status/.test(f.name), { back: true, max: 15 });
	await page.keyboard.press('ArrowDown');
	await page.locator('.toast', { hasText: 'Marked pending' }).waitFor();
	await screenshot(page, 'keyboard-focus');
	// connection changes are said
	await context.setOffline(true);
	await page.locator('#announcer', { hasText: /Connection: (Offline|Reconnecting)/ }).waitFor();
	await context.setOffline(false);
	await page.locator('#announcer', { hasText: 'Connection: Live' }).waitFor({ timeout: 15000 });
	// a new customer message in the open conversation is said too
	await simulate(A.a.own, chan.id, '+14155550301', 'Friday 10:00 is fine');
	await page.locator('#announcer', { hasText: 'New message from +14155550301: Friday 10:00 is fine' }).waitFor();
	assert.deepEqual(page.errors.filter((e) => !/status of 401/.test(e)), []);
	await context.close();
});

test('a narrow screen (390x844): open a conversation, reply, open the contact panel and come back', async () => {
	const { context, page } = await agentPage(browser, hub, 'eli@delta.test', { viewport: { width: 390, height: 844 } });
	await inboxView(page, 'All');
	await openConversation(page, 'Where is my parcel?', '+14155550302');
	assert.equal(await page.locator('.inbox').isVisible(), false, 'the inbox still takes the screen');
	const noSideways = () => page.evaluate(() => document.documentElement.scrollWidth <= innerWidth);
	assert.ok(await noSideways(), 'the page scrolls sideways');
	// reply
	const box = page.getByLabel('Message', { exact: true });
	await box.fill('It left the depot this morning.');
	await page.getByRole('button', { name: 'Send' }).click();
	await page.locator('.msg-out', { hasText: 'left the depot' }).locator('.status[data-status=delivered]').waitFor({ timeout: 10000 });
	assert.equal(await inView(page.locator('.msg-out', { hasText: 'left the depot' })), true);
	await screenshot(page, 'narrow-conversation');
	// the contact panel: a button in the header, aria-expanded, and a way back
	const toggle = page.getByRole('button', { name: 'Contact', exact: true });
	assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
	const panel = page.getByRole('complementary', { name: 'Contact' });
	assert.equal(await panel.isVisible(), false);
	await toggle.click();
	await panel.waitFor();
	assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
	await page.getByLabel('Name').fill('Parcel Pat');
	await page.getByRole('button', { name: 'Save contact' }).click();
	await page.locator('.toast', { hasText: 'Contact saved' }).waitFor();
	assert.ok(await noSideways(), 'the contact panel scrolls sideways');
	assert.deepEqual(await lowContrast(page), []);
	assert.deepEqual(await unnamed(page), []);
	await screenshot(page, 'narrow-contact');
	await page.getByRole('button', { name: 'Back to conversation' }).click();
	await panel.waitFor({ state: 'hidden' });
	assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
	assert.equal((await focused(page)).name, 'Contact');
	await page.locator('.conv-title', { hasText: 'Parcel Pat' }).waitFor();
	// the keyboard way: Enter opens, Escape closes and gives the focus back
	await page.keyboard.press('Enter');
	await panel.waitFor();
	assert.equal((await focused(page)).name, 'Contact');
	await page.keyboard.press('Escape');
	await panel.waitFor({ state: 'hidden' });
	assert.equal(await toggle.evaluate((el) => el === document.activeElement), true);
	// back to the inbox
	await page.getByRole('link', { name: '← Inbox' }).click();
	await page.locator('.inbox').waitFor();
	await row(page, 'Parcel Pat').waitFor();
	assert.deepEqual(page.errors.filter((e) => !/status of 401/.test(e)), []);
	await context.close();
});

const inView = (loc) => loc.evaluate((el) => {
	const t = el.closest('.thread').getBoundingClientRect(), r = el.getBoundingClientRect();
	return r.bottom <= t.bottom + 1 && r.top >= t.top;
});
