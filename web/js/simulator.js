// The SMS simulator for sandbox channels: play a customer's phone, text the business, see what
// the business sent back (with status), send STOP / START.
import { get, post } from './api.js';
import { h, fill, clear, toast, field, fmtTime } from './dom.js';
import { S } from './state.js';

let pollTimer = 0;

export function renderSimulator() {
	clearInterval(pollTimer);
	const sandboxes = S.channels.filter((c) => c.sandbox);
	if (!sandboxes.length) return h('section.simulator', h('h1', 'Simulator'), h('p', 'There is no sandbox channel. An admin can add one under Settings → Channels.'));
	const chan = h('select', sandboxes.map((c) => h('option', { value: String(c.id) }, `${c.name} (${c.sender || 'no sender'})`)));
	const phone = h('input', { type: 'tel', value: sessionStorage.getItem('sb.simphone') || '+14155550123', autocomplete: 'off' });
	const text = h('textarea#sim-text', { rows: '2', placeholder: 'Text the business…' });
	const err = h('p.error', { role: 'alert' });
	const log = h('ol.sim-log', { role: 'log', 'aria-label': 'Customer phone', 'aria-live': 'polite' });
	const send = async (body) => {
		err.textContent = '';
		if (!/^\+[0-9]{8,15}$/.test(phone.value.trim())) {
			err.textContent = 'Enter the customer number in E.164, like +14155550123.';
			phone.focus();
			return;
		}
		if (!body) return;
		try {
			await post(`/channels/${chan.value}/simulate`, { from: phone.value.trim(), body });
			sessionStorage.setItem('sb.simphone', phone.value.trim());
			if (body === text.value) text.value = '';
			refresh();
		} catch (e) {
			err.textContent = e.message;
		}
	};
	const form = h('form.sim-compose', { on: { submit: (e) => {
		e.preventDefault();
		send(text.value.trim());
	} } },
	h('label.sr-only', { for: 'sim-text' }, 'Message from the customer'), text,
	h('div.row', h('button.primary', { type: 'submit' }, 'Send as customer'),
		h('button', { type: 'button', on: { click: () => send('STOP') } }, 'Send STOP'),
		h('button', { type: 'button', on: { click: () => send('START') } }, 'Send START')), err);
	let last = '';
	async function refresh() {
		if (!log.isConnected) {
			clearInterval(pollTimer);
			return;
		}
		try {
			// hub bug: ?customer=+1… is decoded twice ('+' becomes a space), so filter here
			const r = await get(`/channels/${chan.value}/simulator`);
			const me = phone.value.trim();
			const msgs = r.messages.filter((m) => m.customer === me);
			const key = JSON.stringify(msgs.map((m) => [m.sid, m.status]));
			if (key === last) return;
			last = key;
			fill(log, msgs.length ? msgs.map((m) => h('li.sim-msg', { class: `sim-msg ${m.direction === 'from_customer' ? 'sim-mine' : 'sim-theirs'}`, 'data-sid': m.sid },
				h('p.msg-body', m.body),
				h('p.msg-meta', h('span', m.direction === 'from_customer' ? 'You → business' : 'Business → you'), ' · ', fmtTime(m.created_at), ' · ',
					h('span.status', { 'data-status': m.status }, m.status), m.error_code ? ` (error ${m.error_code})` : ''))) : h('li.muted', 'No messages with this number yet.'));
			log.scrollTop = log.scrollHeight;
		} catch (e) {
			err.textContent = e.message;
		}
	}
	chan.addEventListener('change', () => ((last = ''), refresh()));
	phone.addEventListener('change', () => ((last = ''), refresh()));
	pollTimer = setInterval(refresh, 1000);
	setTimeout(refresh);
	return h('section.simulator', h('h1', 'Simulator'),
		h('p.muted', 'Play a customer: messages you send here reach the business through the sandbox channel, and its replies appear below.'),
		h('div.sim-setup', field('Sandbox channel', chan), field('Customer phone number', phone)),
		h('div.phone', log, form));
}
