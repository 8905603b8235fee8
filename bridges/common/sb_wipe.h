/* SPDX-License-Identifier: MIT
 * sb_wipe.h: zeroing secrets in a way the compiler may not drop as a dead store. Bridges do
 * not link the hub (nor libsodium's sodium_memzero), so they share this one.
 */
#ifndef SB_WIPE_H
#define SB_WIPE_H

#include <stddef.h>

static inline void sb_wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

#endif
