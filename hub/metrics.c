/* SPDX-License-Identifier: MIT
 * metrics.c: Prometheus text for /metrics: requests by route and status, the commit latency
 * histogram (written by the store's writer thread, hence atomics), named counters, and the
 * connection gauges. Route labels are patterns ("/api/v1/conversations/:id"), so the number
 * of series stays small.
 */
#include "hub.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

struct route_stat {
	char route[96];
	int status;
	uint64_t count;
	uint64_t us_sum;
};

#define MAX_ROUTES 256
static struct route_stat routes[MAX_ROUTES];
static int nroutes;

#define MAX_COUNTERS 64
static struct {
	char name[96];
	uint64_t v;
} counters[MAX_COUNTERS];
static int ncounters;

static const double commit_bounds_ms[] = { 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000 };
#define NB (sizeof commit_bounds_ms / sizeof commit_bounds_ms[0])
static _Atomic uint64_t commit_buckets[NB + 1];
static _Atomic uint64_t commit_count, commit_us_sum;
static int http_conns;

void sb_metrics_request(const char *route, int status, uint64_t us)
{
	for (int i = 0; i < nroutes; i++)
		if (routes[i].status == status && !strcmp(routes[i].route, route)) {
			routes[i].count++;
			routes[i].us_sum += us;
			return;
		}
	if (nroutes == MAX_ROUTES)
		route = "overflow";
	int i = nroutes < MAX_ROUTES ? nroutes++ : MAX_ROUTES - 1;
	snprintf(routes[i].route, sizeof routes[i].route, "%s", route);
	routes[i].status = status;
	routes[i].count++;
	routes[i].us_sum += us;
}

void sb_metrics_commit(uint64_t us, int batch)
{
	size_t b = 0;
	while (b < NB && (double)us / 1000.0 > commit_bounds_ms[b])
		b++;
	atomic_fetch_add(&commit_buckets[b], 1);
	atomic_fetch_add(&commit_count, 1);
	atomic_fetch_add(&commit_us_sum, us);
	(void)batch;
}

static int counter_id(const char *name)
{
	for (int i = 0; i < ncounters; i++)
		if (!strcmp(counters[i].name, name))
			return i;
	if (ncounters == MAX_COUNTERS)
		return -1;
	snprintf(counters[ncounters].name, sizeof counters[ncounters].name, "%s", name);
	counters[ncounters].v = 0;
	return ncounters++;
}

int sb_metrics_counter_at(int *slot, const char *fmt, ...)
{
	if (*slot > 0)
		return *slot - 1;
	char name[sizeof counters[0].name];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	int id = counter_id(name);
	if (id >= 0)
		*slot = id + 1; /* a full table is asked again next time: still correct */
	return id;
}

void sb_metrics_add(int id, uint64_t by)
{
	if (id >= 0 && id < ncounters)
		counters[id].v += by;
}

void sb_metrics_inc(const char *name, uint64_t by)
{
	sb_metrics_add(counter_id(name), by);
}

void sb_metrics_gauge_http(int delta)
{
	http_conns += delta;
}

int sb_http_open(void)
{
	return http_conns;
}

void sb_metrics_render(struct sb_buf *o)
{
	sb_buf_adds(o, "# HELP sb_ws_connections Agent WebSocket connections open.\n"
		       "# TYPE sb_ws_connections gauge\n");
	sb_buf_printf(o, "sb_ws_connections %zu\n", sb_ws_count());
	sb_buf_adds(o, "# HELP sb_http_connections HTTP connections open.\n"
		       "# TYPE sb_http_connections gauge\n");
	sb_buf_printf(o, "sb_http_connections %d\n", http_conns);
	sb_buf_adds(o, "# HELP sb_http_requests_total HTTP requests by route and status.\n"
		       "# TYPE sb_http_requests_total counter\n");
	for (int i = 0; i < nroutes; i++)
		sb_buf_printf(o, "sb_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
			      routes[i].route, routes[i].status,
			      (unsigned long long)routes[i].count);
	sb_buf_adds(o, "# HELP sb_http_request_seconds_sum Time spent answering, by route.\n"
		       "# TYPE sb_http_request_seconds_sum counter\n");
	for (int i = 0; i < nroutes; i++)
		sb_buf_printf(o, "sb_http_request_seconds_sum{route=\"%s\",status=\"%d\"} %.6f\n",
			      routes[i].route, routes[i].status, (double)routes[i].us_sum / 1e6);
	sb_buf_adds(o, "# HELP sb_commit_latency_seconds Time from queueing a write to its commit.\n"
		       "# TYPE sb_commit_latency_seconds histogram\n");
	uint64_t cum = 0;
	for (size_t b = 0; b < NB; b++) {
		cum += atomic_load(&commit_buckets[b]);
		sb_buf_printf(o, "sb_commit_latency_seconds_bucket{le=\"%g\"} %llu\n",
			      commit_bounds_ms[b] / 1000.0, (unsigned long long)cum);
	}
	cum += atomic_load(&commit_buckets[NB]);
	sb_buf_printf(o, "sb_commit_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
		      (unsigned long long)cum);
	sb_buf_printf(o, "sb_commit_latency_seconds_sum %.6f\n",
		      (double)atomic_load(&commit_us_sum) / 1e6);
	sb_buf_printf(o, "sb_commit_latency_seconds_count %llu\n",
		      (unsigned long long)atomic_load(&commit_count));
	sb_buf_adds(o, "# HELP sb_store_queue_depth Writes queued or awaiting completion.\n"
		       "# TYPE sb_store_queue_depth gauge\n");
	sb_buf_printf(o, "sb_store_queue_depth %zu\n", sb_store_queue_depth(sb_hub_store()));
	sb_buf_adds(o, "# HELP sb_store_batch_replays_total Write batches rolled back and run again, "
		       "one savepoint per job, after a job failed part-way.\n"
		       "# TYPE sb_store_batch_replays_total counter\n");
	sb_buf_printf(o, "sb_store_batch_replays_total %llu\n",
		      (unsigned long long)sb_store_replays(sb_hub_store()));
	/* named counters; a name may carry labels: group the HELP by base name */
	for (int i = 0; i < ncounters; i++) {
		char base[96];
		memcpy(base, counters[i].name, sizeof base);
		base[sizeof base - 1] = '\0';
		base[strcspn(base, "{")] = '\0';
		bool seen = false;
		for (int j = 0; j < i && !seen; j++)
			seen = !strncmp(counters[j].name, base, strlen(base)) &&
			       (counters[j].name[strlen(base)] == '{' ||
				counters[j].name[strlen(base)] == '\0');
		if (!seen)
			sb_buf_printf(o, "# TYPE %s counter\n", base);
		sb_buf_printf(o, "%s %llu\n", counters[i].name, (unsigned long long)counters[i].v);
	}
	sb_buf_printf(o, "# HELP sb_events_fanned_out_total Event frames written to agent sockets.\n"
			 "# TYPE sb_events_fanned_out_total counter\n"
			 "sb_events_fanned_out_total %llu\n",
		      (unsigned long long)sb_ws_fanned_out);
}
