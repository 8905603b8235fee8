// SPDX-License-Identifier: MIT
// A Node `ws` relay used as a peer for sbload: every text message a client sends is
// broadcast to all other connected clients. Listens on 127.0.0.1 only.
// usage: node ws_relay.mjs --port PORT
// `ws` is taken from bench/peers/node_modules, or from tests/node_modules.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const wsPath = require.resolve('ws', { paths: [here, path.join(here, '..', '..', 'tests')] });
const { WebSocketServer, WebSocket } = require(wsPath);

const args = process.argv.slice(2);
const i = args.indexOf('--port');
const port = i >= 0 ? Number(args[i + 1]) : 0;
if (!Number.isInteger(port) || port < 1 || port > 65535) {
	console.error('usage: node ws_relay.mjs --port PORT');
	process.exit(2);
}

const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, clientTracking: true });
wss.on('connection', (ws) => {
	ws.on('error', () => {});
	ws.on('message', (data, isBinary) => {
		if (isBinary)
			return;
		for (const peer of wss.clients)
			if (peer !== ws && peer.readyState === WebSocket.OPEN)
				peer.send(data, { binary: false });
	});
});
wss.on('listening', () => console.error(`ws_relay listening on 127.0.0.1:${port}`));
for (const sig of ['SIGINT', 'SIGTERM'])
	process.on(sig, () => process.exit(0));
