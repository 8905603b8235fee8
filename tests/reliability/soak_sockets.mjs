// SPDX-License-Identifier: MIT
// Worker thread for soak.mjs: holds the agent WebSockets so that reading their frames does not
// delay the main thread's webhook timing. workerData {url, apiKey, n}; posts {open} once open,
// then answers 'stats' with {open, closed, frames}.
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';

const { url, apiKey, n } = workerData;
const wsUrl = url.replace(/^http/, 'ws') + '/ws';
let frames = 0, closed = 0, opened = 0, stopping = false;
const socks = [];
function one() {
	return new Promise((res, rej) => {
		const ws = new WebSocket(wsUrl, 'sb-agent.v1', { headers: { Authorization: `Bearer ${apiKey}` }, origin: new URL(url).origin, perMessageDeflate: false, handshakeTimeout: 10000 });
		ws.once('open', () => { ws.send(JSON.stringify({ type: 'hello', last_seq: null })); opened++; res(ws); });
		ws.once('error', rej);
		ws.on('message', () => frames++);
		ws.on('close', () => { if (!stopping) closed++; });
		socks.push(ws);
	});
}
for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, one));
parentPort.postMessage({ open: opened });
parentPort.on('message', (m) => {
	if (m === 'stop') {
		stopping = true;
		for (const ws of socks) ws.terminate();
		parentPort.postMessage({ open: opened, closed, frames });
		setTimeout(() => process.exit(0), 100);
	} else parentPort.postMessage({ open: opened, closed, frames });
});
