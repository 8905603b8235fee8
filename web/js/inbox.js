// The inbox: views (Mine, Unassigned, All) by status, channel filter, search, unread badges,
// newest activity first and reordered live; windowed rendering (only the visible rows exist in
// the DOM) and infinite scroll over the API's cursors.
import { get, qs } from './api.js';
import { h, fill, clear, fmtTime } from './dom.js';
import { S, on, emit, convCmp, mergeConv, convTitle, agentName } from './state.js';

const ROW = 72; // px, fixed row height (matches .conv-row in app.css)
const OVERSCAN = 6;
const PAGE = 100;

export class Inbox {
	constructor() {
		this.view = sessionStorage.getItem('sb.view') || 'mine';
		this.status = sessionStorage.getItem('sb.status') || 'open';
		this.channel = '';
		this.q = '';
		this.items = []; // conversations in order
		this.ids = new Set();
		this.cursor = null;
		this.loading = false;
		this.gen = 0;
		this.activeId = null;
		this.focusIdx = 0;
		this.rows = new Map(); // index -> element currently drawn
		this.raf = 0;
		this.offs = [];
		this.build();
		this.offs.push(on('conv', (c) => this.upsert(c)), on('reload', () => this.load()),
			on('refs', () => this.fillChannels()));
	}

	build() {
		const tabs = h('div.tabs', { role: 'group', 'aria-label': 'View' },
			['mine', 'unassigned', 'all'].map((v) => h('button.tab', {
				type: 'button', 'data-view': v, 'aria-pressed': String(v === this.view),
				on: { click: () => this.setView(v) },
			}, { mine: 'Mine', unassigned: 'Unassigned', all: 'All' }[v])));
		this.tabs = tabs;
		this.statusSel = h('select#inbox-status', { on: { change: () => {
			this.status = this.statusSel.value;
			sessionStorage.setItem('sb.status', this.status);
			this.load();
		} } }, ['open', 'pending', 'snoozed', 'closed', 'all'].map((s) => h('option', { value: s, selected: s === this.status }, s[0].toUpperCase() + s.slice(1))));
		this.chanSel = h('select#inbox-channel', { on: { change: () => {
			this.channel = this.chanSel.value;
			this.load();
		} } });
		this.fillChannels();
		let t = 0;
		this.search = h('input#inbox-search', { type: 'search', placeholder: 'Search name, number, text', on: { input: () => {
			clearTimeout(t);
			t = setTimeout(() => {
				this.q = this.search.value.trim();
				this.load();
			}, 250);
		} } });
		this.count = h('p.inbox-count.muted', { 'aria-live': 'polite' });
		this.spacer = h('div.inbox-spacer');
		this.scroller = h('div.inbox-scroll', {
			role: 'listbox', tabindex: '0', 'aria-label': 'Conversations',
			on: {
				scroll: () => this.schedule(), keydown: (e) => this.key(e), focus: () => this.showFocus(),
				pointerdown: (e) => this.press(e), pointerup: (e) => this.release(e), click: (e) => this.click(e),
			},
		}, this.spacer);
		this.empty = h('p.empty', { hidden: true }, 'No conversations here.');
		this.el = h('section.inbox', { 'aria-label': 'Inbox' },
			h('h2.sr-only', 'Inbox'),
			tabs,
			h('div.filters',
				h('label.sr-only', { for: 'inbox-status' }, 'Status'), this.statusSel,
				h('label.sr-only', { for: 'inbox-channel' }, 'Channel'), this.chanSel),
			h('div.searchbox', h('label.sr-only', { for: 'inbox-search' }, 'Search conversations'), this.search),
			this.count, this.empty, this.scroller);
		this.ro = new ResizeObserver(() => this.schedule());
		this.ro.observe(this.scroller);
	}

	fillChannels() {
		const cur = this.channel;
		fill(this.chanSel, h('option', { value: '' }, 'All channels'),
			S.channels.map((c) => h('option', { value: String(c.id), selected: String(c.id) === cur }, c.name)));
	}

	destroy() {
		this.offs.forEach((f) => f());
		this.ro.disconnect();
		this.gen++;
	}

	setView(v) {
		this.view = v;
		sessionStorage.setItem('sb.view', v);
		for (const b of this.tabs.children) b.setAttribute('aria-pressed', String(b.dataset.view === v));
		this.load();
	}

	params(cursor) {
		// hub bug: query values are URL-decoded twice, so a '+' would turn into a space
		const q = this.q.replace(/^\+/, '');
		return qs({ status: this.status, assignee: this.view === 'mine' ? 'me' : this.view, channel: this.channel, q, cursor, limit: PAGE });
	}

	async load() {
		const gen = ++this.gen;
		this.loading = true;
		this.count.textContent = 'Loading…';
		try {
			const r = await get(`/conversations${this.params()}`);
			if (gen !== this.gen) return;
			this.items = [];
			this.ids.clear();
			this.append(r);
			this.scroller.scrollTop = 0;
			this.focusIdx = 0;
			this.dirty = true; // rows drawn for the previous list are stale
			this.renderNow();
			performance.mark('sb-inbox-rendered');
		} catch (e) {
			if (gen === this.gen) this.count.textContent = `Could not load conversations: ${e.message}`;
		} finally {
			if (gen === this.gen) this.loading = false;
		}
	}

	async more() {
		if (this.loading || !this.cursor) return;
		const gen = this.gen;
		this.loading = true;
		try {
			const r = await get(`/conversations${this.params(this.cursor)}`);
			if (gen !== this.gen) return;
			this.append(r);
			this.schedule();
		} catch {
			/* retried on the next scroll */
		} finally {
			if (gen === this.gen) this.loading = false;
		}
	}

	append(r) {
		for (const c of r.conversations) {
			const m = mergeConv(c);
			if (this.ids.has(c.id)) continue;
			this.ids.add(c.id);
			this.items.push(m);
		}
		this.cursor = r.next_cursor;
		this.updateCount();
	}

	updateCount() {
		const n = this.items.length;
		this.count.textContent = `${n}${this.cursor ? '+' : ''} conversation${n === 1 ? '' : 's'}`;
		this.empty.hidden = n !== 0;
	}

	matches(c) {
		if (this.status !== 'all' && c.status !== this.status) return false;
		if (this.view === 'mine' && c.assignee_id !== S.me.id) return false;
		if (this.view === 'unassigned' && c.assignee_id != null) return false;
		if (this.channel && String(c.channel_id) !== this.channel) return false;
		if (this.q) {
			const q = this.q.toLowerCase();
			const hay = `${c.contact?.name || ''} ${c.contact?.phone || ''} ${c.last_message?.body || ''}`.toLowerCase();
			if (!hay.includes(q.replace(/^\+/, ''))) return false;
		}
		return true;
	}

	// A conversation changed (event or local action): drop it, then put it back where it sorts.
	upsert(c) {
		const had = this.ids.has(c.id);
		if (had) {
			const i = this.items.findIndex((x) => x.id === c.id);
			if (i >= 0) this.items.splice(i, 1);
			this.ids.delete(c.id);
		}
		if (this.matches(c)) {
			let lo = 0, hi = this.items.length;
			while (lo < hi) {
				const mid = (lo + hi) >> 1;
				if (convCmp(this.items[mid], c) < 0) lo = mid + 1;
				else hi = mid;
			}
			// past the loaded pages: the next page will bring it
			if (lo < this.items.length || !this.cursor) {
				this.items.splice(lo, 0, c);
				this.ids.add(c.id);
			}
		}
		if (had || this.ids.has(c.id)) {
			this.updateCount();
			this.schedule(true);
		}
	}

	setActive(id) {
		this.activeId = id;
		this.schedule(true);
	}

	// On the next frame, or after 50 ms if the window gets no frames (hidden or covered).
	schedule(dirty) {
		if (dirty) this.dirty = true;
		if (this.raf) return;
		const run = () => {
			if (!this.raf) return;
			cancelAnimationFrame(this.raf);
			clearTimeout(this.rafTimer);
			this.raf = 0;
			this.renderNow();
		};
		this.raf = requestAnimationFrame(run);
		this.rafTimer = setTimeout(run, 50);
	}

	renderNow() {
		const n = this.items.length;
		this.spacer.style.height = `${n * ROW}px`;
		const top = this.scroller.scrollTop;
		const vh = this.scroller.clientHeight || 600;
		const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
		const last = Math.min(n - 1, Math.ceil((top + vh) / ROW) + OVERSCAN);
		const keep = new Map();
		const dirty = this.dirty;
		this.dirty = false;
		for (const [i, el] of this.rows) {
			if (i < first || i > last || dirty) el.remove();
			else keep.set(i, el);
		}
		this.rows = keep;
		const frag = document.createDocumentFragment();
		for (let i = first; i <= last; i++) {
			if (this.rows.has(i)) continue;
			const el = this.row(this.items[i], i);
			this.rows.set(i, el);
			frag.append(el);
		}
		this.spacer.append(frag);
		this.markFocus();
		if (last >= n - 20 && this.cursor && !this.loading) this.more();
	}

	row(c, i) {
		const lm = c.last_message;
		const prefix = lm ? (lm.kind === 'note' ? 'Note: ' : lm.direction === 'out' ? 'You: ' : '') : '';
		const el = h('div.conv-row', {
			id: `conv-opt-${c.id}`, role: 'option', 'data-id': c.id, 'data-index': i,
			'aria-posinset': i + 1, 'aria-setsize': this.cursor ? -1 : this.items.length,
			'aria-selected': String(c.id === this.activeId),
			class: `conv-row${c.unread ? ' unread' : ''}${c.id === this.activeId ? ' active' : ''}${i === this.focusIdx ? ' focused' : ''}`,
		},
		h('div.conv-line',
			h('span.conv-name', convTitle(c)),
			h('time.conv-time', { datetime: c.last_activity_at || '' }, fmtTime(c.last_activity_at))),
		h('div.conv-line',
			h('span.conv-preview', prefix + (lm ? lm.body : '')),
			c.unread ? h('span.badge', { 'aria-label': `${c.unread} unread` }, String(c.unread)) : null),
		h('div.conv-line.conv-meta',
			h('span.chip', { 'data-status': c.status }, c.status),
			h('span.muted', agentName(c.assignee_id))));
		el.style.transform = `translateY(${i * ROW}px)`;
		return el;
	}

	// A row opens on the release of a press that began on the same conversation, matched by
	// id: the row under the pointer may have been redrawn in between (a live update), and the
	// browser then fires no click at all, as the press and the release hit different elements.
	// The click handler stays for clicks without a pointer (assistive technology, el.click()).
	press(e) {
		const r = e.button === 0 ? e.target.closest('.conv-row') : null;
		this.pressed = r ? r.dataset.id : null;
	}

	release(e) {
		const id = this.pressed;
		this.pressed = null;
		const r = e.target.closest('.conv-row');
		if (id && e.button === 0 && r && r.dataset.id === id) this.open(r);
	}

	click(e) {
		const r = e.target.closest('.conv-row');
		if (r) this.open(r);
	}

	open(r) {
		this.focusIdx = Number(r.dataset.index);
		this.markFocus();
		location.hash = `#/c/${r.dataset.id}`; // the same hash twice is no second navigation
	}

	// The focus ring moves between the rows drawn, without redrawing them (a redraw between a
	// press and its release would lose the click).
	markFocus() {
		for (const [i, el] of this.rows) el.classList.toggle('focused', i === this.focusIdx);
		const cur = this.rows.get(this.focusIdx);
		if (cur) this.scroller.setAttribute('aria-activedescendant', cur.id);
		else this.scroller.removeAttribute('aria-activedescendant');
	}

	showFocus() {
		if (this.focusIdx >= this.items.length) this.focusIdx = 0;
		this.markFocus();
	}

	key(e) {
		const n = this.items.length;
		if (!n) return;
		let i = this.focusIdx;
		const page = Math.max(1, Math.floor(this.scroller.clientHeight / ROW) - 1);
		switch (e.key) {
		case 'ArrowDown': i = Math.min(n - 1, i + 1); break;
		case 'ArrowUp': i = Math.max(0, i - 1); break;
		case 'PageDown': i = Math.min(n - 1, i + page); break;
		case 'PageUp': i = Math.max(0, i - page); break;
		case 'Home': i = 0; break;
		case 'End': i = n - 1; break;
		case 'Enter':
		case ' ':
			e.preventDefault();
			S.focusConv = true; // opened from the keyboard: focus moves to the conversation
			if (location.hash === `#/c/${this.items[i].id}`) emit('focus-conv');
			location.hash = `#/c/${this.items[i].id}`;
			return;
		default: return;
		}
		e.preventDefault();
		this.focusIdx = i;
		const top = i * ROW, st = this.scroller.scrollTop, vh = this.scroller.clientHeight;
		if (top < st) this.scroller.scrollTop = top;
		else if (top + ROW > st + vh) this.scroller.scrollTop = top + ROW - vh;
		this.markFocus();
		this.schedule(); // draws the rows scrolled into view, then marks the focus on them
	}
}
