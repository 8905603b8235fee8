// The one agent WebSocket of this tab (docs/PROTOCOL.md, sb-agent.v1): hello with the last seq
// seen, dedupe by seq, reconnect with backoff, heartbeat, and a visible state.
const SEQ_KEY = 'sb.seq';

export class Live extends EventTarget {
	constructor() {
		super();
		const s = sessionStorage.getItem(SEQ_KEY);
		this.lastSeq = s === null ? null : Number(s);
		this.ws = null;
		this.state = 'connecting';
		this.attempt = 0;
		this.timer = null;
		this.stopped = false;
		this.pingTimer = null;
		this.pongDeadline = null;
		this.onOnline = () => this.connectNow();
		this.onOffline = () => {
			this.setState('offline');
			this.drop();
		};
		addEventListener('online', this.onOnline);
		addEventListener('offline', this.onOffline);
	}

	setState(s) {
		if (this.state === s) return;
		this.state = s;
		this.dispatchEvent(new CustomEvent('state', { detail: s }));
	}

	start() {
		this.stopped = false;
		this.connect();
	}

	stop() {
		this.stopped = true;
		clearTimeout(this.timer);
		clearInterval(this.pingTimer);
		removeEventListener('online', this.onOnline);
		removeEventListener('offline', this.onOffline);
		if (this.ws) {
			this.ws.onclose = null;
			this.ws.close(1000);
		}
		this.ws = null;
		sessionStorage.removeItem(SEQ_KEY);
	}

	// Close the current socket (if any) without waiting for the browser to notice.
	drop() {
		const ws = this.ws;
		this.ws = null;
		clearInterval(this.pingTimer);
		if (ws) {
			ws.onclose = ws.onmessage = ws.onerror = null;
			try {
				ws.close();
			} catch { /* already closed */ }
		}
		this.schedule();
	}

	connectNow() {
		clearTimeout(this.timer);
		this.attempt = 0;
		if (!this.ws) this.connect();
	}

	schedule() {
		if (this.stopped) return;
		clearTimeout(this.timer);
		if (!navigator.onLine) {
			this.setState('offline');
			return; // the 'online' event reconnects
		}
		this.setState('reconnecting');
		const base = Math.min(10000, 300 * 2 ** this.attempt++);
		this.timer = setTimeout(() => this.connect(), base / 2 + Math.random() * base / 2);
	}

	connect() {
		if (this.stopped || this.ws) return;
		if (!navigator.onLine) return this.schedule();
		const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
		let ws;
		try {
			ws = new WebSocket(url, 'sb-agent.v1');
		} catch {
			return this.schedule();
		}
		this.ws = ws;
		ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', last_seq: this.lastSeq }));
		ws.onmessage = (e) => this.frame(e.data);
		ws.onerror = () => { /* onclose follows */ };
		ws.onclose = (e) => {
			if (this.ws !== ws) return;
			this.ws = null;
			clearInterval(this.pingTimer);
			if (e.code === 4001 || e.code === 4003) {
				this.setState('offline');
				this.dispatchEvent(new CustomEvent('ended', { detail: e.code }));
				return;
			}
			this.schedule();
		};
	}

	send(obj) {
		if (this.ws && this.ws.readyState === 1 && this.state === 'live') {
			this.ws.send(JSON.stringify(obj));
			return true;
		}
		return false;
	}

	heartbeat() {
		clearInterval(this.pingTimer);
		this.pingTimer = setInterval(() => {
			if (!this.ws) return;
			if (this.pongDeadline && Date.now() > this.pongDeadline) {
				this.drop(); // no pong: the path is dead even if the browser has not noticed
				return;
			}
			if (!this.pongDeadline) this.pongDeadline = Date.now() + 8000;
			this.send({ type: 'ping', id: Date.now() });
		}, 15000);
	}

	frame(text) {
		let m;
		try {
			m = JSON.parse(text);
		} catch {
			return;
		}
		switch (m.type) {
		case 'welcome': {
			const reload = m.resume === 'reload' || this.lastSeq === null;
			if (m.resume === 'reload' || this.lastSeq === null) this.setSeq(m.seq);
			this.attempt = 0;
			this.pongDeadline = null;
			this.setState('live');
			this.heartbeat();
			this.dispatchEvent(new CustomEvent('welcome', { detail: { ...m, reload } }));
			break;
		}
		case 'event':
			if (this.lastSeq !== null && m.seq <= this.lastSeq) return; // already seen
			this.setSeq(m.seq);
			this.dispatchEvent(new CustomEvent('event', { detail: m }));
			break;
		case 'pong':
			this.pongDeadline = null;
			break;
		default:
			this.dispatchEvent(new CustomEvent(m.type, { detail: m }));
		}
	}

	setSeq(s) {
		this.lastSeq = s;
		sessionStorage.setItem(SEQ_KEY, String(s));
	}
}
