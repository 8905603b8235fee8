// Settings (owners and admins): agents, channels, canned responses, SMS help text.
import { get, post, patch, put, del } from './api.js';
import { h, fill, clear, toast, field, fmtFull } from './dom.js';
import { S } from './state.js';

const TABS = { agents: 'Agents', channels: 'Channels', canned: 'Canned responses', sms: 'SMS settings' };

export function renderSettings(tab, reloadRefs) {
	const body = h('div.settings-body');
	const nav = h('nav.settings-nav', { 'aria-label': 'Settings sections' },
		Object.entries(TABS).map(([k, v]) => h('a', { href: `#/settings/${k}`, 'aria-current': k === tab ? 'page' : null }, v)));
	const el = h('section.settings', h('h1', 'Settings'), nav, body);
	const fn = { agents, channels, canned, sms }[tab] || agents;
	fn(body, reloadRefs).catch((e) => body.append(h('p.error', { role: 'alert' }, e.message)));
	return el;
}

async function agents(body, reloadRefs) {
	const { agents: list } = await get('/agents');
	const owner = S.me.role === 'owner';
	const roles = owner ? ['owner', 'admin', 'agent'] : ['admin', 'agent'];
	const table = h('table.grid', h('caption.sr-only', 'Agents'),
		h('thead', h('tr', h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Email'), h('th', { scope: 'col' }, 'Role'), h('th', { scope: 'col' }, 'Active'))),
		h('tbody', list.map((a) => {
			const role = h('select', { 'aria-label': `Role of ${a.name || a.email}`, disabled: a.role === 'owner' && !owner, on: { change: async () => {
				try {
					await patch(`/agents/${a.id}`, { role: role.value });
					toast(`${a.email} is now ${role.value}`);
				} catch (e) {
					toast(e.message, 'error');
					role.value = a.role;
				}
			} } }, (roles.includes(a.role) ? roles : [a.role, ...roles]).map((r) => h('option', { value: r, selected: r === a.role }, r)));
			const active = h('input', { type: 'checkbox', checked: a.active, 'aria-label': `${a.name || a.email} active`, disabled: a.id === S.me.id, on: { change: async () => {
				try {
					await patch(`/agents/${a.id}`, { active: active.checked });
					toast(`${a.email} ${active.checked ? 'reactivated' : 'deactivated'}`);
					reloadRefs();
				} catch (e) {
					toast(e.message, 'error');
					active.checked = !active.checked;
				}
			} } });
			return h('tr', h('td', a.name || '—', a.invited ? h('span.chip', ' invited') : null), h('td', a.email), h('td', role), h('td', active));
		})));
	const email = h('input', { type: 'email', required: true });
	const name = h('input', { type: 'text' });
	const role = h('select', roles.map((r) => h('option', { value: r, selected: r === 'agent' }, r)));
	const out = h('div.invite-out', { 'aria-live': 'polite' });
	const form = h('form.card', { on: { submit: async (e) => {
		e.preventDefault();
		clear(out);
		try {
			const r = await post('/agents', { email: email.value.trim(), name: name.value.trim(), role: role.value });
			const tokenInput = h('input', { type: 'text', readonly: true, value: r.invite_token || '' });
			out.append(h('p', `Invitation created for ${email.value}. Send them this invite token:`), copyRow(tokenInput, 'Invite token'));
			await reloadRefs();
		} catch (ex) {
			out.append(h('p.error', { role: 'alert' }, ex.message));
		}
	} } }, h('h2', 'Invite an agent'), field('Email', email), field('Name', name), field('Role', role), h('button.primary', { type: 'submit' }, 'Invite'), out);
	fill(body, h('h2', 'Agents'), table, form);
}

function copyRow(input, label) {
	input.setAttribute('aria-label', label);
	return h('div.copy-row', input, h('button', { type: 'button', on: { click: async () => {
		input.select();
		try {
			await navigator.clipboard.writeText(input.value);
			toast('Copied');
		} catch {
			document.execCommand?.('copy');
		}
	} } }, `Copy ${label.toLowerCase()}`));
}

async function channels(body, reloadRefs) {
	const { channels: list } = await get('/channels');
	const cards = list.map((c) => {
		const hl = c.health || {};
		return h('article.card.channel', { 'aria-label': c.name },
			h('h3', c.name, ' ', c.sandbox ? h('span.chip', 'sandbox') : null, c.active ? null : h('span.chip', 'inactive')),
			h('p.muted', `${c.kind.toUpperCase()} · sender ${c.sender || '—'}`),
			h('h4', 'Webhook URLs'),
			copyRow(h('input', { type: 'text', readonly: true, value: c.webhook_urls?.inbound || '' }), 'Inbound URL'),
			copyRow(h('input', { type: 'text', readonly: true, value: c.webhook_urls?.status || '' }), 'Status callback URL'),
			h('h4', 'Health'),
			h('dl.health',
				h('dt', 'Last inbound'), h('dd', fmtFull(hl.last_inbound_at) || 'never'),
				h('dt', 'Last successful send'), h('dd', fmtFull(hl.last_send_ok_at) || 'never'),
				h('dt', 'Last error'), h('dd', hl.last_error ? `${hl.last_error} (${fmtFull(hl.last_error_at)})` : 'none')));
	});
	const name = h('input', { type: 'text', required: true });
	const from = h('input', { type: 'tel', placeholder: '+15005550006' });
	const sandbox = h('input', { type: 'checkbox', checked: true });
	const sid = h('input', { type: 'text', autocomplete: 'off' });
	const token = h('input', { type: 'password', autocomplete: 'new-password' });
	const creds = h('div.creds', { hidden: true }, field('Twilio Account SID', sid), field('Auth token', token));
	sandbox.addEventListener('change', () => (creds.hidden = sandbox.checked));
	const err = h('p.error', { role: 'alert' });
	const form = h('form.card', { on: { submit: async (e) => {
		e.preventDefault();
		err.textContent = '';
		const config = {};
		if (from.value.trim()) config.from = from.value.trim();
		if (!sandbox.checked) {
			config.account_sid = sid.value.trim();
			config.auth_token = token.value;
		}
		try {
			await post('/channels', { kind: 'sms', name: name.value.trim(), sandbox: sandbox.checked, config });
			toast('Channel created');
			await reloadRefs();
			channels(body, reloadRefs);
		} catch (ex) {
			err.textContent = ex.message;
		}
	} } }, h('h2', 'Add an SMS channel'), field('Name', name), field('Sender number', from, 'E.164, like +15005550006'),
	h('div.field.check', sandbox, h('label', { for: sandbox.id = 'chan-sandbox' }, 'Sandbox (simulated Twilio, no real messages)')),
	creds, err, h('button.primary', { type: 'submit' }, 'Create channel'));
	fill(body, h('h2', 'Channels'), list.length ? cards : h('p.muted', 'No channels yet.'), form);
}

async function canned(body, reloadRefs) {
	const { canned_responses: list } = await get('/canned-responses');
	const items = list.map((c) => {
		const sc = h('input', { type: 'text', value: c.shortcut });
		const title = h('input', { type: 'text', value: c.title || '' });
		const text = h('textarea', { rows: '3' });
		text.value = c.body;
		return h('form.card', { 'aria-label': `Canned response /${c.shortcut}`, on: { submit: async (e) => {
			e.preventDefault();
			try {
				await patch(`/canned-responses/${c.id}`, { shortcut: sc.value.trim(), title: title.value.trim(), body: text.value });
				toast('Saved');
				reloadRefs();
			} catch (ex) {
				toast(ex.message, 'error');
			}
		} } }, field('Shortcut', sc), field('Title', title), field('Text', text),
		h('div.row', h('button.primary', { type: 'submit' }, 'Save'), h('button.danger', { type: 'button', on: { click: async () => {
			if (!confirm(`Delete /${c.shortcut}?`)) return;
			try {
				await del(`/canned-responses/${c.id}`);
				await reloadRefs();
				canned(body, reloadRefs);
			} catch (ex) {
				toast(ex.message, 'error');
			}
		} } }, 'Delete')));
	});
	const sc = h('input', { type: 'text', required: true, placeholder: 'thanks' });
	const title = h('input', { type: 'text' });
	const text = h('textarea', { rows: '3', required: true });
	const err = h('p.error', { role: 'alert' });
	const form = h('form.card', { on: { submit: async (e) => {
		e.preventDefault();
		err.textContent = '';
		try {
			await post('/canned-responses', { shortcut: sc.value.trim().replace(/^\//, ''), title: title.value.trim(), body: text.value });
			toast('Canned response added');
			await reloadRefs();
			canned(body, reloadRefs);
		} catch (ex) {
			err.textContent = ex.message;
		}
	} } }, h('h2', 'New canned response'), field('Shortcut', sc, 'Type / and this in the composer'), field('Title', title), field('Text', text), err, h('button.primary', { type: 'submit' }, 'Add'));
	fill(body, h('h2', 'Canned responses'), items.length ? items : h('p.muted', 'None yet.'), form);
}

async function sms(body) {
	const s = await get('/settings');
	const help = h('textarea', { rows: '3' });
	help.value = s.sms_help_text || '';
	const auto = h('textarea', { rows: '3' });
	auto.value = s.auto_reply || '';
	const unified = h('input', { type: 'checkbox', id: 'set-unified', checked: !!s.unified_threads });
	const err = h('p.error', { role: 'alert' });
	const form = h('form.card', { on: { submit: async (e) => {
		e.preventDefault();
		err.textContent = '';
		try {
			await put('/settings', { sms_help_text: help.value, auto_reply: auto.value, unified_threads: unified.checked });
			toast('Settings saved');
		} catch (ex) {
			err.textContent = ex.message;
		}
	} } }, field('SMS help text (answer to HELP)', help), field('Auto-reply', auto),
	h('div.field.check', unified, h('label', { for: 'set-unified' }, 'One thread per contact across channels')),
	err, h('button.primary', { type: 'submit' }, 'Save'));
	fill(body, h('h2', 'SMS settings'), form);
}
