// One conversation: the thread (inbound, outbound with live status, internal notes), composer
// (SMS segment count, canned responses with '/', note mode), assignment, status, snooze, the
// contact panel, typing and viewing indicators.
//
// The thread is windowed: only the messages near the viewport are in the DOM (between two
// spacers standing for the rest, at measured or estimated heights), so a thread of thousands of
// messages scrolls and grows without long tasks. The scroll position is kept by an anchor (a
// message and an offset into it) across prepends of older pages and re-measures, and sticks
// to the bottom for live appends while the agent is at the bottom.
import { get, post, patch, qs } from './api.js';
import { h, fill, clear, toast, fmtTime, fmtFull, field, nextId, announce } from './dom.js';
import { S, on, emit, mergeConv, convTitle, agentName } from './state.js';
import { countSegments } from './segments.js';

const STATUS_TEXT = {
	pending: 'Sending…', queued: 'Queued', sent: 'Sent', delivered: 'Delivered',
	undelivered: 'Not delivered', failed: 'Failed', received: 'Received',
};
const EST = 72; // px a message takes (with its margin) until it has been measured
const GAP = 8; // px margin under each message (.msg in app.css)
const OVERSCAN = 700; // px rendered above and below the viewport
const STICK = 80; // px from the bottom that still counts as "at the bottom"

// Largest i in [0, n-1] with off[i] <= y (off: n+1 prefix sums).
// A client id for a send (the hub makes a retried send with the same id one message) that
// sorts by time: 12 hex digits of milliseconds, then 20 random ones (UUIDv7's layout, without
// the dashes). The hub's per-tenant index of client ids then takes each new one at its end:
// random UUIDs put each reply's entry on a random page of it: 4-6 KB more written a reply in
// B5, against ~1 KB (docs/PERFORMANCE.md). crypto.getRandomValues works on plain http too.
function timeOrderedId() {
	const r = crypto.getRandomValues(new Uint8Array(10));
	return Date.now().toString(16).padStart(12, '0') + Array.from(r, (b) => b.toString(16).padStart(2, '0')).join('');
}

function idxAt(off, n, y) {
	let lo = 0, hi = n - 1;
	while (lo < hi) {
		const mid = (lo + hi + 1) >> 1;
		if (off[mid] <= y) lo = mid;
		else hi = mid - 1;
	}
	return lo;
}

export class Conversation {
	constructor() {
		this.id = null;
		this.gen = 0;
		this.items = []; // thread model, oldest first: { key, m, pending }
		this.byId = new Map(); // message id -> item
		this.byClient = new Map(); // client_id -> item
		this.els = new Map(); // key -> element, only for the items in the DOM
		this.heights = new Map(); // key -> measured px (with the margin)
		this.statusById = new Map(); // id -> latest status update seen (may beat the REST answer)
		this.ro = new ResizeObserver(() => this.schedule(this.stick));
		this.el = h('section.conv-pane', { 'aria-label': 'Conversation' });
		this.offs = [
			on('message', (m) => this.onMessage(m)),
			on('message-status', (m) => this.onStatus(m)),
			on('conv', (c) => c.id === this.id && this.drawHeader()),
			on('typing', (cid) => cid === this.id && this.drawTyping()),
			on('viewing', () => this.drawViewing()),
			on('presence', () => this.drawViewing()),
			on('contact', (ct) => this.contact && ct.id === this.contact.id && this.loadContact()),
			on('refs', () => this.id && this.drawHeader()),
			on('focus-conv', () => {
				S.focusConv = false;
				if (this.id) this.title.focus();
			}),
		];
		this.close();
	}

	destroy() {
		this.offs.forEach((f) => f());
		this.ro.disconnect();
		this.cancelScheduled();
		this.stopTyping();
		S.live?.send({ type: 'viewing', conversation_id: null });
	}

	close() {
		if (this.id) S.live?.send({ type: 'viewing', conversation_id: null });
		this.stopTyping();
		this.id = null;
		this.gen++;
		this.resetThread();
		S.currentConv = null;
		fill(this.el, h('div.placeholder', h('p.muted', 'Pick a conversation from the inbox.')));
	}

	async open(id) {
		if (this.id === id) return;
		this.stopTyping();
		this.id = id;
		S.currentConv = id;
		const gen = ++this.gen;
		this.resetThread();
		this.cursor = null;
		this.contact = null;
		this.build();
		if (S.focusConv) this.title.focus();
		S.focusConv = false;
		S.live?.send({ type: 'viewing', conversation_id: id });
		try {
			const [c, page] = await Promise.all([get(`/conversations/${id}`), get(`/conversations/${id}/messages?limit=50`)]);
			if (gen !== this.gen) return;
			emit('conv', mergeConv(c));
			this.drawHeader();
			this.cursor = page.next_cursor;
			this.olderBtn.hidden = !this.cursor;
			this.stick = true;
			this.addMessages(page.messages, 'bottom');
			this.thread.setAttribute('aria-busy', 'false');
			performance.mark('sb-thread-rendered');
			this.markReadIfVisible(true);
			this.loadContact();
		} catch (e) {
			if (gen === this.gen) fill(this.thread, h('p.error', { role: 'alert' }, `Could not load this conversation: ${e.message}`));
		}
	}

	conv() {
		return S.convs.get(this.id);
	}

	markReadIfVisible(force) {
		const c = this.conv();
		if (!c || document.hidden) return;
		if (force || c.unread) {
			c.unread = 0;
			emit('conv', c);
			post(`/conversations/${c.id}/read`).catch(() => {});
		}
	}

	build() {
		this.title = h('h2.conv-title', { tabindex: '-1' });
		this.sub = h('p.conv-sub.muted');
		this.assignSel = h('select', { on: { change: () => this.assign() } });
		this.statusSel = h('select', { on: { change: () => this.setStatus(this.statusSel.value) } },
			['open', 'pending', 'closed'].map((s) => h('option', { value: s }, s[0].toUpperCase() + s.slice(1))),
			h('option', { value: 'snoozed', disabled: true }, 'Snoozed'));
		this.snoozeInput = h('input', { type: 'datetime-local' });
		const snooze = h('details.snooze',
			h('summary', 'Snooze'),
			h('div.snooze-body',
				field('Snooze until', this.snoozeInput),
				h('div.row',
					h('button', { type: 'button', on: { click: () => this.snoozeFor(3600e3) } }, '1 hour'),
					h('button', { type: 'button', on: { click: () => this.snoozeTomorrow() } }, 'Tomorrow 9:00'),
					h('button.primary', { type: 'button', on: { click: () => this.snoozeAt() } }, 'Snooze'))));
		snooze.addEventListener('keydown', (e) => {
			if (e.key === 'Escape' && snooze.open) {
				snooze.open = false;
				snooze.querySelector('summary').focus();
			}
		});
		this.snoozeEl = snooze;
		this.viewingEl = h('p.viewing.muted', { 'aria-live': 'polite' });
		const back = h('a.back', { href: '#/' }, '← Inbox');
		const panelId = nextId('contact-panel');
		this.contactOpen = false;
		this.contactBtn = h('button.contact-toggle', { type: 'button', 'aria-expanded': 'false', 'aria-controls': panelId,
			on: { click: () => this.toggleContact() } }, 'Contact');
		const header = h('header.conv-head',
			back,
			h('div.conv-ident', this.title, this.sub, this.viewingEl),
			h('div.conv-actions',
				this.contactBtn,
				field('Assignee', this.assignSel),
				field('Status', this.statusSel),
				snooze));
		this.olderBtn = h('button.link.older', { type: 'button', hidden: true, on: { click: () => this.loadOlder() } }, 'Load earlier messages');
		this.list = h('ol.messages');
		this.topPad = h('div.thread-pad', { 'aria-hidden': 'true' });
		this.botPad = h('div.thread-pad', { 'aria-hidden': 'true' });
		// not a live region: windowing adds and removes messages as the agent scrolls; new
		// messages are announced through the page's announcer instead
		this.thread = h('div.thread', { role: 'region', 'aria-label': 'Messages', 'aria-busy': 'true', tabindex: '0', on: { scroll: () => this.onScroll(), keydown: (e) => this.threadKey(e) } },
			this.olderBtn, this.topPad, this.list, this.botPad);
		this.ro.disconnect();
		this.ro.observe(this.thread);
		this.typingEl = h('p.typing', { 'aria-live': 'polite' });
		this.buildComposer();
		this.contactBody = h('div.contact-body');
		this.contactHead = h('h3', { tabindex: '-1' }, 'Contact');
		this.contactEl = h('aside.contact-panel', { id: panelId, 'aria-label': 'Contact', on: { keydown: (e) => {
			if (e.key === 'Escape' && this.contactOpen) this.toggleContact(false);
		} } },
		h('div.contact-head', this.contactHead,
			h('button.contact-close', { type: 'button', on: { click: () => this.toggleContact(false) } }, '← Back to conversation')),
		this.contactBody);
		this.mainEl = h('div.conv-main', header, this.thread, this.typingEl, this.composer);
		fill(this.el, this.mainEl, this.contactEl);
		this.el.classList.remove('contact-open');
	}

	// Narrow screens: the contact panel is a pane over the conversation, opened from the header.
	toggleContact(open = !this.contactOpen) {
		this.contactOpen = open;
		this.el.classList.toggle('contact-open', open);
		this.contactBtn.setAttribute('aria-expanded', String(open));
		this.mainEl.inert = open && matchMedia('(max-width: 760px)').matches;
		if (open) this.contactHead.focus();
		else {
			this.contactBtn.focus();
			this.schedule();
		}
	}
	drawHeader() {
		const c = this.conv();
		if (!c) return;
		this.title.textContent = convTitle(c);
		const ch = S.channels.find((x) => x.id === c.channel_id);
		this.sub.textContent = [c.contact?.name ? c.contact.phone : null, ch ? ch.name : null,
			c.status === 'snoozed' && c.snoozed_until ? `Snoozed until ${fmtFull(c.snoozed_until)}` : null].filter(Boolean).join(' · ');
		fill(this.assignSel, h('option', { value: '' }, 'Unassigned'),
			[...S.agents.values()].filter((a) => a.active !== false || a.id === c.assignee_id)
				.map((a) => h('option', { value: String(a.id), selected: a.id === c.assignee_id }, a.id === S.me.id ? `${a.name || a.email} (me)` : a.name || a.email)));
		this.assignSel.value = c.assignee_id == null ? '' : String(c.assignee_id);
		this.statusSel.value = c.status;
		this.drawChannels(c);
	}

	// The composer's channel choice: the tenant's active channels, the conversation's own first.
	drawChannels(c) {
		if (!this.channelSel) return;
		const active = S.channels.filter((x) => x.active !== false);
		const keep = this.channelSel.value;
		fill(this.channelSel, active.map((x) => h('option', { value: String(x.id) }, x.name)));
		const want = keep && active.some((x) => String(x.id) === keep) && this.channelFor === c.id ? keep : String(c.channel_id ?? active[0]?.id ?? '');
		this.channelSel.value = want;
		this.channelFor = c.id;
		this.channelField.hidden = this.mode === 'note' || active.length < 2;
	}

	async assign() {
		const v = this.assignSel.value;
		try {
			const c = await post(`/conversations/${this.id}/assign`, { agent_id: v ? Number(v) : null });
			emit('conv', mergeConv(c));
			toast(`Assigned to ${agentName(c.assignee_id)}`);
		} catch (e) {
			toast(e.message, 'error');
			this.drawHeader();
		}
	}

	async setStatus(status, until) {
		try {
			const body = { status };
			if (until) body.snoozed_until = until;
			const c = await post(`/conversations/${this.id}/status`, body);
			emit('conv', mergeConv(c));
			toast(status === 'snoozed' ? `Snoozed until ${fmtFull(c.snoozed_until)}` : `Marked ${status}`);
			if (status === 'snoozed') this.snoozeEl.open = false;
		} catch (e) {
			toast(e.message, 'error');
			this.drawHeader();
		}
	}

	snoozeFor(ms) {
		this.setStatus('snoozed', new Date(Date.now() + ms).toISOString());
	}

	snoozeTomorrow() {
		const d = new Date();
		d.setDate(d.getDate() + 1);
		d.setHours(9, 0, 0, 0);
		this.setStatus('snoozed', d.toISOString());
	}

	snoozeAt() {
		const v = this.snoozeInput.value;
		const d = v ? new Date(v) : null;
		if (!d || Number.isNaN(d.getTime()) || d <= new Date()) {
			toast('Pick a time in the future to snooze until.', 'error');
			this.snoozeInput.focus();
			return;
		}
		this.setStatus('snoozed', d.toISOString());
	}

	/* ---- thread (windowed) ---- */

	resetThread() {
		this.items = [];
		this.byId.clear();
		this.byClient.clear();
		this.els.clear();
		this.heights.clear();
		this.measured = this.measuredSum = 0; // for the estimate of what is not measured yet
		this.statusById.clear();
		this.off = null;
		this.stick = true;
		this.loadingOlder = false;
	}

	item(m, pending = false) {
		const it = { key: m.id ? `m${m.id}` : `c${m.client_id}`, m, pending };
		if (m.id) {
			this.byId.set(m.id, it);
			const st = this.statusById.get(m.id);
			if (st) this.applyStatus(it, st);
		}
		if (m.client_id) this.byClient.set(m.client_id, it);
		return it;
	}

	applyStatus(it, u) {
		it.m = { ...it.m, status: u.status, status_reason: u.status_reason, status_code: u.status_code };
	}

	addMessages(list, where, anchor = null) {
		const fresh = list.filter((m) => !this.byId.has(m.id)).sort((a, b) => a.id - b.id).map((m) => this.item(m));
		if (where === 'top') this.items = fresh.concat(this.items);
		else this.items.push(...fresh);
		this.off = null;
		this.renderNow(where !== 'top' && this.stick, anchor);
	}

	removeItem(it) {
		const anchor = this.anchorAt(this.thread.scrollTop);
		const i = this.items.indexOf(it);
		if (i >= 0) this.items.splice(i, 1);
		if (it.m.client_id && this.byClient.get(it.m.client_id) === it) this.byClient.delete(it.m.client_id);
		this.els.get(it.key)?.remove();
		this.els.delete(it.key);
		this.off = null;
		this.renderNow(this.stick, anchor?.key === it.key ? null : anchor);
	}

	// Prefix sums of the heights: off[i] is the top of item i in list coordinates; on screen it
	// is at base + shift + off[i] (base: where the list starts in the thread; shift: how far the
	// drawn messages are from where the estimates would put them, see renderPass).
	offsets() {
		if (this.off) return this.off;
		const n = this.items.length, off = new Float64Array(n + 1);
		const est = this.measured ? this.measuredSum / this.measured : EST;
		for (let i = 0; i < n; i++) off[i + 1] = off[i] + (this.heights.get(this.items[i].key) ?? est);
		return (this.off = off);
	}

	// The message at scroll position st and how far into it: what must stay put on screen.
	anchorAt(st) {
		const n = this.items.length;
		if (!n) return null;
		const off = this.offsets(), y = st - (this.base ?? 0) - (this.shift ?? 0);
		const i = idxAt(off, n, Math.max(0, y));
		return { key: this.items[i].key, delta: y - off[i] };
	}

	onScroll() {
		const T = this.thread;
		this.stick = T.scrollHeight - T.scrollTop - T.clientHeight < STICK;
		this.schedule();
		if (T.scrollTop < 400 && this.cursor && !this.loadingOlder) this.loadOlder();
	}

	// Home and End go to the first and the last message exactly (the browser's own would stop
	// where the estimated heights said the end was).
	threadKey(e) {
		if (e.target !== this.thread || e.altKey || e.shiftKey || !this.items.length) return;
		if (e.key === 'End') {
			e.preventDefault();
			this.renderNow(true);
		} else if (e.key === 'Home') {
			e.preventDefault();
			this.renderNow(false, { key: this.items[0].key, delta: -1e6 });
		}
	}

	// A render on the next frame; pin: to the bottom (content came in while at the bottom).
	// A window that is hidden or covered gets no animation frames (a background tab, another
	// window in front): a timer is the fallback, so live messages still land in the DOM.
	schedule(pin) {
		if (pin) this.pinNext = true;
		if (this.raf) return;
		const run = () => {
			if (this.raf) this.renderNow();
		};
		this.raf = requestAnimationFrame(run);
		this.rafTimer = setTimeout(run, 50);
	}

	cancelScheduled() {
		if (this.raf) cancelAnimationFrame(this.raf);
		clearTimeout(this.rafTimer);
		this.raf = 0;
	}

	// Draws the messages around the anchor (or at the bottom), measures them, and keeps the
	// anchor where it was on screen. A second pass if the measures moved the window.
	// The anchor is what is at the top of the viewport by the model of the last render (the
	// scroll position may have moved since, by the agent or a smooth scroll, and the DOM may
	// have changed in place); a caller that changes the model before it (a prepend) passes the
	// anchor it took before.
	renderNow(pin = false, anchor = null) {
		this.cancelScheduled();
		pin = pin || this.pinNext;
		this.pinNext = false;
		if (!this.thread || !this.id) return;
		for (let pass = 0; pass < 3; pass++) if (this.renderPass(pin && pass === 0, pass === 0 ? anchor : null)) break;
	}

	renderPass(pin, anchor) {
		const T = this.thread, n = this.items.length;
		const vh = T.clientHeight || 600;
		T.dataset.loaded = String(n); // how many messages are known (tests wait on it)
		if (!pin && !anchor) anchor = this.anchorAt(T.scrollTop);
		let off = this.offsets();
		let ai = -1;
		if (!pin && anchor) ai = this.items.findIndex((it) => it.key === anchor.key);
		if (ai < 0) pin = true;
		const delta = pin ? 0 : anchor.delta;
		const top = pin ? Math.max(0, off[n] - vh) : off[ai] + delta;
		const first = n ? idxAt(off, n, top - OVERSCAN) : 0;
		const last = n ? idxAt(off, n, top + vh + OVERSCAN) : -1;
		// the DOM: drop what left the window, add what came in, in order
		const want = new Set();
		for (let i = first; i <= last; i++) want.add(this.items[i].key);
		for (const [k, el] of this.els) {
			if (!want.has(k)) {
				el.remove();
				this.els.delete(k);
			}
		}
		let prev = null;
		for (let i = first; i <= last; i++) {
			const it = this.items[i];
			let el = this.els.get(it.key);
			if (!el) this.els.set(it.key, (el = this.msgEl(it)));
			const at = prev ? prev.nextElementSibling : this.list.firstElementChild;
			if (at !== el) this.list.insertBefore(el, at);
			prev = el;
		}
		// measure what is drawn (one layout)
		let changed = false;
		for (let i = first; i <= last; i++) {
			const it = this.items[i];
			const hgt = this.els.get(it.key).getBoundingClientRect().height + GAP;
			const old = this.heights.get(it.key);
			if (old === undefined || Math.abs(old - hgt) > 0.5) {
				if (old === undefined) this.measured++;
				this.measuredSum += hgt - (old ?? 0);
				this.heights.set(it.key, hgt);
				changed = true;
			}
		}
		if (changed) {
			this.off = null;
			off = this.offsets();
		}
		this.base = this.topPad.offsetTop;
		// Where the anchor is on screen now is where it stays: the difference between measured
		// and estimated heights above it goes into the top spacer (shift), so the scroll position
		// is left alone (a smooth scroll in progress goes on). Only when the spacer cannot take
		// it (the first message drawn, or a negative shift, as after a prepend) does scrollTop move.
		const st0 = T.scrollTop;
		let shift = 0, target = null;
		if (pin) target = Infinity;
		else {
			shift = st0 - this.base - off[ai] - delta;
			if (shift < 0 || first === 0) {
				target = this.base + off[ai] + delta;
				shift = 0;
			}
		}
		this.shift = shift;
		this.topPad.style.height = `${off[first] + shift}px`;
		this.botPad.style.height = `${off[n] - off[last + 1]}px`;
		if (target === Infinity) T.scrollTop = T.scrollHeight;
		else if (target !== null && Math.abs(target - st0) > 0.5) T.scrollTop = target;
		const st = T.scrollTop;
		this.stick = T.scrollHeight - st - T.clientHeight < STICK;
		// is the viewport inside what is drawn?
		const y = st - this.base - shift;
		return !n || ((first === 0 || off[first] <= y) && (last === n - 1 || off[last + 1] >= y + vh));
	}

	async loadOlder() {
		if (!this.cursor || this.loadingOlder) return;
		this.loadingOlder = true;
		const gen = this.gen;
		try {
			const page = await get(`/conversations/${this.id}/messages${qs({ before: this.cursor, limit: 100 })}`);
			if (gen !== this.gen) return;
			this.cursor = page.messages.length ? page.next_cursor : null;
			this.olderBtn.hidden = !this.cursor;
			// keep what is on screen where it is
			this.addMessages(page.messages, 'top', this.anchorAt(this.thread.scrollTop));
		} catch (e) {
			toast(`Could not load earlier messages: ${e.message}`, 'error');
		} finally {
			if (gen === this.gen) this.loadingOlder = false;
		}
		// still at the top (a short page, a tall screen): the next one
		if (gen === this.gen && this.cursor && this.thread.scrollTop < 400) this.loadOlder();
	}

	msgEl(it) {
		const m = it.m;
		const kind = m.kind === 'note' ? 'note' : m.direction === 'out' ? 'out' : 'in';
		const who = kind === 'in' ? (convTitle(this.conv() || { contact: {} }) || 'Customer') : agentName(m.author_agent_id);
		const el = h('li.msg', { class: `msg msg-${kind}${it.pending ? ' optimistic' : ''}`, 'data-id': m.id ?? '', 'data-client-id': m.client_id || '' },
			kind === 'note' ? h('span.msg-label', 'Internal note') : null,
			h('p.msg-body', m.body),
			h('p.msg-meta', h('span.sr-only', kind === 'in' ? 'Received from ' : kind === 'out' ? 'Sent by ' : 'Note by '),
				h('span.msg-who', who), ' · ', h('time', { datetime: m.created_at || '' }, fmtTime(m.created_at))));
		if (kind === 'out') {
			el.append(h('p.msg-status'));
			this.drawStatus(el, it);
		}
		return el;
	}

	drawStatus(el, it) {
		const st = el.querySelector('.msg-status');
		if (!st) return;
		const m = it.m;
		el.dataset.status = m.status;
		el.dataset.id = m.id ?? '';
		el.classList.toggle('optimistic', !!it.pending);
		fill(st, h('span.status', { 'data-status': m.status }, STATUS_TEXT[m.status] || m.status));
		if (m.status === 'failed' || m.status === 'undelivered') {
			const reason = [m.status_reason || 'The carrier refused the message.', m.status_code ? `(error ${m.status_code})` : ''].join(' ');
			st.append(h('span.reason', reason), h('button.retry', { type: 'button', 'aria-label': `Retry: ${m.body.slice(0, 40)}`, on: { click: () => this.retry(it) } }, 'Retry'));
		}
	}

	// An item changed in place (status, id): redraw it if it is drawn; its height may change.
	redraw(it) {
		const el = this.els.get(it.key);
		if (!el) return;
		if (el.querySelector('.msg-status')) this.drawStatus(el, it);
		else {
			el.dataset.id = it.m.id ?? '';
			el.classList.toggle('optimistic', !!it.pending);
		}
		this.schedule(this.stick);
	}

	onMessage(m) {
		if (m.conversation_id !== this.id) return;
		if (this.byId.has(m.id)) return;
		const pend = m.client_id && this.byClient.get(m.client_id);
		if (pend) {
			pend.m = { ...pend.m, ...m };
			pend.pending = false;
			this.byId.set(m.id, pend);
			const st = this.statusById.get(m.id);
			if (st) this.applyStatus(pend, st);
			this.redraw(pend);
			return;
		}
		this.items.push(this.item(m));
		this.off = null;
		this.renderNow(this.stick || m.author_agent_id === S.me.id);
		if (m.direction === 'in') {
			this.markReadIfVisible();
			if (m.kind !== 'note') announce(`New message from ${convTitle(this.conv() || { contact: {} })}: ${m.body}`);
		} else if (m.kind === 'note' && m.author_agent_id !== S.me.id) announce(`Internal note from ${agentName(m.author_agent_id)}: ${m.body}`);
		else if (m.author_agent_id !== S.me.id) announce(`${agentName(m.author_agent_id)} replied: ${m.body}`);
		if (m.author_agent_id != null) {
			const t = S.typing.get(m.conversation_id);
			if (t && t.has(m.author_agent_id)) {
				t.delete(m.author_agent_id);
				this.drawTyping();
			}
		}
	}

	onStatus(u) {
		if (u.conversation_id !== this.id) return;
		this.statusById.set(u.id, u);
		const it = this.byId.get(u.id);
		if (!it) return;
		const was = it.m.status;
		this.applyStatus(it, u);
		this.redraw(it);
		if (was !== u.status && it.m.author_agent_id === S.me.id) this.announceStatus(it);
	}

	announceStatus(it) {
		const m = it.m, text = `“${m.body.slice(0, 40)}”`;
		if (m.status === 'delivered') announce(`Message ${text} delivered`);
		else if (m.status === 'failed' || m.status === 'undelivered') announce(`Message ${text} not delivered: ${m.status_reason || 'the carrier refused it'}`);
	}

	async retry(it) {
		try {
			const m = await post(`/messages/${it.m.id}/retry`);
			it.m = { ...it.m, ...m };
			this.redraw(it);
			announce('Sending again');
		} catch (e) {
			toast(`Retry failed: ${e.message}`, 'error');
		}
	}
	/* ---- composer ---- */

	buildComposer() {
		const rid = nextId('mode');
		this.mode = 'reply';
		const modeBtn = (m, label) => h('label.mode', h('input', { type: 'radio', name: rid, value: m, checked: m === 'reply', on: { change: () => this.setMode(m) } }), label);
		this.text = h('textarea#composer-text', { rows: '3', placeholder: 'Type a reply… ( / for canned responses)', 'aria-describedby': 'composer-count composer-keys', on: {
			input: () => this.onInput(), keydown: (e) => this.onKey(e),
		} });
		this.counter = h('span.counter#composer-count', { 'aria-live': 'off' });
		this.err = h('p.error', { role: 'alert' });
		this.sendBtn = h('button.primary', { type: 'submit' }, 'Send');
		this.channelSel = h('select#composer-channel');
		this.channelField = h('span.channel-choice', h('label', { for: 'composer-channel' }, 'Send via '), this.channelSel);
		this.cannedList = h('ul.canned', { role: 'listbox', id: nextId('canned'), 'aria-label': 'Canned responses', hidden: true });
		this.composer = h('form.composer', { 'aria-label': 'Reply', on: { submit: (e) => {
			e.preventDefault();
			this.send();
		} } },
		h('fieldset.modes', h('legend.sr-only', 'Message type'), modeBtn('reply', 'Reply (SMS)'), modeBtn('note', 'Internal note')),
		h('label.sr-only', { for: 'composer-text' }, 'Message'),
		this.cannedList, this.text,
		h('div.composer-foot', this.counter, h('span.keys.muted#composer-keys', 'Enter or Ctrl+Enter sends · Shift+Enter: new line'), this.err, this.channelField, this.sendBtn));
		this.onInput();
	}

	setMode(m) {
		this.mode = m;
		this.composer.classList.toggle('note-mode', m === 'note');
		this.text.placeholder = m === 'note' ? 'Write an internal note (only agents see it)…' : 'Type a reply… ( / for canned responses)';
		this.sendBtn.textContent = m === 'note' ? 'Add note' : 'Send';
		if (this.channelField) this.channelField.hidden = m === 'note' || S.channels.filter((x) => x.active !== false).length < 2;
		this.onInput();
	}

	onInput() {
		const v = this.text.value;
		if (this.mode === 'note') this.counter.textContent = v ? `${Array.from(v).length} characters · note` : '';
		else {
			const s = countSegments(v);
			this.counter.textContent = v ? `${s.chars} chars · ${s.encoding} · ${s.segments} segment${s.segments === 1 ? '' : 's'}` : '';
			this.counter.dataset.segments = String(s.segments);
		}
		this.err.textContent = '';
		this.updateCanned();
		if (v && this.mode === 'reply') this.startTyping();
		else if (!v) this.stopTyping();
	}

	startTyping() {
		const now = Date.now();
		if (!this.typingSince || now - this.typingSince > 3000) {
			this.typingSince = now;
			S.live?.send({ type: 'typing', conversation_id: this.id, on: true });
		}
		clearTimeout(this.typingOff);
		this.typingOff = setTimeout(() => this.stopTyping(), 4000);
	}

	stopTyping() {
		clearTimeout(this.typingOff);
		if (this.typingSince && this.id) S.live?.send({ type: 'typing', conversation_id: this.id, on: false });
		this.typingSince = 0;
	}

	updateCanned() {
		const v = this.text.value;
		const m = v.match(/^\/(\S*)$/);
		if (!m || !S.canned.length) {
			this.cannedList.hidden = true;
			this.text.removeAttribute('aria-activedescendant');
			this.text.setAttribute('aria-expanded', 'false');
			return;
		}
		const q = m[1].toLowerCase();
		this.cannedMatches = S.canned.filter((c) => c.shortcut.toLowerCase().includes(q) || c.title?.toLowerCase().includes(q)).slice(0, 8);
		this.cannedIdx = 0;
		this.drawCanned();
	}

	drawCanned() {
		const list = this.cannedMatches;
		clear(this.cannedList);
		this.cannedList.hidden = !list.length;
		this.text.setAttribute('aria-expanded', String(!!list.length));
		this.text.setAttribute('aria-controls', this.cannedList.id);
		list.forEach((c, i) => {
			const li = h('li', { role: 'option', id: `${this.cannedList.id}-${i}`, 'aria-selected': String(i === this.cannedIdx),
				on: { mousedown: (e) => {
					e.preventDefault();
					this.pickCanned(c);
				} } }, h('strong', `/${c.shortcut}`), ' ', h('span', c.title || ''), h('span.canned-body.muted', c.body));
			this.cannedList.append(li);
		});
		if (list.length) this.text.setAttribute('aria-activedescendant', `${this.cannedList.id}-${this.cannedIdx}`);
	}

	pickCanned(c) {
		this.text.value = c.body;
		this.cannedList.hidden = true;
		this.onInput();
		this.text.focus();
	}

	onKey(e) {
		// Ctrl/Cmd+Enter always sends (even with the canned list open)
		if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && !e.isComposing) {
			e.preventDefault();
			this.cannedList.hidden = true;
			this.send();
			return;
		}
		if (!this.cannedList.hidden) {
			const n = this.cannedMatches.length;
			if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
				e.preventDefault();
				this.cannedIdx = (this.cannedIdx + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
				this.drawCanned();
				return;
			}
			if (e.key === 'Enter' || e.key === 'Tab') {
				e.preventDefault();
				this.pickCanned(this.cannedMatches[this.cannedIdx]);
				return;
			}
			if (e.key === 'Escape') {
				this.cannedList.hidden = true;
				return;
			}
		}
		if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
			e.preventDefault();
			this.send();
		}
	}

	async send() {
		const body = this.text.value.trim();
		if (!body) return;
		const note = this.mode === 'note';
		const client_id = timeOrderedId();
		const cid = this.id;
		this.stopTyping();
		const opt = { id: null, client_id, kind: note ? 'note' : 'message', direction: 'out', body, status: 'pending', created_at: new Date().toISOString(), author_agent_id: S.me.id };
		const it = this.item(opt, true);
		this.items.push(it);
		this.off = null;
		this.renderNow(true);
		this.text.value = '';
		this.onInput();
		try {
			const channel_id = !note && this.channelSel?.value ? Number(this.channelSel.value) : undefined;
			const m = await post(`/conversations/${cid}/${note ? 'notes' : 'messages'}`, note ? { body, client_id } : { body, client_id, channel_id });
			if (cid !== this.id) return;
			it.pending = false;
			const other = this.byId.get(m.id);
			if (other && other !== it) {
				this.removeItem(it); // the event got here first and drew it
				return;
			}
			it.m = { ...it.m, ...m };
			this.byId.set(m.id, it);
			const st = this.statusById.get(m.id);
			if (st && !note) this.applyStatus(it, st);
			this.redraw(it);
			if (note) announce('Note added');
		} catch (e) {
			if (cid !== this.id) return;
			this.removeItem(it);
			this.byClient.delete(client_id);
			this.text.value = body;
			this.onInput();
			this.err.textContent = e.code === 'opted_out' ? `Not sent: this contact has opted out (STOP). ${e.message}` : e.status === 413 ? `Not sent: the message is too long. ${e.message}` : `Not sent: ${e.message}`;
		}
	}

	drawTyping() {
		const m = S.typing.get(this.id);
		const names = m ? [...m.keys()].map(agentName) : [];
		this.typingEl.textContent = names.length ? `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…` : '';
	}

	drawViewing() {
		if (!this.id || !this.viewingEl) return;
		const names = [];
		for (const [aid, cid] of S.viewing) if (cid === this.id && aid !== S.me.id && S.presence.get(aid)?.online !== false) names.push(agentName(aid));
		this.viewingEl.textContent = names.length ? `Also viewing: ${names.join(', ')}` : '';
	}

	/* ---- contact panel ---- */

	async loadContact() {
		const c = this.conv();
		if (!c || !c.contact) return;
		const gen = this.gen;
		try {
			const ct = await get(`/contacts/${c.contact.id}`);
			if (gen !== this.gen) return;
			this.contact = ct;
			this.drawContact();
		} catch (e) {
			fill(this.contactBody, h('p.error', `Could not load the contact: ${e.message}`));
		}
	}

	drawContact() {
		const ct = this.contact;
		const inputs = {
			name: h('input', { type: 'text', value: ct.name || '', autocomplete: 'off' }),
			phone: h('input', { type: 'tel', value: ct.phone || '', autocomplete: 'off' }),
			email: h('input', { type: 'email', value: ct.email || '', autocomplete: 'off' }),
			notes: h('textarea', { rows: '4' }),
		};
		inputs.notes.value = ct.notes || '';
		const err = h('p.error', { role: 'alert' });
		const form = h('form.contact-form', { on: { submit: async (e) => {
			e.preventDefault();
			err.textContent = '';
			try {
				this.contact = await patch(`/contacts/${ct.id}`, { name: inputs.name.value.trim(), phone: inputs.phone.value.trim(), email: inputs.email.value.trim(), notes: inputs.notes.value });
				const c = this.conv();
				if (c) {
					c.contact = { ...c.contact, name: this.contact.name, phone: this.contact.phone };
					emit('conv', c);
				}
				this.drawHeader();
				toast('Contact saved');
			} catch (ex) {
				err.textContent = ex.message;
			}
		} } },
		field('Name', inputs.name), field('Phone', inputs.phone, 'E.164, like +14155550123'), field('Email', inputs.email), field('Notes', inputs.notes),
		err, h('button.primary', { type: 'submit' }, 'Save contact'));
		const others = (ct.conversations || []).filter((x) => x.id !== this.id);
		fill(this.contactBody, form,
			h('h4', 'Other conversations'),
			others.length ? h('ul.other-convs', others.map((x) => h('li', h('a', { href: `#/c/${x.id}` }, `#${x.id} · ${x.status} · ${fmtTime(x.last_activity_at)}`)))) : h('p.muted', 'None'));
	}
}
