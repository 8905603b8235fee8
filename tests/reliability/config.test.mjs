// SPDX-License-Identifier: MIT
// A corrupt config file (`hubd serve --config bad.json`) exits non-zero at once with a message
// naming the file and, where there is one, the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runHubCli, freePort } from '../lib/hub.mjs';

// the environment beats the file: none of the file's keys may come from it here
for (const k of Object.keys(process.env)) if (k.startsWith('SB_') && k !== 'SB_WEB_ROOT') delete process.env[k];

const CASES = [
	['not JSON', '{"listen": "127.0.0.1:1"', null],
	['empty file', '', null],
	['an array', '["listen"]', null],
	['unknown key', '{"lisen": "127.0.0.1:9000"}', 'lisen'],
	['listen without a port', '{"listen": "127.0.0.1"}', 'listen'],
	['listen with a bad port', '{"listen": "127.0.0.1:99999"}', 'listen'],
	['pwhash_threads not a number', '{"pwhash_threads": "many"}', 'pwhash_threads'],
	['session_days negative', '{"session_days": -1}', 'session_days'],
	['log_level unknown', '{"log_level": "loud"}', 'log_level'],
	['demo not a boolean', '{"demo": "maybe"}', 'demo'],
	['db an object', '{"db": {"path": "x"}}', 'db'],
	['web_root an array', '{"web_root": ["web"]}', 'web_root'],
	['secret_key an object', '{"secret_key": {}}', 'secret_key'],
	['secret_key too short', '{"secret_key": "abcd"}', 'secret_key'],
	['pwhash unknown', '{"pwhash": "fastest"}', 'pwhash'],
	['trailing garbage', '{"db": "x.db"} trailing', null],
	['NUL inside a value', '{"public_url": "http://127.0.0.1:8080\\u0000.evil.example"}', 'public_url'],
];

for (const [name, text, key] of CASES) {
	test(`corrupt config: ${name}`, async () => {
		const dir = mkdtempSync(join(tmpdir(), 'sb-cfg-'));
		try {
			const file = join(dir, 'bad.json');
			writeFileSync(file, text);
			const port = await freePort();
			const r = await runHubCli(null, ['serve', '--config', file, '--listen', `127.0.0.1:${port}`, '--db', join(dir, 'h.db'), '--web-root', process.env.SB_WEB_ROOT ?? 'web'], { timeoutMs: 5000 });
			assert.notEqual(r.code, 0, `exited ${r.code ?? r.signal}: ${r.stderr}`);
			assert.equal(r.signal, null, `killed by ${r.signal} (timeout: it kept running): ${r.stderr}`);
			assert.match(r.stderr, /bad\.json|config/, r.stderr);
			if (key) assert.match(r.stderr, new RegExp(`\\b${key}\\b`), `names ${key}: ${r.stderr}`);
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	});
}
