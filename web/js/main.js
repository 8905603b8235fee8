// Switchboard agents' console: boot, login, the shell (header, connection state, presence),
// the router (#/, #/c/ID, #/settings, #/simulator) and the live event dispatch.
import { api, get, post, setCsrf, onUnauthenticated, ApiError } from './api.js';
import { h, fill, clear, toast, field, announce } from './dom.js';
import { S, emit, on, mergeConv, totalUnread, convTitle, isAdmin } from './state.js';
import { Live } from './live.js';
import { Inbox } from './inbox.js';
import { Conversation } from './conversation.js';
import { renderSettings } from './settings.js';
import { renderSimulator } from './simulator.js';

const app = document.getElementById('app');
let shell = null;

/* ---- login ---- */

function renderLogin(message) {
	if (S.live) S.live.stop();
	S.live = null;
	shell = null;
	document.title = 'Sign in · Switchboard';
	const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
	const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
	const err = h('p.error#login-error', { role: 'alert' }, message || '');
	const btn = h('button.primary', { type: 'submit' }, 'Sign in');
	const form = h('form.login-card', { 'aria-labelledby': 'login-title', novalidate: true },
		h('h1#login-title', 'Switchboard'),
		h('p.muted', 'Sign in to your team inbox'),
		field('Email', email), field('Password', password), err, btn);
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		err.textContent = '';
		if (!email.value || !password.value) {
			err.textContent = 'Enter your email and password.';
			(email.value ? password : email).focus();
			return;
		}
		btn.disabled = true;
		btn.textContent = 'Signing in…';
		try {
			const r = await post('/auth/login', { email: email.value.trim(), password: password.value });
			setCsrf(r.csrf_token);
			sessionStorage.removeItem('sb.seq');
			await startSession({ agent: r.agent, tenant_id: r.tenant_id });
			// the form is gone: the focus goes to the start of the content, not to the page's end
			if (!document.activeElement || document.activeElement === document.body) document.getElementById('main')?.focus();
		} catch (ex) {
			btn.disabled = false;
			btn.textContent = 'Sign in';
			if (ex.status === 401 || ex.status === 400 || ex.status === 403) err.textContent = 'Wrong email or password.';
			else err.textContent = ex.message;
			password.select();
			password.focus();
		}
	});
	fill(app, h('main.login#main', form));
	email.focus();
}

/* ---- session ---- */

async function loadRefs() {
	const [agents, channels, canned] = await Promise.all([
		get('/agents').catch(() => ({ agents: [] })),
		get('/channels').catch(() => ({ channels: [] })),
		get('/canned-responses').catch(() => ({ canned_responses: [] })),
	]);
	S.agents = new Map(agents.agents.map((a) => [a.id, a]));
	if (S.me) S.agents.set(S.me.id, { ...S.agents.get(S.me.id), ...S.me });
	S.channels = channels.channels;
	S.canned = canned.canned_responses;
	emit('refs');
}

async function startSession(me) {
	S.me = me.agent;
	S.tenantId = me.tenant_id;
	await loadRefs();
	S.live = new Live();
	S.live.addEventListener('state', (e) => emit('conn', e.detail));
	let first = true;
	const welcomed = new Promise((res) => {
		S.live.addEventListener('welcome', (e) => {
			if (!first && e.detail.resume === 'reload') emit('reload');
			first = false;
			res();
		});
		setTimeout(res, 3000); // no socket yet: show the lists anyway, resume catches up later
	});
	S.live.addEventListener('event', (e) => onEvent(e.detail));
	S.live.addEventListener('presence', (e) => {
		S.presence = new Map(e.detail.agents.map((a) => [a.id, a]));
		for (const [aid] of S.viewing) if (!S.presence.get(aid)?.online) S.viewing.delete(aid);
		emit('presence');
	});
	S.live.addEventListener('typing', (e) => onTyping(e.detail));
	S.live.addEventListener('viewing', (e) => {
		S.viewing.set(e.detail.agent_id, e.detail.conversation_id);
		emit('viewing');
	});
	S.live.addEventListener('ended', () => renderLogin('Your session ended. Please sign in again.'));
	renderShell();
	S.live.start();
	await welcomed; // lists load after the socket's seq is pinned, so no event falls between
	route();
}

function onTyping(t) {
	if (t.agent_id === S.me.id) return;
	let m = S.typing.get(t.conversation_id);
	if (!m) S.typing.set(t.conversation_id, (m = new Map()));
	clearTimeout(m.get(t.agent_id));
	if (t.on) m.set(t.agent_id, setTimeout(() => {
		m.delete(t.agent_id);
		emit('typing', t.conversation_id);
	}, 6000));
	else m.delete(t.agent_id);
	emit('typing', t.conversation_id);
}

const fetching = new Set();
function fetchConv(id) {
	if (fetching.has(id)) return;
	fetching.add(id);
	get(`/conversations/${id}`)
		.then((conv) => emit('conv', mergeConv(conv)))
		.catch(() => { /* gone or not ours: nothing to show */ })
		.finally(() => fetching.delete(id));
}

function onEvent(ev) {
	const d = ev.data;
	switch (ev.event) {
	case 'message.created': {
		const c = S.convs.get(d.conversation_id);
		// a conversation this tab has not loaded (far down the list): fetch it once, so it
		// rises to the top like the others (the hub sends no conversation.updated for an
		// ordinary new message; its message.created is enough for loaded conversations)
		if (!c) fetchConv(d.conversation_id);
		if (c && (!c.last_message || c.last_message.id < d.id)) {
			c.last_message = { id: d.id, body: d.body, direction: d.direction, kind: d.kind, created_at: d.created_at };
			if (d.kind === 'message' && (!c.last_activity_at || d.created_at > c.last_activity_at)) c.last_activity_at = d.created_at;
			if (d.kind === 'message' && d.direction === 'in') c.unread = (c.unread || 0) + 1;
			emit('conv', c);
		}
		if (d.kind === 'message' && d.direction === 'in') notify(d);
		emit('message', d);
		break;
	}
	case 'message.updated':
		emit('message-status', d);
		break;
	case 'conversation.created':
	case 'conversation.updated':
		emit('conv', mergeConv(d));
		break;
	case 'conversation.read':
		if (d.agent_id === S.me.id) {
			const c = S.convs.get(d.conversation_id);
			if (c) {
				c.unread = 0;
				emit('conv', c);
			}
		}
		break;
	case 'contact.created':
	case 'contact.updated':
		for (const c of S.convs.values()) {
			if (c.contact && c.contact.id === d.id) {
				c.contact = { ...c.contact, name: d.name, phone: d.phone };
				emit('conv', c);
			}
		}
		emit('contact', d);
		break;
	case 'agent.updated':
		S.agents.set(d.id, { ...S.agents.get(d.id), ...d });
		if (d.id === S.me.id) S.me = { ...S.me, ...d };
		emit('refs');
		break;
	default:
		break;
	}
	updateTitle();
}

function notify(m) {
	if (!document.hidden || !('Notification' in window) || Notification.permission !== 'granted') return;
	const c = S.convs.get(m.conversation_id);
	if (c && c.assignee_id != null && c.assignee_id !== S.me.id) return;
	try {
		const n = new Notification(`New message from ${c ? convTitle(c) : 'a customer'}`, { body: m.body.slice(0, 140), tag: `conv-${m.conversation_id}` });
		n.onclick = () => {
			window.focus();
			location.hash = `#/c/${m.conversation_id}`;
			n.close();
		};
	} catch { /* notifications unavailable */ }
}

let titleTimer = null;
function updateTitle() {
	if (titleTimer) return;
	titleTimer = setTimeout(() => { /* a timer: a hidden tab gets no animation frames */
		titleTimer = null;
		const n = totalUnread();
		document.title = `${n ? `(${n}) ` : ''}Switchboard`;
	});
}

/* ---- shell ---- */

function renderShell() {
	// the state is shown here and said through the announcer (one live region, no doubles)
	const conn = h('span.conn', { 'data-state': 'connecting' }, 'Connecting…');
	const presence = h('ul.presence', { 'aria-label': 'Agents online' });
	const nav = h('nav.nav', { 'aria-label': 'Main' },
		h('a', { href: '#/' }, 'Inbox'),
		isAdmin() ? h('a', { href: '#/settings' }, 'Settings') : null,
		h('a', { href: '#/simulator' }, 'Simulator'));
	const notifBtn = ('Notification' in window && Notification.permission === 'default')
		? h('button.link', { type: 'button', on: { click: async (e) => {
			await Notification.requestPermission();
			e.target.remove();
		} } }, 'Enable notifications') : null;
	const logout = h('button.link#logout', { type: 'button', on: { click: doLogout } }, 'Sign out');
	const header = h('header.topbar', h('span.brand', 'Switchboard'), nav, h('div.spacer'), conn, presence, notifBtn,
		h('span.who', S.me.name || S.me.email), logout);
	const main = h('main.main#main', { tabindex: '-1' });
	fill(app, header, main);
	const labels = { live: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline', connecting: 'Connecting…' };
	let said = null;
	on('conn', (s) => {
		conn.dataset.state = s;
		conn.textContent = labels[s] || s;
		// the first "Live" after sign-in is no news; every change after it is
		if (said !== null || s !== 'live') announce(`Connection: ${labels[s] || s}`);
		said = s;
	});
	const drawPresence = () => {
		clear(presence);
		for (const a of S.presence.values()) {
			if (!a.online) continue;
			presence.append(h('li.avatar', { title: `${a.name} is online` }, h('span.sr-only', `${a.name} online`), h('span', { 'aria-hidden': 'true' }, initials(a.name))));
		}
	};
	on('presence', drawPresence);
	shell = { main, inbox: null, conv: null };
}

function initials(n) {
	return (n || '?').split(/\s+/).map((w) => w[0]).join('').slice(0, 2).toUpperCase();
}

async function doLogout() {
	try {
		await post('/auth/logout');
	} catch { /* gone anyway */ }
	setCsrf(null);
	S.convs.clear();
	renderLogin('You are signed out.');
}

/* ---- router ---- */

function route() {
	if (!shell) return;
	const hash = location.hash || '#/';
	const main = shell.main;
	let m;
	if ((m = hash.match(/^#\/settings(?:\/(\w+))?/))) {
		teardownInbox();
		fill(main, renderSettings(m[1] || 'agents', loadRefs));
		return;
	}
	if (hash.startsWith('#/simulator')) {
		teardownInbox();
		fill(main, renderSimulator());
		return;
	}
	if (!shell.inbox) {
		clear(main);
		shell.inbox = new Inbox();
		shell.conv = new Conversation();
		main.append(h('div.workspace', shell.inbox.el, shell.conv.el));
		shell.inbox.load();
	}
	const ws = main.firstChild;
	if ((m = hash.match(/^#\/c\/(\d+)/))) {
		ws.classList.add('has-conv');
		shell.inbox.setActive(Number(m[1]));
		shell.conv.open(Number(m[1]));
	} else {
		const was = ws.classList.contains('has-conv');
		ws.classList.remove('has-conv');
		shell.inbox.setActive(null);
		shell.conv.close();
		// back from a conversation (narrow screens hide the inbox): focus goes back to the list
		if (was && (!document.activeElement || document.activeElement === document.body)) shell.inbox.scroller.focus({ preventScroll: true });
	}
}

function teardownInbox() {
	if (shell.inbox) {
		shell.inbox.destroy();
		shell.conv.destroy();
	}
	shell.inbox = shell.conv = null;
}

addEventListener('hashchange', route);
addEventListener('focus', () => {
	if (shell && shell.conv) shell.conv.markReadIfVisible();
});
document.addEventListener('visibilitychange', () => {
	if (!document.hidden && shell && shell.conv) shell.conv.markReadIfVisible();
});

onUnauthenticated(() => {
	if (shell) renderLogin('Your session expired. Please sign in again.');
});

async function boot() {
	try {
		const me = await get('/me');
		setCsrf(me.csrf_token);
		await startSession(me);
	} catch (e) {
		renderLogin(e instanceof ApiError && e.status !== 401 ? e.message : '');
	}
}

boot();
export { api };
