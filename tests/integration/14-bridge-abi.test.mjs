// SPDX-License-Identifier: MIT
// Bridges loaded by name at start (--bridge-dir): the real SMS module loads and works; a
// module with the wrong ABI major or a too-small table is refused with a clear log line and
// hubd does not start.
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, copyFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { startHub, freePort } from '../lib/hub.mjs';

const build = process.env.SB_BUILD_DIR;
const env = { SB_PWHASH: 'min' };

function runUntilExit(args, timeoutMs = 10000) {
	return new Promise((resolve) => {
		const p = spawn(process.env.HUBD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
		let err = '';
		p.stderr.on('data', (d) => { err += d; });
		const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
		p.on('exit', (code, signal) => { clearTimeout(t); resolve({ code, signal, err }); });
	});
}

test('the real SMS module loads by name', async () => {
	const dir = join(build, 'bridges', 'modules');
	assert.ok(existsSync(join(dir, 'sb_bridge_sms.so')), 'module built');
	const hub = await startHub({ env, args: ['--bridge-dir', dir] });
	try {
		assert.match(hub.stderr(), /msg=bridge_loaded kind=sms abi=1\.\d+/);
	} finally {
		await hub.stop();
	}
});

for (const [mod, why] of [['badmajor', /abi_major/], ['small', /size/]]) {
	test(`a module with ${mod === 'small' ? 'a too-small table' : 'the wrong ABI major'} is refused at start`, async () => {
		const dir = mkdtempSync(join(tmpdir(), 'sb-abi-'));
		copyFileSync(join(build, 'tests', 'abi', 'mods', `sb_bridge_${mod}.so`), join(dir, 'sb_bridge_sms.so'));
		const port = await freePort();
		const r = await runUntilExit(['serve', '--listen', `127.0.0.1:${port}`, '--db', join(dir, 'h.db'),
			'--web-root', process.env.SB_WEB_ROOT, '--bridge-dir', dir]);
		assert.notEqual(r.code, 0, 'hubd must not start');
		assert.match(r.err, /msg=bridge_refused kind=sms/);
		assert.match(r.err, why);
	});
}
