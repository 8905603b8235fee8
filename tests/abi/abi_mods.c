/* SPDX-License-Identifier: MIT
 * abi_mods.c: deliberately bad (and two good) bridge modules for the ABI test, one source
 * compiled once per module with ABI_MOD selecting which table sb_bridge_entry returns.
 */
#include "bridge.h"

__attribute__((unused)) static int mod_init(const struct sb_host *host, void *priv,
					    const struct sb_bridge_config *cfg, char *err,
					    size_t errlen)
{
	return 0;
}

__attribute__((unused)) static int mod_send_build(const struct sb_bridge_ctx *c,
						  const struct sb_bridge_msg *msg,
						  struct sb_http_req *req)
{
	return SB_EINVAL;
}

#if ABI_MOD == 1 /* sb_bridge_badmajor: built for a future major version */
static const struct sb_bridge table = {
	.name = "badmajor", .bridge_class = SB_BRIDGE_CLASS_MESSAGING,
	.abi_major = SB_BRIDGE_ABI_MAJOR + 1, .abi_minor = 0, .size = sizeof(struct sb_bridge),
	.channel_init = mod_init,
};
#elif ABI_MOD == 2 /* sb_bridge_small: claims a table that ends before the 1.0 ops */
static const struct sb_bridge table = {
	.name = "small", .bridge_class = SB_BRIDGE_CLASS_MESSAGING,
	.abi_major = SB_BRIDGE_ABI_MAJOR, .abi_minor = 0,
	.size = offsetof(struct sb_bridge, webhook),
	.channel_init = mod_init,
};
#elif ABI_MOD == 3 /* sb_bridge_noop: says OUTBOUND but has no send_parse */
static const struct sb_bridge table = {
	SB_BRIDGE_HEADER("noop", SB_BRIDGE_CLASS_MESSAGING),
	.caps = SB_BRIDGE_CAP_OUTBOUND,
	.channel_init = mod_init,
	.send_build = mod_send_build,
};
#elif ABI_MOD == 4 /* sb_bridge_future: a newer minor with an appended slot: loads */
struct future_bridge {
	struct sb_bridge base;
	int (*op_from_1_9)(void);
};
static const struct future_bridge ftable = {
	.base = { .name = "future", .bridge_class = SB_BRIDGE_CLASS_MESSAGING,
		  .abi_major = SB_BRIDGE_ABI_MAJOR, .abi_minor = 9,
		  .size = sizeof(struct future_bridge), .channel_init = mod_init },
};
#define table (ftable.base)
#elif ABI_MOD == 5 /* sb_bridge_alias: a valid table under another bridge's name */
static const struct sb_bridge table = {
	SB_BRIDGE_HEADER("other", SB_BRIDGE_CLASS_MESSAGING),
	.channel_init = mod_init,
};
#elif ABI_MOD == 6 /* sb_bridge_noinit: the one always-mandatory op is missing */
static const struct sb_bridge table = {
	SB_BRIDGE_HEADER("noinit", SB_BRIDGE_CLASS_MESSAGING),
};
#elif ABI_MOD == 7 /* sb_bridge_noentry: forgot to export the entry point */
int abi_mod_unused(void);
int abi_mod_unused(void)
{
	return mod_init(NULL, NULL, NULL, NULL, 0) + mod_send_build(NULL, NULL, NULL);
}
#endif

#if ABI_MOD != 7
SB_BRIDGE_MODULE(table)
#endif
