/*
 * handoff.c -- hand-off latency of a hot lease: the time from a holder's
 * release to the next waiter holding it.  Part of the lockable benchmark
 * suite (bench/run.sh); see BENCHMARKS.md for how the figures are used.
 *
 *   handoff -d CONNINFO -k lockable|advisory -m single|relay|multi
 *           [-n ITERATIONS] [-c CLIENTS] [-T SECONDS] [-o RAWFILE]
 *           [-r force|release|shared] [-s SLOTS] [-w WAITERS]
 *
 * Both sides read the server's clock (clock_timestamp(), microseconds) in
 * the statement that does the work, so the interval measured is what the
 * server did, without either client's network round trip:
 *
 *   holder:  SELECT <t_rel>, lockable_release('hot', token)
 *   waiter:  SELECT <t_call>, lockable_acquire('hot', wait => ...), <t_got>
 *
 * A target list is evaluated in order, so t_rel is read just before the
 * release starts and t_got just after the waiter's acquire returns with
 * the lease.  hand-off = t_got - t_rel: the release, the hand-off under the
 * partition lock, the wake-up of the sleeping waiter and its return.
 *
 * single: two connections.  The holder takes the lease; the waiter asks
 *   for it and the program checks (pg_stat_activity.wait_event_type) that
 *   the waiter is asleep before the holder releases.  That check is the
 *   harness making sure of the starting state, outside the interval
 *   measured.  Also reports the client-side interval: release sent by the
 *   holder's client -> waiter's result received by the waiter's client.
 *
 * relay: CLIENTS connections loop { acquire, waiting; release at once }
 *   on one name for SECONDS, as fast as they can.  Grants are put in time
 *   order; for each grant whose acquire started before the previous
 *   holder's release, hand-off = its t_got - the previous t_rel.  A grant
 *   before the previous release started would be two holders at once: it
 *   is counted and reported as "overlaps" (must be 0).
 *
 * multi: one holder and WAITERS waiter connections on one name, several
 *   waiters granted by one statement of the holder.  Per iteration the
 *   holder takes its slots, the waiters queue one after the other (each
 *   checked asleep before the next is sent, so the queue order is known),
 *   then the holder runs one statement that frees room for all of them:
 *     -r force    counting lease (-s SLOTS): the holder holds all SLOTS;
 *                 lockable_force_release(name) ends them at once
 *     -r release  the same, but the holder releases its SLOTS tokens one by
 *                 one inside that statement (SLOTS releases, each granting
 *                 one waiter)
 *     -r shared   reader/writer: the holder holds the name exclusively, the
 *                 waiters ask for it with shared => true; one release
 *                 lets them all in
 *   Every waiter must be granted (WAITERS <= SLOTS; any number with
 *   shared).  first = the earliest waiter's t_got - t_rel, all = the
 *   latest one's: the time until every queued waiter holds the lease.  The
 *   tokens must increase in queue order (strict arrival order, and tokens
 *   of one name increase in grant order): a waiter granted out of turn is
 *   counted as "order_violations" (must be 0).  With -k advisory only
 *   shared exists: pg_advisory_lock against pg_advisory_lock_shared
 *   waiters, the lock manager's own group wake-up.
 *
 * advisory: the same with pg_advisory_lock()/pg_advisory_unlock(), the
 *   peer: the lock manager also grants a released lock to its first waiter
 *   and wakes it.
 *
 * Output: one line "key=value ..." on stdout; raw samples (microseconds)
 * to RAWFILE when given.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#define NOW_US "(extract(epoch from clock_timestamp()) * 1000000)::int8"
#define MAXCLIENTS 256

typedef enum
{
	KIND_LOCKABLE,
	KIND_ADVISORY
} Kind;

static Kind kind = KIND_LOCKABLE;
static const char *conninfo = "";

static void
die(const char *msg, PGconn *conn)
{
	fprintf(stderr, "handoff: %s%s%s\n", msg, conn ? ": " : "",
			conn ? PQerrorMessage(conn) : "");
	exit(2);
}

static double
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static PGconn *
connect_one(void)
{
	PGconn	   *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK)
		die("connection failed", c);
	return c;
}

static void
prepare(PGconn *c, const char *name, const char *sql, int nparams)
{
	PGresult   *r = PQprepare(c, name, sql, nparams, NULL);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		die("prepare failed", c);
	PQclear(r);
}

/*
 * The statements, per kind.  "acq" waits up to 30 s (never reached here:
 * every holder releases at once); lockable's waiter sleeps on its condition
 * variable until signalled or until the holder's deadline (60 s), so there
 * is no periodic wake-up involved.
 */
static void
prepare_all(PGconn *c, const char *name)
{
	char		sql[512];

	if (kind == KIND_LOCKABLE)
	{
		snprintf(sql, sizeof(sql),
				 "SELECT lockable_acquire('%s', ttl => '60 s')", name);
		prepare(c, "try", sql, 0);
		snprintf(sql, sizeof(sql),
				 "SELECT " NOW_US ", lockable_acquire('%s', ttl => '60 s', wait => '30 s'), " NOW_US,
				 name);
		prepare(c, "acq", sql, 0);
		snprintf(sql, sizeof(sql),
				 "SELECT " NOW_US ", lockable_release('%s', $1::int8)", name);
		prepare(c, "rel", sql, 1);
	}
	else
	{
		/* the advisory key: a hash of the name, like an application would */
		snprintf(sql, sizeof(sql),
				 "SELECT CASE WHEN pg_try_advisory_lock(hashtext('%s')) THEN 1 END", name);
		prepare(c, "try", sql, 0);
		/* same columns as lockable: t_call, a dummy token (1), t_got */
		snprintf(sql, sizeof(sql),
				 "SELECT " NOW_US ", CASE WHEN pg_advisory_lock(hashtext('%s')) IS NULL THEN 1 ELSE 1 END, " NOW_US,
				 name);
		prepare(c, "acq", sql, 0);
		snprintf(sql, sizeof(sql),
				 "SELECT " NOW_US ", pg_advisory_unlock(hashtext('%s')) AND $1::int8 IS NOT NULL", name);
		prepare(c, "rel", sql, 1);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* nearest-rank percentile of a sorted array */
static double
pct(const double *v, int n, double p)
{
	int			i;

	if (n == 0)
		return 0;
	i = (int) (p / 100.0 * n + 0.999999) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i];
}

static void
summary(const char *label, double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	printf(" %s_n=%d %s_median_us=%.1f %s_p90_us=%.1f %s_p99_us=%.1f %s_max_us=%.1f",
		   label, n, label, pct(v, n, 50), label, pct(v, n, 90),
		   label, pct(v, n, 99), label, n ? v[n - 1] : 0.0);
}

/* Wait for one query's single row on a connection that has sent it */
static PGresult *
get_one(PGconn *c)
{
	PGresult   *r = PQgetResult(c);
	PGresult   *extra;

	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK)
		die("query failed", c);
	while ((extra = PQgetResult(c)) != NULL)
		PQclear(extra);
	return r;
}

static long long
val_ll(PGresult *r, int col)
{
	if (PQgetisnull(r, 0, col))
		return -1;
	return atoll(PQgetvalue(r, 0, col));
}

/*
 * The monitor connection's statement that wait_asleep runs; prepared once
 * per monitor connection.
 */
static void
prepare_monitor(PGconn *mon)
{
	prepare(mon, "asleep",
			"SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1::int", 1);
}

/*
 * Wait until the backend of connection w, which has sent its acquire, is
 * asleep in it (its wait_event_type is want): the harness making sure of
 * the starting state, outside any interval measured.
 */
static void
wait_asleep(PGconn *mon, PGconn *w, const char *want)
{
	char		wpid[32];
	const char *wparams[1];

	snprintf(wpid, sizeof(wpid), "%d", PQbackendPID(w));
	wparams[0] = wpid;
	for (int tries = 0;; tries++)
	{
		PGresult   *r = PQexecPrepared(mon, "asleep", 1, wparams, NULL, NULL, 0);
		bool		asleep;

		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			die("pg_stat_activity", mon);
		asleep = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), want) == 0;
		PQclear(r);
		if (asleep)
			return;
		if (tries >= 20000)
			die("waiter never went to sleep", NULL);
		usleep(100);
	}
}

/* ---------------------------------------------------------------- single */

static void
run_single(int iterations, FILE *raw)
{
	PGconn	   *h = connect_one();
	PGconn	   *w = connect_one();
	PGconn	   *mon = connect_one();
	const char *name = "bench:handoff:single";
	const char *want = kind == KIND_LOCKABLE ? "Extension" : "Lock";
	double	   *server = calloc(iterations, sizeof(double));
	double	   *client = calloc(iterations, sizeof(double));
	double	   *holder_rtt = calloc(iterations, sizeof(double));
	int			n = 0;
	PGresult   *r;

	prepare_all(h, name);
	prepare_all(w, name);
	prepare_monitor(mon);

	for (int it = 0; it < iterations; it++)
	{
		char		tokbuf[32];
		const char *params[1];
		double		t0,
					t_h = 0,
					t_w = 0;
		long long	t_rel = -1,
					t_got = -1,
					wtok;

		/* holder takes the lease */
		r = PQexecPrepared(h, "try", 0, NULL, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQgetisnull(r, 0, 0))
			die("holder could not take the lease", h);
		snprintf(tokbuf, sizeof(tokbuf), "%s", PQgetvalue(r, 0, 0));
		PQclear(r);

		/* waiter asks for it, and we make sure it is asleep */
		if (!PQsendQueryPrepared(w, "acq", 0, NULL, NULL, NULL, 0))
			die("send failed", w);
		wait_asleep(mon, w, want);

		/* the measured part: release, and both results as they come */
		params[0] = tokbuf;
		t0 = mono_us();
		if (!PQsendQueryPrepared(h, "rel", 1, params, NULL, NULL, 0))
			die("send failed", h);
		while (t_h == 0 || t_w == 0)
		{
			struct pollfd pfd[2];
			int			np = 0;

			if (t_h == 0)
				pfd[np++] = (struct pollfd) {PQsocket(h), POLLIN, 0};
			if (t_w == 0)
				pfd[np++] = (struct pollfd) {PQsocket(w), POLLIN, 0};
			if (poll(pfd, np, 10000) < 0 && errno != EINTR)
				die("poll", NULL);
			if (t_h == 0)
			{
				if (!PQconsumeInput(h))
					die("holder", h);
				if (!PQisBusy(h))
				{
					t_h = mono_us();
					r = get_one(h);
					t_rel = val_ll(r, 0);
					if (strcmp(PQgetvalue(r, 0, 1), "t") != 0)
						die("release returned false", NULL);
					PQclear(r);
				}
			}
			if (t_w == 0)
			{
				if (!PQconsumeInput(w))
					die("waiter", w);
				if (!PQisBusy(w))
				{
					t_w = mono_us();
					r = get_one(w);
					wtok = val_ll(r, 1);
					t_got = val_ll(r, 2);
					if (wtok < 0)
						die("waiter did not get the lease", NULL);
					snprintf(tokbuf, sizeof(tokbuf), "%lld", wtok);
					PQclear(r);
				}
			}
		}
		server[n] = (double) (t_got - t_rel);
		client[n] = t_w - t0;
		holder_rtt[n] = t_h - t0;
		if (raw)
			fprintf(raw, "%.0f\t%.1f\t%.1f\n", server[n], client[n], holder_rtt[n]);
		n++;

		/* the waiter, now the holder, lets go (not measured) */
		params[0] = tokbuf;
		r = PQexecPrepared(w, "rel", 1, params, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			die("waiter release", w);
		PQclear(r);
	}

	printf("kind=%s mode=single clients=2",
		   kind == KIND_LOCKABLE ? "lockable" : "advisory");
	summary("server", server, n);
	summary("client", client, n);
	summary("holder_rtt", holder_rtt, n);
	printf("\n");
	PQfinish(h);
	PQfinish(w);
	PQfinish(mon);
}

/* ----------------------------------------------------------------- relay */

typedef struct Grant
{
	long long	t_call;
	long long	t_got;
	long long	t_rel;
} Grant;

typedef enum
{
	ST_ACQ,
	ST_REL,
	ST_DONE
} State;

typedef struct Client
{
	PGconn	   *conn;
	State		st;
	char		tok[32];
	int			grant;			/* index of the grant held */
} Client;

static int
cmp_grant(const void *a, const void *b)
{
	long long	x = ((const Grant *) a)->t_got;
	long long	y = ((const Grant *) b)->t_got;

	return (x > y) - (x < y);
}

static void
run_relay(int nclients, double seconds, FILE *raw)
{
	const char *name = "bench:handoff:relay";
	Client	   *cl = calloc(nclients, sizeof(Client));
	int			cap = 1 << 20;
	Grant	   *g = malloc(sizeof(Grant) * cap);
	int			ng = 0;
	int			active = nclients;
	double		end;
	double	   *hand;
	int			nh = 0,
				overlaps = 0,
				fresh = 0;

	for (int i = 0; i < nclients; i++)
	{
		cl[i].conn = connect_one();
		prepare_all(cl[i].conn, name);
	}
	end = mono_us() + seconds * 1e6;
	for (int i = 0; i < nclients; i++)
	{
		if (!PQsendQueryPrepared(cl[i].conn, "acq", 0, NULL, NULL, NULL, 0))
			die("send", cl[i].conn);
		cl[i].st = ST_ACQ;
	}

	while (active > 0)
	{
		struct pollfd pfd[MAXCLIENTS];
		int			map[MAXCLIENTS];
		int			np = 0;

		for (int i = 0; i < nclients; i++)
			if (cl[i].st != ST_DONE)
			{
				map[np] = i;
				pfd[np++] = (struct pollfd) {PQsocket(cl[i].conn), POLLIN, 0};
			}
		if (poll(pfd, np, 10000) < 0 && errno != EINTR)
			die("poll", NULL);
		for (int k = 0; k < np; k++)
		{
			Client	   *c = &cl[map[k]];
			PGresult   *r;

			if (!(pfd[k].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			if (!PQconsumeInput(c->conn))
				die("consume", c->conn);
			if (PQisBusy(c->conn))
				continue;
			r = get_one(c->conn);
			if (c->st == ST_ACQ)
			{
				const char *params[1];

				if (PQgetisnull(r, 0, 1))
					die("acquire timed out", NULL);
				if (ng == cap)
				{
					cap *= 2;
					g = realloc(g, sizeof(Grant) * cap);
				}
				g[ng].t_call = val_ll(r, 0);
				g[ng].t_got = val_ll(r, 2);
				g[ng].t_rel = -1;
				c->grant = ng++;
				snprintf(c->tok, sizeof(c->tok), "%s", PQgetvalue(r, 0, 1));
				params[0] = c->tok;
				if (!PQsendQueryPrepared(c->conn, "rel", 1, params, NULL, NULL, 0))
					die("send", c->conn);
				c->st = ST_REL;
			}
			else
			{
				g[c->grant].t_rel = val_ll(r, 0);
				if (strcmp(PQgetvalue(r, 0, 1), "t") != 0)
					die("release returned false", NULL);
				if (mono_us() < end)
				{
					if (!PQsendQueryPrepared(c->conn, "acq", 0, NULL, NULL, NULL, 0))
						die("send", c->conn);
					c->st = ST_ACQ;
				}
				else
				{
					c->st = ST_DONE;
					active--;
				}
			}
			PQclear(r);
		}
	}

	qsort(g, ng, sizeof(Grant), cmp_grant);
	hand = malloc(sizeof(double) * (ng + 1));
	for (int i = 1; i < ng; i++)
	{
		if (g[i].t_got < g[i - 1].t_rel)
		{
			overlaps++;
			continue;
		}
		if (g[i].t_call >= g[i - 1].t_rel)
		{
			fresh++;			/* nobody was waiting: not a hand-off */
			continue;
		}
		hand[nh] = (double) (g[i].t_got - g[i - 1].t_rel);
		if (raw)
			fprintf(raw, "%.0f\n", hand[nh]);
		nh++;
	}
	printf("kind=%s mode=relay clients=%d grants=%d grants_per_s=%.0f overlaps=%d not_waiting=%d",
		   kind == KIND_LOCKABLE ? "lockable" : "advisory", nclients, ng,
		   ng / seconds, overlaps, fresh);
	summary("server", hand, nh);
	printf("\n");
	for (int i = 0; i < nclients; i++)
		PQfinish(cl[i].conn);
}

/* ----------------------------------------------------------------- multi */

typedef enum
{
	REL_FORCE,
	REL_RELEASE,
	REL_SHARED
} MultiRelease;

static const char *const multi_release_names[] = {"force", "release", "shared"};

/*
 * The statements of the multi mode.  The holder's "mrel" frees room for
 * every waiter in one statement, and reads the server's clock just before
 * (t_rel, as in rel).  The waiters' "macq" is acq with the lease's mode.
 */
static void
prepare_multi(PGconn *c, const char *name, MultiRelease how, int slots)
{
	char		sql[768];

	if (kind == KIND_ADVISORY)
	{
		snprintf(sql, sizeof(sql),
				 "SELECT CASE WHEN pg_try_advisory_lock(hashtext('%s')) THEN 1 END", name);
		prepare(c, "mtry", sql, 0);
		snprintf(sql, sizeof(sql),
				 "SELECT " NOW_US ", CASE WHEN pg_advisory_lock_shared(hashtext('%s')) IS NULL THEN 1 ELSE 1 END, " NOW_US,
				 name);
		prepare(c, "macq", sql, 0);
		snprintf(sql, sizeof(sql),
				 "SELECT " NOW_US ", pg_advisory_unlock(hashtext('%s')) AND $1::int8[] IS NOT NULL", name);
		prepare(c, "mrel", sql, 1);
		snprintf(sql, sizeof(sql),
				 "SELECT pg_advisory_unlock_shared(hashtext('%s')) AND $1::int8 IS NOT NULL", name);
		prepare(c, "wrel", sql, 1);
		return;
	}
	if (how == REL_SHARED)
	{
		/* the writer: exclusive, slots 1; the readers: shared, unlimited */
		snprintf(sql, sizeof(sql),
				 "SELECT lockable_acquire('%s', ttl => '60 s')", name);
		prepare(c, "mtry", sql, 0);
		snprintf(sql, sizeof(sql),
				 "SELECT " NOW_US ", lockable_acquire('%s', ttl => '60 s', wait => '30 s', shared => true), " NOW_US,
				 name);
		prepare(c, "macq", sql, 0);
	}
	else
	{
		snprintf(sql, sizeof(sql),
				 "SELECT lockable_acquire('%s', ttl => '60 s', slots => %d)", name, slots);
		prepare(c, "mtry", sql, 0);
		snprintf(sql, sizeof(sql),
				 "SELECT " NOW_US ", lockable_acquire('%s', ttl => '60 s', wait => '30 s', slots => %d), " NOW_US,
				 name, slots);
		prepare(c, "macq", sql, 0);
	}
	if (how == REL_FORCE)
		snprintf(sql, sizeof(sql),
				 "SELECT " NOW_US ", lockable_force_release('%s') AND $1::int8[] IS NOT NULL", name);
	else
		snprintf(sql, sizeof(sql),
				 "SELECT " NOW_US ", (SELECT count(*) FROM unnest($1::int8[]) t WHERE lockable_release('%s', t)) = cardinality($1::int8[])",
				 name);
	prepare(c, "mrel", sql, 1);
	snprintf(sql, sizeof(sql), "SELECT lockable_release('%s', $1::int8)", name);
	prepare(c, "wrel", sql, 1);
}

static void
run_multi(int iterations, MultiRelease how, int slots, int nwaiters, FILE *raw)
{
	PGconn	   *h = connect_one();
	PGconn	   *mon = connect_one();
	PGconn	   *w[MAXCLIENTS];
	const char *name = "bench:handoff:multi";
	const char *want = kind == KIND_LOCKABLE ? "Extension" : "Lock";
	int			nheld = how == REL_SHARED ? 1 : slots;
	double	   *first = calloc(iterations, sizeof(double));
	double	   *all = calloc(iterations, sizeof(double));
	double	   *client = calloc(iterations, sizeof(double));
	double	   *holder_rtt = calloc(iterations, sizeof(double));
	int			n = 0,
				violations = 0;
	PGresult   *r;

	if (kind == KIND_ADVISORY && how != REL_SHARED)
		die("-k advisory has only -r shared (advisory locks do not count)", NULL);
	if (how != REL_SHARED && nwaiters > slots)
		die("-w must not exceed -s: every waiter must fit once the holder lets go", NULL);
	prepare_multi(h, name, how, slots);
	for (int i = 0; i < nwaiters; i++)
	{
		w[i] = connect_one();
		prepare_multi(w[i], name, how, slots);
	}
	prepare_monitor(mon);

	for (int it = 0; it < iterations; it++)
	{
		char		held[4096];
		char		wtok[MAXCLIENTS][32];
		long long	t_got[MAXCLIENTS];
		long long	tokv[MAXCLIENTS];
		bool		done[MAXCLIENTS];
		const char *params[1];
		int			len = 0,
					left = nwaiters;
		long long	t_rel = -1,
					lo = -1,
					hi = -1;
		double		t0,
					t_h = 0,
					t_last = 0;

		/* the holder takes its slots: an array literal of its tokens */
		held[len++] = '{';
		for (int k = 0; k < nheld; k++)
		{
			r = PQexecPrepared(h, "mtry", 0, NULL, NULL, NULL, 0);
			if (PQresultStatus(r) != PGRES_TUPLES_OK || PQgetisnull(r, 0, 0))
				die("holder could not take its slots", h);
			len += snprintf(held + len, sizeof(held) - len, "%s%s",
							k ? "," : "", PQgetvalue(r, 0, 0));
			PQclear(r);
		}
		snprintf(held + len, sizeof(held) - len, "}");

		/* the waiters queue, one at a time, each asleep before the next */
		for (int i = 0; i < nwaiters; i++)
		{
			if (!PQsendQueryPrepared(w[i], "macq", 0, NULL, NULL, NULL, 0))
				die("send failed", w[i]);
			wait_asleep(mon, w[i], want);
			done[i] = false;
		}

		/* the measured part: one statement frees room for all of them */
		params[0] = held;
		t0 = mono_us();
		if (!PQsendQueryPrepared(h, "mrel", 1, params, NULL, NULL, 0))
			die("send failed", h);
		while (t_h == 0 || left > 0)
		{
			struct pollfd pfd[MAXCLIENTS + 1];
			int			map[MAXCLIENTS + 1];
			int			np = 0;

			if (t_h == 0)
			{
				map[np] = -1;
				pfd[np++] = (struct pollfd) {PQsocket(h), POLLIN, 0};
			}
			for (int i = 0; i < nwaiters; i++)
				if (!done[i])
				{
					map[np] = i;
					pfd[np++] = (struct pollfd) {PQsocket(w[i]), POLLIN, 0};
				}
			if (poll(pfd, np, 10000) < 0 && errno != EINTR)
				die("poll", NULL);
			for (int k = 0; k < np; k++)
			{
				PGconn	   *c = map[k] < 0 ? h : w[map[k]];

				if (!(pfd[k].revents & (POLLIN | POLLERR | POLLHUP)))
					continue;
				if (!PQconsumeInput(c))
					die("consume", c);
				if (PQisBusy(c))
					continue;
				r = get_one(c);
				if (map[k] < 0)
				{
					t_h = mono_us();
					t_rel = val_ll(r, 0);
					if (strcmp(PQgetvalue(r, 0, 1), "t") != 0)
						die("the holder's release returned false", NULL);
				}
				else
				{
					int			i = map[k];

					if (PQgetisnull(r, 0, 1))
						die("a waiter did not get the lease", NULL);
					tokv[i] = val_ll(r, 1);
					t_got[i] = val_ll(r, 2);
					snprintf(wtok[i], sizeof(wtok[i]), "%s", PQgetvalue(r, 0, 1));
					done[i] = true;
					left--;
					t_last = mono_us();
				}
				PQclear(r);
			}
		}
		for (int i = 0; i < nwaiters; i++)
		{
			if (lo < 0 || t_got[i] < lo)
				lo = t_got[i];
			if (t_got[i] > hi)
				hi = t_got[i];
			/* advisory "tokens" are all 1: nothing to order */
			if (i > 0 && kind == KIND_LOCKABLE && tokv[i] <= tokv[i - 1])
				violations++;
		}
		first[n] = (double) (lo - t_rel);
		all[n] = (double) (hi - t_rel);
		client[n] = t_last - t0;
		holder_rtt[n] = t_h - t0;
		if (raw)
			fprintf(raw, "%.0f\t%.0f\t%.1f\t%.1f\n", first[n], all[n], client[n], holder_rtt[n]);
		n++;

		/* the waiters, now holders, let go together (not measured) */
		for (int i = 0; i < nwaiters; i++)
		{
			params[0] = wtok[i];
			if (!PQsendQueryPrepared(w[i], "wrel", 1, params, NULL, NULL, 0))
				die("send failed", w[i]);
		}
		for (int i = 0; i < nwaiters; i++)
		{
			r = get_one(w[i]);
			if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
				die("a waiter's release returned false", NULL);
			PQclear(r);
		}
	}

	printf("kind=%s mode=multi release=%s slots=%d waiters=%d clients=%d order_violations=%d",
		   kind == KIND_LOCKABLE ? "lockable" : "advisory",
		   multi_release_names[how], how == REL_SHARED ? 0 : slots,
		   nwaiters, nwaiters + 1, violations);
	summary("first", first, n);
	summary("all", all, n);
	summary("client_all", client, n);
	summary("holder_rtt", holder_rtt, n);
	printf("\n");
	PQfinish(h);
	PQfinish(mon);
	for (int i = 0; i < nwaiters; i++)
		PQfinish(w[i]);
}

int
main(int argc, char **argv)
{
	const char *mode = "single";
	const char *rawpath = NULL;
	int			iterations = 1000;
	int			nclients = 8;
	double		seconds = 5;
	FILE	   *raw = NULL;
	MultiRelease how = REL_FORCE;
	int			slots = 4;
	int			nwaiters = 4;
	int			opt;

	while ((opt = getopt(argc, argv, "d:k:m:n:c:T:o:r:s:w:")) != -1)
	{
		switch (opt)
		{
			case 'd':
				conninfo = optarg;
				break;
			case 'k':
				if (strcmp(optarg, "lockable") == 0)
					kind = KIND_LOCKABLE;
				else if (strcmp(optarg, "advisory") == 0)
					kind = KIND_ADVISORY;
				else
					die("-k must be lockable or advisory", NULL);
				break;
			case 'm':
				mode = optarg;
				break;
			case 'n':
				iterations = atoi(optarg);
				break;
			case 'c':
				nclients = atoi(optarg);
				break;
			case 'T':
				seconds = atof(optarg);
				break;
			case 'o':
				rawpath = optarg;
				break;
			case 'r':
				if (strcmp(optarg, "force") == 0)
					how = REL_FORCE;
				else if (strcmp(optarg, "release") == 0)
					how = REL_RELEASE;
				else if (strcmp(optarg, "shared") == 0)
					how = REL_SHARED;
				else
					die("-r must be force, release or shared", NULL);
				break;
			case 's':
				slots = atoi(optarg);
				break;
			case 'w':
				nwaiters = atoi(optarg);
				break;
			default:
				fprintf(stderr, "usage: handoff -d CONNINFO -k lockable|advisory -m single|relay|multi [-n N] [-c CLIENTS] [-T SECONDS] [-o RAWFILE] [-r force|release|shared] [-s SLOTS] [-w WAITERS]\n");
				return 2;
		}
	}
	if (nclients < 2 || nclients > MAXCLIENTS)
		die("-c must be between 2 and 256", NULL);
	/* the holder's tokens go in one array literal of at most 4 kB */
	if (slots < 1 || slots > 200)
		die("-s must be between 1 and 200", NULL);
	if (nwaiters < 1 || nwaiters > MAXCLIENTS)
		die("-w must be between 1 and 256", NULL);
	if (rawpath && (raw = fopen(rawpath, "w")) == NULL)
		die("cannot open the raw output file", NULL);

	if (strcmp(mode, "single") == 0)
		run_single(iterations, raw);
	else if (strcmp(mode, "relay") == 0)
		run_relay(nclients, seconds, raw);
	else if (strcmp(mode, "multi") == 0)
		run_multi(iterations, how, slots, nwaiters, raw);
	else
		die("-m must be single, relay or multi", NULL);
	if (raw)
		fclose(raw);
	return 0;
}
