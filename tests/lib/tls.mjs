// SPDX-License-Identifier: MIT
// A throw-away certificate for a fake provider on 127.0.0.1 (openssl's CLI; P-256, self-signed,
// subjectAltName IP:127.0.0.1 so curl's host check passes). The hub trusts it through
// SB_PROVIDER_CA; anything else (the system's store) refuses it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function makeCert(dir = mkdtempSync(join(tmpdir(), 'sb-tls-'))) {
	const cert = join(dir, 'cert.pem');
	const key = join(dir, 'key.pem');
	execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
		'-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
		{ stdio: ['ignore', 'ignore', 'pipe'] });
	return { dir, cert, key };
}
