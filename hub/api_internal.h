/* SPDX-License-Identifier: MIT
 * api_internal.h: what the REST handler files share. Not for use outside hub/api*.c.
 */
#ifndef SB_API_INTERNAL_H
#define SB_API_INTERNAL_H

#include "hub.h"

/* A handler's state for one write. Lifetime: the request's arena. The strings point into
 * the arena too, so the writer thread may read them while the loop does other work. */
struct api_ctx {
	int64_t tenant, agent, id, id2, t1;
	int i1, i2;
	const char *s1, *s2, *s3, *s4;
	struct sb_contact_in ci;
	struct sb_buf out;      /* written by the run function, answered by api__done_json */
	int ok_status;          /* 200, 201 or 204 */
	const char *notfound_msg, *conflict_msg, *invalid_msg;
	void (*after)(struct sb_req *r); /* loop-side follow-up on success */
	void *extra;
};

struct api_ctx *api__ctx(struct sb_req *r);
void api__done_json(struct sb_req *r, int rc);
bool api__fields_ok(struct sb_req *r, const char *const *allowed);
bool api__opt_str(struct sb_req *r, const char *key, size_t max, const char **out);
bool api__req_str(struct sb_req *r, const char *key, size_t max, const char **out);
bool api__opt_id(struct sb_req *r, const char *key, int64_t *out);
bool api__parse_id(const char *s, int64_t *out);
bool api__need_agent(struct sb_req *r);

void api__contacts(struct sb_req *r, const char **s, int n);
void api__conversations(struct sb_req *r, const char **s, int n);
void api__canned(struct sb_req *r, const char **s, int n);
void api__agents(struct sb_req *r, const char **s, int n);
void api__settings(struct sb_req *r, const char **s, int n);
void api__events(struct sb_req *r, const char **s, int n);
/* Routes added by other modules (channels, messages out); true when handled. */
bool api__extra_route(struct sb_req *r, const char **s, int n);

/* hub-wide, from main.c and webhooks */
bool sb_hub_ready(void);
void sb_hub_snooze_kick(void);
void sb_webhook_route(struct sb_req *r, const char **s, int n);
void sb_sandbox_route(struct sb_req *r, const char **s, int n);

#endif
