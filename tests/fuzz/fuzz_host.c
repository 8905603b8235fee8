/* SPDX-License-Identifier: MIT
 * fuzz_host.c: the host services the fuzz targets lend a bridge: the same choices as
 * tests/unit/sms/test_host.c (libsodium, the bridges' SHA-1, the hub's arena and JSON
 * parser), without cmocka, and quiet: bridge log lines are dropped.
 */
#include "fuzz.h"

#include <sodium.h>

#include "sb_sha1.h"
#include "bridge_services.h"

static void f_log(int level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

static int64_t f_wall_ms(void)
{
	return FUZZ_NOW_MS;
}


static struct sb_bridge_event *f_event_add(struct sb_bridge_events *out)
{
	if (out->n >= out->cap)
		return NULL;
	struct sb_bridge_event *e = &out->v[out->n++];
	memset(e, 0, sizeof *e);
	return e;
}








const struct sb_host fuzz_host = {
	.size = sizeof(struct sb_host),
	.abi_major = SB_BRIDGE_ABI_MAJOR,
	.abi_minor = SB_BRIDGE_ABI_MINOR,
	.log = f_log,
	.wall_ms = f_wall_ms,
	.alloc = sb_svc_alloc,
	.event_add = f_event_add,
	.hmac_sha1 = sb_hmac_sha1,
	.hmac_sha256 = sb_svc_hmac_sha256,
	.hmac_sha512 = sb_svc_hmac_sha512,
	.sha256 = sb_svc_sha256,
	.mem_eq = sb_svc_mem_eq,
	.base64_encode = sb_svc_base64_encode,
	.base64_decode = sb_svc_base64_decode,
	.json_parse = sb_svc_json_parse,
};
