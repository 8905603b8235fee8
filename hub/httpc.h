/* SPDX-License-Identifier: MIT
 * httpc.h: the hub's outbound HTTP client (a libcurl multi handle on its own thread).
 */
#ifndef SB_HTTPC_H
#define SB_HTTPC_H

#include "sb.h"

/* The outcome of one request. Lifetime: borrowed for the done callback. */
struct sb_httpc_res {
	int status;            /* HTTP status; 0 when the transfer failed */
	int curl_code;         /* 0 = CURLE_OK */
	bool sent;             /* some of the request left: the peer may have acted on it */
	char retry_after[64];  /* Retry-After header, or empty */
	char error[128];       /* transfer error text, or empty */
	bool abandoned;        /* the client stopped first (sb_httpc_fini): no answer will come;
				* the callee frees what it gave as arg and does nothing else */
	const char *body;
	size_t body_len;
};

/* connect_ms / total_ms: the default timeouts; ca_file: a PEM bundle trusted for https
 * instead of the system's (NULL: the system's); http2: offer HTTP/2 to https hosts.
 * SB_EINVAL when ca_file cannot be read. */
int sb_httpc_init(long connect_ms, long total_ms, const char *ca_file, bool http2);
void sb_httpc_fini(void);
/* Any thread. headers are "Name: value" lines, copied. done runs on the service thread,
 * exactly once: with the answer, or with res->abandoned from sb_httpc_fini for a request
 * still queued or in flight then. timeout_ms 0: the default. Returns 0 or SB_EBUSY when the
 * client is stopped (done is not called). */
int sb_httpc_submit(const char *method, const char *url, const char *const *headers,
		    size_t n_headers, const char *body, size_t body_len, long timeout_ms,
		    void (*done)(void *arg, const struct sb_httpc_res *res), void *arg);

#endif
