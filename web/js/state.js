// Shared state of the console: who I am, the tenant's agents, channels, canned responses, every
// conversation seen so far (by id), presence, typing and viewing; and a bus for live changes.
export const S = {
	me: null,
	tenantId: null,
	agents: new Map(),
	channels: [],
	canned: [],
	convs: new Map(),
	presence: new Map(), // agent id -> online
	typing: new Map(), // conversation id -> Map(agent id -> timer)
	viewing: new Map(), // agent id -> conversation id
	live: null,
	bus: new EventTarget(),
	currentConv: null,
};

export function emit(type, detail) {
	S.bus.dispatchEvent(new CustomEvent(type, { detail }));
}

export function on(type, fn) {
	const f = (e) => fn(e.detail);
	S.bus.addEventListener(type, f);
	return () => S.bus.removeEventListener(type, f);
}

export const isAdmin = () => S.me && (S.me.role === 'owner' || S.me.role === 'admin');

export function agentName(id) {
	if (id == null) return 'Unassigned';
	if (S.me && id === S.me.id) return 'Me';
	const a = S.agents.get(id);
	return a ? a.name || a.email : `Agent ${id}`;
}

export function convTitle(c) {
	const ct = c.contact || {};
	return ct.name || ct.phone || `Conversation ${c.id}`;
}

// Newest activity first; ties by id, newest first.
export function convCmp(a, b) {
	const x = a.last_activity_at || '', y = b.last_activity_at || '';
	if (x !== y) return x < y ? 1 : -1;
	return b.id - a.id;
}

// Merge a conversation from REST or an event into the known set; keeps the local unread count
// when the payload has none (events carry no per-agent unread).
export function mergeConv(c) {
	const old = S.convs.get(c.id);
	const m = { ...(old || {}), ...c };
	if (c.unread === undefined) m.unread = old ? old.unread || 0 : (c.last_message && c.last_message.direction === 'in' ? 1 : 0);
	if (old && old.last_message && c.last_message && old.last_message.id > c.last_message.id) {
		m.last_message = old.last_message;
		m.last_activity_at = old.last_activity_at > c.last_activity_at ? old.last_activity_at : c.last_activity_at;
	}
	S.convs.set(c.id, m);
	return m;
}

export function totalUnread() {
	let n = 0;
	for (const c of S.convs.values()) n += c.unread || 0;
	return n;
}
