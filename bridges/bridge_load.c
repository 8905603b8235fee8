/* SPDX-License-Identifier: MIT
 * bridge_load.c: the hub side of the plugin ABI: checking a bridge table (static or
 * loaded) and loading sb_bridge_<name>.so by name. Errors are returned as one line for the
 * caller to log once; nothing here logs.
 */
#include "bridge.h"

#include <dlfcn.h>
#include <stdio.h>

static bool name_ok(const char *n)
{
	if (!n || !*n || strlen(n) > 32)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= '0' && *n <= '9') || *n == '_'))
			return false;
	return true;
}

/* The ops each capability makes mandatory, by slot. */
struct need {
	uint32_t cap;      /* 0: always */
	size_t off;        /* offsetof the slot */
	const char *slot;
};

#define NEED(cap, f) { (cap), offsetof(struct sb_bridge, f), #f }
static const struct need needs[] = {
	NEED(0, channel_init),
	NEED(SB_BRIDGE_CAP_INBOUND, webhook),
	NEED(SB_BRIDGE_CAP_REPLY, webhook_reply),
	NEED(SB_BRIDGE_CAP_POLICY, policy),
	NEED(SB_BRIDGE_CAP_OUTBOUND, send_build),
	NEED(SB_BRIDGE_CAP_OUTBOUND, send_parse),
	NEED(SB_BRIDGE_CAP_LOOKUP, lookup_build),
	NEED(SB_BRIDGE_CAP_LOOKUP, lookup_parse),
	NEED(SB_BRIDGE_CAP_ACTIONS, action_build),
	NEED(SB_BRIDGE_CAP_ACTIONS, send_parse),
};

int sb_bridge_check(const struct sb_bridge *b, char *err, size_t errlen)
{
	if (!b) {
		snprintf(err, errlen, "bridge table is NULL");
		return SB_EINVAL;
	}
	/* only the frozen prefix may be read before the major version is known */
	const char *nm = name_ok(b->name) ? b->name : "?";
	if (b->abi_major != SB_BRIDGE_ABI_MAJOR) {
		snprintf(err, errlen,
			 "bridge %s: abi_major %u, hub supports %u (rebuild the bridge)", nm,
			 b->abi_major, SB_BRIDGE_ABI_MAJOR);
		return SB_EINVAL;
	}
	if (b->size < SB_BRIDGE_SIZE_1_0) {
		snprintf(err, errlen, "bridge %s: size %u is below the minimum %zu for ABI %u",
			 nm, b->size, (size_t)SB_BRIDGE_SIZE_1_0, SB_BRIDGE_ABI_MAJOR);
		return SB_EINVAL;
	}
	if (!name_ok(b->name)) {
		snprintf(err, errlen, "bridge name is missing or not [a-z0-9_]{1,32}");
		return SB_EINVAL;
	}
	if (!b->bridge_class) {
		snprintf(err, errlen, "bridge %s: bridge_class is 0", nm);
		return SB_EINVAL;
	}
	if (b->priv_size > SB_BRIDGE_MAX_PRIV) {
		snprintf(err, errlen, "bridge %s: priv_size %u exceeds %u", nm, b->priv_size,
			 SB_BRIDGE_MAX_PRIV);
		return SB_EINVAL;
	}
	for (size_t i = 0; i < sizeof needs / sizeof needs[0]; i++) {
		const struct need *n = &needs[i];
		if (n->cap && !(b->caps & n->cap))
			continue;
		void *slot = NULL;
		if (n->off + sizeof slot <= b->size)
			memcpy(&slot, (const char *)b + n->off, sizeof slot);
		if (!slot) {
			snprintf(err, errlen, "bridge %s: mandatory op %s is missing", nm, n->slot);
			return SB_EINVAL;
		}
	}
	return 0;
}

int sb_bridge_load(const char *dir, const char *name, const struct sb_bridge **out, char *err,
		   size_t errlen)
{
	char path[4096];
	*out = NULL;
	if (!name_ok(name)) {
		snprintf(err, errlen, "bridge name \"%.40s\" is not [a-z0-9_]{1,32}",
			 name ? name : "");
		return SB_EINVAL;
	}
	int n = snprintf(path, sizeof path, "%s/sb_bridge_%s.so", dir && *dir ? dir : ".", name);
	if (n < 0 || (size_t)n >= sizeof path) {
		snprintf(err, errlen, "bridge %s: module path too long", name);
		return SB_EINVAL;
	}
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		snprintf(err, errlen, "bridge %s: cannot load %s: %s", name, path, dlerror());
		return SB_ENOTFOUND;
	}
	const struct sb_bridge *(*entry)(void);
	void *sym = dlsym(dl, SB_BRIDGE_ENTRY_SYMBOL);
	if (!sym) {
		snprintf(err, errlen, "bridge %s: %s has no %s symbol", name, path,
			 SB_BRIDGE_ENTRY_SYMBOL);
		dlclose(dl);
		return SB_ENOTFOUND;
	}
	memcpy(&entry, &sym, sizeof entry); /* POSIX: data and function pointers convert */
	const struct sb_bridge *b = entry();
	char why[256];
	if (sb_bridge_check(b, why, sizeof why) != 0) {
		snprintf(err, errlen, "bridge %s refused (%s): %s", name, path, why);
		dlclose(dl);
		return SB_EINVAL;
	}
	if (strcmp(b->name, name) != 0) {
		snprintf(err, errlen, "bridge %s refused (%s): it calls itself \"%s\"", name, path,
			 b->name);
		dlclose(dl);
		return SB_EINVAL;
	}
	*out = b; /* the module stays loaded until exit: its table is referenced forever */
	return 0;
}
