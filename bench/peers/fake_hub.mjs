// SPDX-License-Identifier: MIT
// A protocol-shaped stand-in for hubd, only to check sbload's hub adapter and sbwebhook
// end to end before the hub exists: /ws speaks sb-agent.v1 (subprotocol, sb_session
// cookie and Origin checked before the upgrade, hello answered with welcome), and every
// POST /webhooks/sms/<key> becomes a message.created event broadcast to every socket.
// No signature check, no store: it is not a hub. Listens on 127.0.0.1 only.
// usage: node fake_hub.mjs --port PORT [--origin ORIGIN]
import http from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { WebSocketServer, WebSocket } =
	require(require.resolve('ws', { paths: [here, path.join(here, '..', '..', 'tests')] }));

const args = process.argv.slice(2);
const opt = (n, d) => (args.indexOf(n) >= 0 ? args[args.indexOf(n) + 1] : d);
const port = Number(opt('--port', '0'));
const origin = opt('--origin', `http://127.0.0.1:${port}`);
let seq = 0;
const twiml = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

const server = http.createServer((req, res) => {
	if (req.method !== 'POST' || !req.url.startsWith('/webhooks/sms/')) {
		res.writeHead(404, { 'Content-Length': 0 });
		res.end();
		return;
	}
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		const p = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
		const ev = JSON.stringify({ type: 'event', seq: ++seq, event: 'message.created',
			data: { id: `m${seq}`, direction: 'in', from: p.get('From'), body: p.get('Body') } });
		for (const ws of wss.clients)
			if (ws.readyState === WebSocket.OPEN && ws.hello)
				ws.send(ev);
		res.writeHead(200, { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(twiml) });
		res.end(twiml);
	});
});

const wss = new WebSocketServer({
	server, path: '/ws', perMessageDeflate: false,
	handleProtocols: (protos) => (protos.has('sb-agent.v1') ? 'sb-agent.v1' : false),
	verifyClient: ({ req }) => req.headers.origin === origin &&
		/(^|;\s*)sb_session=[^;]+/.test(req.headers.cookie ?? ''),
});
wss.on('connection', (ws) => {
	ws.on('error', () => {});
	ws.on('message', (data) => {
		let m;
		try { m = JSON.parse(data); } catch { return; }
		if (m.type === 'hello') {
			ws.hello = true;
			ws.send(JSON.stringify({ type: 'welcome', tenant_id: 't1', agent_id: 'a1', seq, resume: 'ok' }));
		} else if (m.type === 'ping') {
			ws.send(JSON.stringify({ type: 'pong', id: m.id }));
		}
	});
});
server.listen(port, '127.0.0.1', () => console.error(`fake_hub listening on 127.0.0.1:${port}`));
for (const sig of ['SIGINT', 'SIGTERM'])
	process.on(sig, () => process.exit(0));
