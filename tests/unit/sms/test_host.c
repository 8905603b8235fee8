/* SPDX-License-Identifier: MIT
 * test_host.c: the host services a test lends a bridge (see test_host.h).
 */
#include "test_host.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>

#include "sb_sha1.h"
#include "bridge_services.h"

static void t_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bridge log %d: ", level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int64_t t_wall_ms(void)
{
	return TEST_NOW_MS;
}


static struct sb_bridge_event *t_event_add(struct sb_bridge_events *out)
{
	if (out->n >= out->cap)
		return NULL;
	struct sb_bridge_event *e = &out->v[out->n++];
	memset(e, 0, sizeof *e);
	return e;
}








const struct sb_host test_host = {
	.size = sizeof(struct sb_host),
	.abi_major = SB_BRIDGE_ABI_MAJOR,
	.abi_minor = SB_BRIDGE_ABI_MINOR,
	.log = t_log,
	.wall_ms = t_wall_ms,
	.alloc = sb_svc_alloc,
	.event_add = t_event_add,
	.hmac_sha1 = sb_hmac_sha1,
	.hmac_sha256 = sb_svc_hmac_sha256,
	.hmac_sha512 = sb_svc_hmac_sha512,
	.sha256 = sb_svc_sha256,
	.mem_eq = sb_svc_mem_eq,
	.base64_encode = sb_svc_base64_encode,
	.base64_decode = sb_svc_base64_decode,
	.json_parse = sb_svc_json_parse,
};

void test_call_init(struct test_call *t, void *priv)
{
	memset(t, 0, sizeof *t);
	t->ev.cap = 16;
	t->ctx = (struct sb_bridge_ctx){ .host = &test_host, .arena = &t->arena, .priv = priv,
					 .now_ms = TEST_NOW_MS };
}

void test_call_fini(struct test_call *t)
{
	sb_arena_free(&t->arena);
}
