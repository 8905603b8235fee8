// SPDX-License-Identifier: MIT
// Starts tests/fakes/fake_twilio.mjs on a free loopback port for a test: resolves its startup
// line ({port, control, account, token}) plus {proc, ctl(method, path, body), base, stop()}.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './hub.mjs';
import { api } from './client.mjs';

export async function startFake(args = []) {
	const proc = spawn(process.execPath, [join(REPO_ROOT, 'tests/fakes/fake_twilio.mjs'), '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
	const info = await new Promise((resolve, reject) => {
		let buf = '';
		proc.stdout.on('data', (d) => {
			buf += d;
			const nl = buf.indexOf('\n');
			if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
		});
		proc.once('exit', (c) => reject(new Error(`fake_twilio exited ${c}`)));
	});
	const ctl = async (method, path, body) => {
		const r = await api(method, `${info.control}${path}`, body);
		if (r.status !== 200) throw new Error(`fake ${method} ${path}: ${r.status} ${r.text}`);
		return r.json;
	};
	return { ...info, proc, ctl, base: info.base ?? `http://127.0.0.1:${info.port}`, stop: () => proc.kill('SIGTERM') };
}
