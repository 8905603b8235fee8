// One conversation: the thread (inbound, outbound with live status, internal notes), composer
// (SMS segment count, canned responses with '/', note mode), assignment, status, snooze, the
// contact panel, typing and viewing indicators.
import { get, post, patch, qs } from './api.js';
import { h, fill, clear, toast, fmtTime, fmtFull, field, nextId } from './dom.js';
import { S, on, emit, mergeConv, convTitle, agentName } from './state.js';
import { countSegments } from './segments.js';

const STATUS_TEXT = {
	pending: 'Sending…', queued: 'Queued', sent: 'Sent', delivered: 'Delivered',
	undelivered: 'Not delivered', failed: 'Failed', received: 'Received',
};

export class Conversation {
	constructor() {
		this.id = null;
		this.gen = 0;
		this.msgs = new Map(); // id -> element
		this.statusById = new Map(); // id -> latest status update seen (may beat the REST answer)
		this.pendingByClient = new Map(); // client_id -> element
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
		];
		this.close();
	}

	destroy() {
		this.offs.forEach((f) => f());
		this.stopTyping();
		S.live?.send({ type: 'viewing', conversation_id: null });
	}

	close() {
		if (this.id) S.live?.send({ type: 'viewing', conversation_id: null });
		this.stopTyping();
		this.id = null;
		S.currentConv = null;
		fill(this.el, h('div.placeholder', h('p.muted', 'Pick a conversation from the inbox.')));
	}

	async open(id) {
		if (this.id === id) return;
		this.stopTyping();
		this.id = id;
		S.currentConv = id;
		const gen = ++this.gen;
		this.msgs.clear();
		this.statusById.clear();
		this.pendingByClient.clear();
		this.cursor = null;
		this.contact = null;
		this.build();
		S.live?.send({ type: 'viewing', conversation_id: id });
		try {
			const [c, page] = await Promise.all([get(`/conversations/${id}`), get(`/conversations/${id}/messages?limit=50`)]);
			if (gen !== this.gen) return;
			emit('conv', mergeConv(c));
			this.drawHeader();
			this.addMessages(page.messages, 'bottom');
			this.cursor = page.next_cursor;
			this.olderBtn.hidden = !this.cursor;
			this.thread.scrollTop = this.thread.scrollHeight;
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
		this.title = h('h2.conv-title');
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
		this.snoozeEl = snooze;
		this.viewingEl = h('p.viewing.muted', { 'aria-live': 'polite' });
		const back = h('a.back', { href: '#/' }, '← Inbox');
		const header = h('header.conv-head',
			back,
			h('div.conv-ident', this.title, this.sub, this.viewingEl),
			h('div.conv-actions',
				field('Assignee', this.assignSel),
				field('Status', this.statusSel),
				snooze));
		this.olderBtn = h('button.link.older', { type: 'button', hidden: true, on: { click: () => this.loadOlder() } }, 'Load earlier messages');
		this.list = h('ol.messages');
		this.thread = h('div.thread', { role: 'log', 'aria-label': 'Messages', 'aria-busy': 'true', tabindex: '0', on: { scroll: () => {
			if (this.thread.scrollTop < 300 && this.cursor && !this.loadingOlder) this.loadOlder();
		} } }, this.olderBtn, this.list);
		this.typingEl = h('p.typing', { 'aria-live': 'polite' });
		this.buildComposer();
		this.contactEl = h('aside.contact-panel', { 'aria-label': 'Contact' });
		fill(this.el, h('div.conv-main', header, this.thread, this.typingEl, this.composer), this.contactEl);
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

	/* ---- thread ---- */

	addMessages(list, where) {
		const frag = document.createDocumentFragment();
		const sorted = [...list].sort((a, b) => a.id - b.id);
		for (const m of sorted) {
			if (this.msgs.has(m.id)) continue;
			frag.append(this.msgEl(m));
		}
		if (where === 'top') this.list.prepend(frag);
		else this.list.append(frag);
	}

	async loadOlder() {
		if (!this.cursor || this.loadingOlder) return;
		this.loadingOlder = true;
		const gen = this.gen;
		try {
			const page = await get(`/conversations/${this.id}/messages${qs({ before: this.cursor, limit: 100 })}`);
			if (gen !== this.gen) return;
			const before = this.thread.scrollHeight - this.thread.scrollTop;
			this.addMessages(page.messages, 'top');
			this.thread.scrollTop = this.thread.scrollHeight - before;
			this.cursor = page.next_cursor;
			this.olderBtn.hidden = !this.cursor;
		} catch (e) {
			toast(`Could not load earlier messages: ${e.message}`, 'error');
		} finally {
			this.loadingOlder = false;
		}
	}

	msgEl(m) {
		const kind = m.kind === 'note' ? 'note' : m.direction === 'out' ? 'out' : 'in';
		const who = kind === 'in' ? (convTitle(this.conv() || { contact: {} }) || 'Customer') : agentName(m.author_agent_id);
		const el = h('li.msg', { class: `msg msg-${kind}`, 'data-id': m.id ?? '', 'data-client-id': m.client_id || '' },
			kind === 'note' ? h('span.msg-label', 'Internal note') : null,
			h('p.msg-body', m.body),
			h('p.msg-meta', h('span.sr-only', kind === 'in' ? 'Received from ' : kind === 'out' ? 'Sent by ' : 'Note by '),
				h('span.msg-who', who), ' · ', h('time', { datetime: m.created_at || '' }, fmtTime(m.created_at))));
		if (kind === 'out') el.append(h('p.msg-status'));
		if (m.id) this.msgs.set(m.id, el);
		if (m.client_id) this.pendingByClient.set(m.client_id, el);
		if (kind === 'out') this.drawStatus(el, m);
		return el;
	}

	drawStatus(el, m) {
		const st = el.querySelector('.msg-status');
		if (!st) return;
		el.dataset.status = m.status;
		fill(st, h('span.status', { 'data-status': m.status }, STATUS_TEXT[m.status] || m.status));
		if (m.status === 'failed' || m.status === 'undelivered') {
			const reason = [m.status_reason || 'The carrier refused the message.', m.status_code ? `(error ${m.status_code})` : ''].join(' ');
			st.append(h('span.reason', reason), h('button.retry', { type: 'button', on: { click: () => this.retry(m.id, el) } }, 'Retry'));
		}
	}

	onMessage(m) {
		if (m.conversation_id !== this.id) return;
		if (this.msgs.has(m.id)) return;
		const pend = m.client_id && this.pendingByClient.get(m.client_id);
		if (pend) {
			pend.dataset.id = m.id;
			this.msgs.set(m.id, pend);
			if (m.kind !== 'note') this.drawStatus(pend, m);
			return;
		}
		const atBottom = this.thread.scrollHeight - this.thread.scrollTop - this.thread.clientHeight < 80;
		this.list.append(this.msgEl(m));
		if (atBottom || m.author_agent_id === S.me.id) this.thread.scrollTop = this.thread.scrollHeight;
		if (m.direction === 'in') this.markReadIfVisible();
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
		const el = this.msgs.get(u.id);
		if (el) this.drawStatus(el, u);
	}

	async retry(id, el) {
		try {
			const m = await post(`/messages/${id}/retry`);
			this.drawStatus(el, m);
		} catch (e) {
			toast(`Retry failed: ${e.message}`, 'error');
		}
	}

	/* ---- composer ---- */

	buildComposer() {
		const rid = nextId('mode');
		this.mode = 'reply';
		const modeBtn = (m, label) => h('label.mode', h('input', { type: 'radio', name: rid, value: m, checked: m === 'reply', on: { change: () => this.setMode(m) } }), label);
		this.text = h('textarea#composer-text', { rows: '3', placeholder: 'Type a reply… ( / for canned responses)', 'aria-describedby': 'composer-count', on: {
			input: () => this.onInput(), keydown: (e) => this.onKey(e),
		} });
		this.counter = h('span.counter#composer-count', { 'aria-live': 'off' });
		this.err = h('p.error', { role: 'alert' });
		this.sendBtn = h('button.primary', { type: 'submit' }, 'Send');
		this.cannedList = h('ul.canned', { role: 'listbox', id: nextId('canned'), 'aria-label': 'Canned responses', hidden: true });
		this.composer = h('form.composer', { 'aria-label': 'Reply', on: { submit: (e) => {
			e.preventDefault();
			this.send();
		} } },
		h('fieldset.modes', h('legend.sr-only', 'Message type'), modeBtn('reply', 'Reply (SMS)'), modeBtn('note', 'Internal note')),
		h('label.sr-only', { for: 'composer-text' }, 'Message'),
		this.cannedList, this.text,
		h('div.composer-foot', this.counter, this.err, this.sendBtn));
		this.onInput();
	}

	setMode(m) {
		this.mode = m;
		this.composer.classList.toggle('note-mode', m === 'note');
		this.text.placeholder = m === 'note' ? 'Write an internal note (only agents see it)…' : 'Type a reply… ( / for canned responses)';
		this.sendBtn.textContent = m === 'note' ? 'Add note' : 'Send';
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
		const client_id = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
		const cid = this.id;
		this.stopTyping();
		const opt = { id: null, client_id, kind: note ? 'note' : 'message', direction: 'out', body, status: 'pending', created_at: new Date().toISOString(), author_agent_id: S.me.id };
		const el = this.msgEl(opt);
		el.classList.add('optimistic');
		this.list.append(el);
		this.thread.scrollTop = this.thread.scrollHeight;
		this.text.value = '';
		this.onInput();
		try {
			const m = await post(`/conversations/${cid}/${note ? 'notes' : 'messages'}`, { body, client_id });
			el.classList.remove('optimistic');
			if (cid !== this.id) return;
			if (this.msgs.has(m.id) && this.msgs.get(m.id) !== el) {
				el.remove(); // the event got here first and drew it
				return;
			}
			el.dataset.id = m.id;
			this.msgs.set(m.id, el);
			if (!note) this.drawStatus(el, this.statusById.get(m.id) || m);
		} catch (e) {
			el.remove();
			this.pendingByClient.delete(client_id);
			if (cid !== this.id) return;
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
			fill(this.contactEl, h('p.error', `Could not load the contact: ${e.message}`));
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
		fill(this.contactEl, h('h3', 'Contact'), form,
			h('h4', 'Other conversations'),
			others.length ? h('ul.other-convs', others.map((x) => h('li', h('a', { href: `#/c/${x.id}` }, `#${x.id} · ${x.status} · ${fmtTime(x.last_activity_at)}`)))) : h('p.muted', 'None'));
	}
}
