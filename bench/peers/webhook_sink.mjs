// SPDX-License-Identifier: MIT
// A stand-in webhook receiver for checking sbwebhook without the hub: it verifies each
// X-Twilio-Signature with Node's own crypto (an implementation independent of bench/'s
// HMAC-SHA1), answers 200 with empty TwiML, or 403 when the signature is wrong, and
// prints its counts on exit. Listens on 127.0.0.1 only.
// usage: node webhook_sink.mjs --port PORT [--token T] [--public-base URL]
import http from 'node:http';
import crypto from 'node:crypto';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
	const i = args.indexOf(name);
	return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(opt('--port', '0'));
const token = opt('--token', 'test_auth_token');
const base = opt('--public-base', null);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
	console.error('usage: node webhook_sink.mjs --port PORT [--token T] [--public-base URL]');
	process.exit(2);
}

const counts = { ok: 0, bad: 0, dup: 0 };
const seen = new Set();
const twiml = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

function expected(url, params) {
	const names = [...new Set(params.map(([k]) => k))].sort();
	let s = url;
	for (const n of names) {
		const vals = [...new Set(params.filter(([k]) => k === n).map(([, v]) => v))].sort();
		for (const v of vals)
			s += n + v;
	}
	return crypto.createHmac('sha1', token).update(s, 'utf8').digest('base64');
}

const server = http.createServer((req, res) => {
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		const body = Buffer.concat(chunks).toString('utf8');
		const params = [...new URLSearchParams(body).entries()];
		const url = (base ?? `http://${req.headers.host}`) + req.url;
		const want = expected(url, params);
		const got = req.headers['x-twilio-signature'] ?? '';
		const sid = new URLSearchParams(body).get('MessageSid');
		if (got.length !== want.length ||
		    !crypto.timingSafeEqual(Buffer.from(got), Buffer.from(want))) {
			counts.bad++;
			res.writeHead(403, { 'Content-Type': 'text/plain', 'Content-Length': 10 });
			res.end('forbidden\n');
			return;
		}
		if (seen.has(sid))
			counts.dup++;
		seen.add(sid);
		counts.ok++;
		res.writeHead(200, { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(twiml) });
		res.end(twiml);
	});
});
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => console.error(`webhook_sink listening on 127.0.0.1:${port}`));
for (const sig of ['SIGINT', 'SIGTERM'])
	process.on(sig, () => {
		console.error(`webhook_sink: ok ${counts.ok} bad-signature ${counts.bad} duplicate ${counts.dup}`);
		process.exit(0);
	});
