/* SPDX-License-Identifier: MIT
 * test_plans.c: every SQL statement written in the hub's sources, found by reading them,
 * prepared against a freshly migrated database: it must prepare, and its query plan must not
 * scan a table that grows with traffic (messages, events, the outbox...).
 *
 * Why: sqlite picks a plan from the schema and the SQL alone, and a small change of either
 * can turn an index search into a walk of the whole table without any test noticing until
 * the table is large. The outbox's due walk did that for several sessions (a partial index
 * is used only when the query repeats its WHERE). This test reads the sources, so a new
 * statement is checked the day it is written, whether or not a test runs it.
 *
 * A statement that must scan says why in a comment starting "sql-scan:" right before its
 * string (only blanks between). Statements built with printf directives (%d, %s) are
 * prepared with each directive replaced by a value of its kind.
 *
 * usage: test_plans SOURCE_DIR... (the CMake test passes hub/, whose subfolders are read too)
 * SB_PLANS_VERBOSE=1 prints every statement with its plan.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"

/* Tables whose row count grows with messages, people or time. A scan of any other table
 * (tenants, agents, channels, canned responses, api keys, migrations) reads a few rows. */
static const char *const growing[] = {
	"messages", "events", "inbound_dedupe", "outbox", "conversations", "contacts",
	"contact_identities", "conversation_reads", "sessions", "opt_outs", "sandbox_messages",
};

struct stmt {
	char *sql;
	char file[256];
	int line;
	bool scan_ok; /* preceded by a sql-scan: comment */
};

static struct stmt *stmts;
static size_t n_stmts, cap_stmts;
static int failures;

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	failures++;
}

static bool is_sql(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	static const char *const verbs[] = { "SELECT ", "INSERT ", "UPDATE ", "DELETE ",
					     "WITH ",   "REPLACE " };
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (!strncmp(s, verbs[i], strlen(verbs[i])))
			return true;
	return false;
}

static void add_stmt(char *sql, const char *file, int line, bool scan_ok)
{
	if (!is_sql(sql)) {
		free(sql);
		return;
	}
	if (n_stmts == cap_stmts) {
		cap_stmts = cap_stmts ? cap_stmts * 2 : 64;
		stmts = realloc(stmts, cap_stmts * sizeof *stmts);
	}
	struct stmt *s = &stmts[n_stmts++];
	s->sql = sql;
	snprintf(s->file, sizeof s->file, "%s", file);
	s->line = line;
	s->scan_ok = scan_ok;
}

/* String macros (#define NAME "..." ...), which statements splice between their literals. */
struct macro {
	char name[64];
	char *value;
};
static struct macro macros[256];
static size_t n_macros;

static const char *macro_value(const char *name, size_t len)
{
	for (size_t i = 0; i < n_macros; i++)
		if (strlen(macros[i].name) == len && !strncmp(macros[i].name, name, len))
			return macros[i].value;
	return NULL;
}

typedef void (*run_fn)(char *run, const char *file, int line, bool scan_ok, bool from_define,
		       void *ud);

/* A small C lexer: comments, character constants, identifiers, and runs of adjacent string
 * literals and string macros (only blanks and comments between them), which C joins into
 * one string. Calls fn with each run (which fn owns). The name after #define is not
 * expanded. */
static void lex(const char *src, long n, const char *file, int line, run_fn fn, void *ud)
{
	char *run = NULL; /* the string run being joined */
	size_t run_len = 0;
	int run_line = 0;
	bool run_scan_ok = false;
	bool marker = false;     /* a sql-scan: comment is the last token seen */
	bool after_define = false, run_define = false;
	bool name_read = false; /* the #define's name was just read: its body may start */
	for (long i = 0; i < n;) {
		char c = src[i];
		bool body_starts = name_read; /* this token follows a #define's name */
		const char *add = NULL; /* text to append to the run */
		size_t add_len = 0;
		char *lit = NULL;
		if (c == '\n') {
			line++;
			i++;
			continue;
		}
		if (isspace((unsigned char)c) || (c == '\\' && src[i + 1] == '\n')) {
			i++;
			continue;
		}
		if (c == '/' && (src[i + 1] == '*' || src[i + 1] == '/')) {
			long stop;
			if (src[i + 1] == '*') {
				const char *end = strstr(src + i + 2, "*/");
				stop = end ? end - src + 2 : n;
			} else {
				stop = i;
				while (stop < n && src[stop] != '\n')
					stop++;
			}
			bool m = false;
			for (long k = i; k < stop; k++) {
				if (src[k] == '\n')
					line++;
				if (!strncmp(src + k, "sql-scan:", 9))
					m = true;
			}
			if (run && m)
				run_scan_ok = true;
			marker = m || (marker && !run);
			i = stop;
			continue;
		}
		if (c == '"') {
			size_t cap = 16, len = 0;
			lit = malloc(cap);
			i++;
			while (i < n && src[i] != '"') {
				char ch = src[i++];
				if (ch == '\\' && i < n) {
					char e = src[i++];
					if (e == '\n') {
						line++;
						continue;
					}
					ch = e == 'n' ? '\n' : e == 't' ? '\t' : e;
				}
				if (len + 2 > cap)
					lit = realloc(lit, cap *= 2);
				lit[len++] = ch;
			}
			i++;
			lit[len] = '\0';
			add = lit;
			add_len = len;
		} else if (isalpha((unsigned char)c) || c == '_') {
			long k = i;
			while (k < n && (isalnum((unsigned char)src[k]) || src[k] == '_'))
				k++;
			const char *v = after_define ? NULL : macro_value(src + i, (size_t)(k - i));
			name_read = after_define;
			after_define = (k - i == 6 && !strncmp(src + i, "define", 6));
			if (v) {
				add = v;
				add_len = strlen(v);
			}
			i = k;
		} else {
			after_define = name_read = false;
			if (c == '\'') { /* a character constant: skip it whole */
				i++;
				while (i < n && src[i] != '\'')
					i += src[i] == '\\' ? 2 : 1;
			}
			i++;
		}
		if (add) {
			if (!run) {
				run = malloc(1);
				run_len = 0;
				run_line = line;
				run_scan_ok = marker;
				run_define = body_starts;
			}
			run = realloc(run, run_len + add_len + 1);
			memcpy(run + run_len, add, add_len);
			run_len += add_len;
			run[run_len] = '\0';
			after_define = name_read = false;
		} else if (run) {
			fn(run, file, run_line, run_scan_ok, run_define, ud);
			run = NULL;
		}
		if (!add || lit)
			marker = false;
		free(lit);
	}
	if (run)
		fn(run, file, run_line, run_scan_ok, run_define, ud);
}

static char *read_all(const char *path, long *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fail("cannot read %s\n", path);
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *src = malloc((size_t)n + 1);
	if (fread(src, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	src[n] = '\0';
	fclose(f);
	*len = n;
	return src;
}

static void on_stmt(char *run, const char *file, int line, bool scan_ok, bool from_define,
		    void *ud)
{
	(void)ud;
	if (from_define) { /* a macro's body: checked where it is used, completed */
		free(run);
		return;
	}
	add_stmt(run, file, line, scan_ok);
}

static void on_body(char *run, const char *file, int line, bool scan_ok, bool from_define,
		    void *ud)
{
	(void)file, (void)line, (void)scan_ok, (void)from_define;
	char **out = ud;
	if (*out) { /* the body is more than one run: not a plain string macro */
		free(*out);
		free(run);
		*out = (char *)"";
		return;
	}
	*out = run;
}

/* Records the file's string macros: a #define whose whole body is one string run. */
static void collect_macros(const char *path)
{
	long n;
	char *src = read_all(path, &n);
	if (!src)
		return;
	for (char *p = strstr(src, "#define "); p; p = strstr(p + 1, "#define ")) {
		char *name = p + 8;
		size_t nl = strcspn(name, " \t\\\n(");
		if (name[nl] == '(' || nl == 0 || nl >= sizeof macros[0].name)
			continue;
		char *body = name + nl, *end = body;
		while (*end && !(*end == '\n' && end[-1] != '\\'))
			end++;
		/* the body must be string literals and macros only */
		char *v = NULL;
		lex(body, end - body, path, 0, on_body, &v);
		if (!v || !*v || macro_value(name, nl) || n_macros == sizeof macros / sizeof macros[0]) {
			if (v && *v)
				free(v);
			continue;
		}
		snprintf(macros[n_macros].name, sizeof macros[0].name, "%.*s", (int)nl, name);
		macros[n_macros++].value = v;
	}
	free(src);
}

static void scan_file(const char *path)
{
	long n;
	char *src = read_all(path, &n);
	if (!src)
		return;
	lex(src, n, path, 1, on_stmt, NULL);
	free(src);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every .c file under dir, subfolders included, in name order. */
static void scan_dir(const char *dir, void (*each)(const char *path))
{
	DIR *d = opendir(dir);
	if (!d) {
		fail("cannot open %s\n", dir);
		return;
	}
	char *names[512];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 512) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.')
			continue;
		bool is_dir = e->d_type == DT_DIR;
		if (e->d_type == DT_UNKNOWN) { /* some filesystems do not say: ask */
			char p[1024];
			struct stat sb;
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			is_dir = !stat(p, &sb) && S_ISDIR(sb.st_mode);
		}
		if (is_dir || (l > 2 && !strcmp(e->d_name + l - 2, ".c")))
			names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof names[0], by_name);
	for (size_t i = 0; i < n; i++) {
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		size_t l = strlen(names[i]);
		if (l > 2 && !strcmp(names[i] + l - 2, ".c"))
			each(path);
		else
			scan_dir(path, each);
		free(names[i]);
	}
}

/* printf directives replaced by a literal of their kind: %d %lld %zu -> 0, %s %q -> 'x',
 * %% -> %. Anything else is left for the prepare to refuse. */
static char *unformat(const char *sql)
{
	size_t n = strlen(sql);
	char *out = malloc(n * 3 + 1), *o = out;
	for (const char *p = sql; *p;) {
		if (*p != '%') {
			*o++ = *p++;
			continue;
		}
		const char *q = p + 1;
		if (*q == '%') {
			*o++ = '%';
			p = q + 1;
			continue;
		}
		while (*q && strchr("0123456789.-lhz*", *q))
			q++;
		if (*q == 'd' || *q == 'u' || *q == 'i') {
			*o++ = '0';
			p = q + 1;
		} else if (*q == 's' || *q == 'q') {
			memcpy(o, "'x'", 3);
			o += 3;
			p = q + 1;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

/* The table an alias of sql names (FROM t a, JOIN t AS a), or the name itself. */
static void resolve_alias(const char *sql, const char *name, size_t len, char *out, size_t cap)
{
	snprintf(out, cap, "%.*s", (int)len, name);
	const char *p = sql;
	while (*p) {
		while (*p && !isalpha((unsigned char)*p) && *p != '_')
			p++;
		const char *w = p;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		size_t wl = (size_t)(p - w);
		if (!((wl == 4 && !strncasecmp(w, "FROM", 4)) || (wl == 4 && !strncasecmp(w, "JOIN", 4))))
			continue;
		/* FROM table [AS] alias */
		while (isspace((unsigned char)*p))
			p++;
		const char *t = p;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		size_t tl = (size_t)(p - t);
		const char *q = p;
		while (isspace((unsigned char)*q))
			q++;
		if (!strncasecmp(q, "AS ", 3)) {
			q += 3;
			while (isspace((unsigned char)*q))
				q++;
		}
		const char *a = q;
		while (isalnum((unsigned char)*q) || *q == '_')
			q++;
		if (tl && (size_t)(q - a) == len && !strncmp(a, name, len)) {
			snprintf(out, cap, "%.*s", (int)tl, t);
			return;
		}
	}
}

static bool grows(const char *table, size_t len)
{
	for (size_t i = 0; i < sizeof growing / sizeof growing[0]; i++)
		if (strlen(growing[i]) == len && !strncmp(growing[i], table, len))
			return true;
	return false;
}

/* Prepares EXPLAIN QUERY PLAN sql; returns the plan's lines joined, or NULL. Sets *bad and
 * what when a growing table is scanned whole ("SCAN t", with or without an index), or when
 * the rows a search finds in one are all sorted to keep a few ("USE TEMP B-TREE FOR ORDER
 * BY" at the same level of the plan as the search). */
#define PLAN_ROWS 64
static char *plan_of(sqlite3 *db, const char *sql, bool *bad, char *what, size_t what_cap)
{
	char *x = unformat(sql);
	size_t n = strlen(x) + 32;
	char *q = malloc(n);
	snprintf(q, n, "EXPLAIN QUERY PLAN %s", x);
	free(x);
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, q, -1, &s, NULL);
	free(q);
	if (rc != SQLITE_OK)
		return NULL;
	size_t cap = 256, len = 0;
	char *plan = malloc(cap);
	plan[0] = '\0';
	*bad = false;
	what[0] = '\0';
	struct {
		int parent;
		char table[64]; /* a growing table searched at this level, or "" */
		bool sort;
	} rows[PLAN_ROWS];
	int nrows = 0;
	while (sqlite3_step(s) == SQLITE_ROW) {
		int parent = sqlite3_column_int(s, 1);
		const char *d = (const char *)sqlite3_column_text(s, 3);
		size_t dl = strlen(d);
		while (len + dl + 4 > cap)
			plan = realloc(plan, cap *= 2);
		len += (size_t)sprintf(plan + len, "%s; ", d);
		char table[64] = "";
		bool scan = !strncmp(d, "SCAN ", 5), search = !strncmp(d, "SEARCH ", 7);
		if (scan || search) {
			const char *t = d + (scan ? 5 : 7);
			resolve_alias(sql, t, strcspn(t, " "), table, sizeof table);
			if (!grows(table, strlen(table)))
				table[0] = '\0';
		}
		if (scan && table[0] && !*bad) {
			*bad = true;
			snprintf(what, what_cap, "scans every row of %s", table);
		}
		if (nrows < PLAN_ROWS) {
			rows[nrows].parent = parent;
			snprintf(rows[nrows].table, sizeof rows[nrows].table, "%s", table);
			rows[nrows].sort = !strncmp(d, "USE TEMP B-TREE FOR ORDER BY", 28);
			nrows++;
		}
	}
	sqlite3_finalize(s);
	for (int i = 0; i < nrows && !*bad; i++) {
		if (!rows[i].sort)
			continue;
		for (int j = 0; j < nrows; j++)
			if (rows[j].parent == rows[i].parent && rows[j].table[0]) {
				*bad = true;
				snprintf(what, what_cap, "sorts every row it finds in %s", rows[j].table);
				break;
			}
	}
	return plan;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_plans SOURCE_DIR...\n");
		return 2;
	}
	/* twice: a macro may be spliced from macros defined after it in the reading order */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 1; i < argc; i++)
			scan_dir(argv[i], collect_macros);
	for (int i = 1; i < argc; i++)
		scan_dir(argv[i], scan_file);

	char dir[] = "/tmp/sb-plans-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	char path[64];
	snprintf(path, sizeof path, "%s/t.db", dir);
	struct sb_store *st;
	if (sb_store_open(path, &st)) {
		fprintf(stderr, "cannot open a store at %s\n", path);
		return 2;
	}
	sb_store_close(st); /* migrated */
	sqlite3 *db;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "cannot reopen %s\n", path);
		return 2;
	}

	size_t scans = 0, allowed = 0;
	for (size_t i = 0; i < n_stmts; i++) {
		struct stmt *s = &stmts[i];
		bool bad = false;
		char what[128];
		char *plan = plan_of(db, s->sql, &bad, what, sizeof what);
		if (!plan) {
			fail("%s:%d: does not prepare against the schema: %s\n  sql: %s\n", s->file,
			     s->line, sqlite3_errmsg(db), s->sql);
			continue;
		}
		if (getenv("SB_PLANS_VERBOSE"))
			printf("%s:%d\n  sql: %s\n  plan: %s\n", s->file, s->line, s->sql, plan);
		if (bad && s->scan_ok) {
			allowed++;
		} else if (bad) {
			scans++;
			fail("%s:%d: %s (say why in a sql-scan: comment before the string, or give it "
			     "an index)\n  sql: %s\n  plan: %s\n",
			     s->file, s->line, what, s->sql, plan);
		} else if (s->scan_ok) {
			fail("%s:%d: marked sql-scan: but its plan scans no growing table; remove the "
			     "mark\n  plan: %s\n",
			     s->file, s->line, plan);
		}
		free(plan);
	}
	sqlite3_close(db);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);

	/* the reader itself: it must find the statements the store is known to have */
	const char *must[] = { "INSERT INTO inbound_dedupe", "FROM outbox", "INSERT INTO events" };
	for (size_t m = 0; m < sizeof must / sizeof must[0]; m++) {
		bool found = false;
		for (size_t i = 0; i < n_stmts && !found; i++)
			found = strstr(stmts[i].sql, must[m]) != NULL;
		if (!found)
			fail("the source reader found no statement with \"%s\"\n", must[m]);
	}
	if (n_stmts < 50)
		fail("only %zu statements found: is the source reader broken?\n", n_stmts);
	printf("%zu statements, %zu with a justified scan, %zu unjustified scans, %d failures\n",
	       n_stmts, allowed, scans, failures);
	for (size_t i = 0; i < n_stmts; i++)
		free(stmts[i].sql);
	free(stmts);
	for (size_t i = 0; i < n_macros; i++)
		free(macros[i].value);
	return failures ? 1 : 0;
}
