/*-------------------------------------------------------------------------
 *
 * run_client.c
 *	  lockable-run: the libpq lease client.  One connection serves
 *	  lockable_acquire(), lockable_heartbeat() and lockable_release(), one
 *	  query at a time; when it breaks it is re-established with
 *	  PQresetStart().  Lease names and tokens are always passed as query
 *	  parameters.  With --slots or --shared the acquire asks for a counting
 *	  or shared lease; heartbeat and release are per token either way.
 *
 * libpq is used asynchronously (PQsendQueryParams, PQresetStart and
 * PQresetPoll) around one poll() that also watches the signal pipe, so
 * that a server that stops answering can never keep the supervisor from
 * killing the command in time, and a signal can end a wait for the lease.
 * This file knows nothing of the command: what the supervisor does when
 * the lease is lost is its own business.
 *
 * Copyright (c) 2026, the lockable authors
 *
 * IDENTIFICATION
 *	  tools/run_client.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lockable_run.h"

/* The client closed at exit (atexit() takes no argument) */
static LeaseClient *exit_client = NULL;


/*
 * A plain lease, the only kind before extension version 1.3: no --slots,
 * no --shared.
 */
static bool
plain_lease(const RunOptions *opts)
{
	return opts->slots == 1 && !opts->shared;
}


/*
 * Copy a libpq message into buf as one line: every run of white space that
 * contains a newline becomes one space, trailing white space goes.
 */
static void
one_line(char *buf, size_t size, const char *msg)
{
	size_t		len = 0;
	const char *p;

	for (p = msg; *p && len + 1 < size; p++)
	{
		if (*p == '\n')
		{
			while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
				len--;
			while (p[1] == '\n' || p[1] == '\t' || p[1] == ' ')
				p++;
			if (p[1] != '\0' && len > 0)
				buf[len++] = ' ';
			continue;
		}
		buf[len++] = *p;
	}
	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	buf[len] = '\0';
}

/*
 * Remember why the connection failed: the first line of libpq's message
 * (the rest is advice such as "Is the server running locally...").
 */
void
set_conn_error(LeaseClient *lc, const char *msg)
{
	char	   *nl;

	snprintf(lc->error, sizeof(lc->error), "%s",
			 (msg && *msg) ? msg : "connection lost");
	nl = strchr(lc->error, '\n');
	if (nl)
		*nl = '\0';
	one_line(lc->error, sizeof(lc->error), lc->error);
	if (lc->error[0] == '\0')
		snprintf(lc->error, sizeof(lc->error), "connection lost");
}

/* Forget the query in flight, and what it had returned so far */
static void
drop_query(LeaseClient *lc)
{
	if (lc->query_first_result)
	{
		PQclear(lc->query_first_result);
		lc->query_first_result = NULL;
	}
	lc->query_kind = QUERY_NONE;
}

static void
conn_broken(LeaseClient *lc, const char *msg)
{
	set_conn_error(lc, msg);
	drop_query(lc);
	lc->state = CONN_DOWN;
	/* the first attempt to reconnect comes at once */
	lc->reset_retry_at = now_usec();
	report(LEVEL_VERBOSE, "connection failed: %s", lc->error);
}

/* Start reconnecting, abandoning the query in flight if there is one */
void
start_reset(LeaseClient *lc)
{
	drop_query(lc);
	lc->reset_started = now_usec();
	report(LEVEL_VERBOSE, "reconnecting");
	if (!PQresetStart(lc->conn))
	{
		set_conn_error(lc, PQerrorMessage(lc->conn));
		lc->state = CONN_DOWN;
		lc->reset_retry_at = lc->reset_started + lc->retry_delay;
		return;
	}
	lc->state = CONN_RESETTING;
	lc->reset_status = PGRES_POLLING_WRITING;
}

static void
reset_step(LeaseClient *lc)
{
	lc->reset_status = PQresetPoll(lc->conn);
	if (lc->reset_status == PGRES_POLLING_OK)
	{
		lc->state = CONN_IDLE;
		report(LEVEL_VERBOSE, "reconnected");
	}
	else if (lc->reset_status == PGRES_POLLING_FAILED)
	{
		set_conn_error(lc, PQerrorMessage(lc->conn));
		lc->state = CONN_DOWN;
		lc->reset_retry_at = now_usec() + lc->retry_delay;
		report(LEVEL_VERBOSE, "could not reconnect: %s", lc->error);
	}
}

/*
 * Has the server closed the idle connection (a restart terminates idle
 * sessions)?  Then a query sent on it would be lost in an ambiguous way:
 * better find out before sending.
 */
static bool
idle_conn_alive(PGconn *conn)
{
	struct pollfd pfd;
	int			i;

	/*
	 * A closing server sends a FATAL message, then EOF.  PQconsumeInput()
	 * only reads: PQisBusy() parses what was read (the message goes to the
	 * notice processor), and a further read finds the EOF.
	 */
	for (i = 0; i < 4; i++)
	{
		pfd.fd = PQsocket(conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (pfd.fd < 0)
			return false;
		if (poll(&pfd, 1, 0) <= 0)
			break;
		if (!PQconsumeInput(conn))
			return false;
		(void) PQisBusy(conn);
		if (PQstatus(conn) == CONNECTION_BAD)
			return false;
	}
	return true;
}

/*
 * Send a query of the given kind.  Returns false, with the connection DOWN,
 * if it was not sent.
 */
bool
send_query(LeaseClient *lc, QueryKind kind)
{
	const char *sql = NULL;
	const char *values[5];
	int			nparams = 0;

	values[0] = lc->opts->name;
	switch (kind)
	{
		case QUERY_ACQUIRE:
			values[1] = lc->ttl_param;
			values[2] = lc->opts->wait == FOREVER ? NULL : lc->wait_param;
			nparams = 3;

			/*
			 * Only a counting or shared lease passes slots and shared: the
			 * plain acquire stays the call that every extension version
			 * has, so that lockable-run without --slots and --shared keeps
			 * working with a database still at 1.2.
			 */
			if (plain_lease(lc->opts))
			{
				sql = "SELECT lockable_acquire($1::text, $2::interval, $3::interval, false)";
				break;
			}
			sql = "SELECT lockable_acquire($1::text, $2::interval, $3::interval, false, "
				"slots => $4::integer, shared => $5::boolean)";
			values[3] = lc->slots_param;
			values[4] = lc->opts->shared ? "true" : "false";
			nparams = 5;
			break;
		case QUERY_HEARTBEAT:
			sql = "SELECT lockable_heartbeat($1::text, $2::bigint, $3::interval)";
			values[1] = lc->token_param;
			values[2] = lc->ttl_param;
			nparams = 3;
			break;
		case QUERY_RELEASE:
			sql = "SELECT lockable_release($1::text, $2::bigint)";
			values[1] = lc->token_param;
			nparams = 2;
			break;
		case QUERY_EXTVERSION:
			sql = "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'lockable'";
			nparams = 0;
			break;
		case QUERY_NONE:
			return false;
	}

	if (!idle_conn_alive(lc->conn))
	{
		conn_broken(lc, PQerrorMessage(lc->conn));
		return false;
	}
	lc->query_sent = now_usec();
	if (!PQsendQueryParams(lc->conn, sql, nparams, NULL, values, NULL, NULL, 0))
	{
		conn_broken(lc, PQerrorMessage(lc->conn));
		return false;
	}
	lc->query_kind = kind;
	lc->state = CONN_BUSY;
	return true;
}

/* Read what the server sent for the query in flight */
static void
query_step(LeaseClient *lc)
{
	PGresult   *res;

	if (!PQconsumeInput(lc->conn))
	{
		conn_broken(lc, PQerrorMessage(lc->conn));
		return;
	}
	while (!PQisBusy(lc->conn))
	{
		res = PQgetResult(lc->conn);
		if (res != NULL)
		{
			if (lc->query_first_result == NULL)
				lc->query_first_result = res;
			else
				PQclear(res);
			continue;
		}

		/* the query is complete */
		if (PQstatus(lc->conn) == CONNECTION_BAD || lc->query_first_result == NULL)
		{
			conn_broken(lc, lc->query_first_result ?
						PQresultErrorMessage(lc->query_first_result) :
						PQerrorMessage(lc->conn));
			return;
		}
		if (lc->result)
			PQclear(lc->result);
		lc->result = lc->query_first_result;
		lc->query_first_result = NULL;
		lc->result_kind = lc->query_kind;
		lc->result_sent = lc->query_sent;
		lc->result_ready = true;
		lc->query_kind = QUERY_NONE;
		lc->state = CONN_IDLE;
		return;
	}
}

/* Take the finished query's result; the caller clears it */
PGresult *
take_result(LeaseClient *lc, QueryKind *kind, int64_t *sent)
{
	PGresult   *res = lc->result;

	*kind = lc->result_kind;
	*sent = lc->result_sent;
	lc->result = NULL;
	lc->result_ready = false;
	return res;
}

/* Is this a one-row, one-column result of a successful query? */
bool
result_ok(PGresult *res)
{
	return PQresultStatus(res) == PGRES_TUPLES_OK &&
		PQntuples(res) == 1 && PQnfields(res) == 1;
}

/* Is this the answer true (heartbeat, release)? */
static bool
result_true(PGresult *res)
{
	return result_ok(res) && !PQgetisnull(res, 0, 0) &&
		strcmp(PQgetvalue(res, 0, 0), "t") == 0;
}

/* A server error as one line: "ERROR:  message DETAIL:  ..." */
const char *
result_error(PGresult *res)
{
	static char buf[1024];

	one_line(buf, sizeof(buf), PQresultErrorMessage(res));
	if (buf[0] == '\0')
		snprintf(buf, sizeof(buf), "%s", PQresStatus(PQresultStatus(res)));
	return buf;
}

/* The poll() timeout, in milliseconds, until 'until' (-1: no limit) */
static int
poll_timeout(int64_t until)
{
	int64_t		left;

	if (until < 0)
		return -1;
	left = until - now_usec();
	if (left <= 0)
		return 0;
	if (left / 1000 >= INT_MAX)
		return INT_MAX;
	return (int) ((left + 999) / 1000);
}

/*
 * Wait until a signal arrives, the connection has something for us, or the
 * clock reaches 'until' (-1: no limit), and handle what happened: signals
 * become pending (run_signals.c), a finished query becomes lc->result.
 */
void
wait_events(LeaseClient *lc, int64_t until)
{
	struct pollfd fds[2];
	int			nfds = 1;
	int			events = 0;
	int			rc;

	if (lc->state == CONN_BUSY)
		events = POLLIN;
	else if (lc->state == CONN_RESETTING)
		events = lc->reset_status == PGRES_POLLING_READING ? POLLIN : POLLOUT;

	if (events != 0 && PQsocket(lc->conn) < 0)
	{
		/* nothing to wait for: libpq has given up on the socket */
		if (lc->state == CONN_RESETTING)
			reset_step(lc);
		else
			conn_broken(lc, PQerrorMessage(lc->conn));
		return;
	}

	fds[0].fd = signal_pipe_fd();
	fds[0].events = POLLIN;
	fds[0].revents = 0;
	if (events != 0)
	{
		fds[1].fd = PQsocket(lc->conn);
		fds[1].events = events;
		fds[1].revents = 0;
		nfds = 2;
	}

	rc = poll(fds, nfds, poll_timeout(until));
	if (rc < 0)
	{
		if (errno != EINTR)
			report(LEVEL_ALWAYS, "poll failed: %s", strerror(errno));
		return;
	}
	if (fds[0].revents != 0)
		drain_signals();
	if (nfds == 2 && fds[1].revents != 0)
	{
		if (lc->state == CONN_RESETTING)
			reset_step(lc);
		else if (lc->state == CONN_BUSY)
			query_step(lc);
	}
}

/* Ask the server to cancel the query in flight */
static void
cancel_query(LeaseClient *lc)
{
	PGcancel   *cancel = PQgetCancel(lc->conn);
	char		errbuf[256];

	if (cancel == NULL)
		return;
	if (!PQcancel(cancel, errbuf, sizeof(errbuf)))
		report(LEVEL_VERBOSE, "could not send the cancel request: %s", errbuf);
	PQfreeCancel(cancel);
}

/*
 * Run one query and wait for its result until 'deadline' (-1: no limit).
 *
 * Returns the result (the caller clears it), or NULL if the connection
 * failed, the deadline passed (lc->error says why) or, with
 * INTERRUPT_ABANDON, a terminating signal arrived; lc->query_was_sent then
 * tells whether the server may have run the query.  With 'reconnect', a
 * broken connection is re-established first, until the deadline; the query
 * itself is sent once.  With INTERRUPT_CANCEL, a terminating signal cancels
 * the query and the result (an error, or what the server managed to
 * return before the cancel) is still returned.  *interrupted_by gets the
 * signal number, if any.
 */
PGresult *
run_query(LeaseClient *lc, QueryKind kind, int64_t deadline, bool reconnect,
		  InterruptMode interrupt, int *interrupted_by)
{
	bool		sent = false;
	int64_t		cancel_deadline = -1;
	int64_t		now;
	int64_t		until;
	QueryKind	kind_done;
	int64_t		sent_at;
	PGresult   *res;

	*interrupted_by = 0;
	lc->query_was_sent = false;
	for (;;)
	{
		now = now_usec();

		if (lc->result_ready)
		{
			res = take_result(lc, &kind_done, &sent_at);
			if (sent && kind_done == kind)
				return res;
			PQclear(res);		/* the answer to an earlier query */
			continue;
		}

		if (interrupt != INTERRUPT_NONE && *interrupted_by == 0)
		{
			int			signo = pending_terminating_signal();

			if (signo != 0)
			{
				*interrupted_by = signo;
				if (interrupt == INTERRUPT_ABANDON || !sent)
					return NULL;
				if (lc->state == CONN_BUSY)
				{
					report(LEVEL_VERBOSE, "got %s, cancelling", signal_name(signo));
					cancel_query(lc);
					cancel_deadline = now + CANCEL_TIMEOUT;
				}
			}
		}

		if (!sent)
		{
			if (lc->state == CONN_IDLE)
			{
				sent = send_query(lc, kind);
				lc->query_was_sent = sent;
				continue;
			}
			if (lc->state == CONN_DOWN)
			{
				if (!reconnect)
					return NULL;
				if (now >= lc->reset_retry_at)
				{
					start_reset(lc);
					continue;
				}
			}
		}
		else if (lc->state != CONN_BUSY)
			return NULL;		/* the connection failed under the query */

		until = min_deadline(deadline, cancel_deadline);
		if (until >= 0 && now >= until)
		{
			set_conn_error(lc, "no answer from the server in time");
			return NULL;
		}
		if (lc->state == CONN_DOWN)
			until = min_deadline(until, lc->reset_retry_at);
		wait_events(lc, until);
	}
}

/*
 * Server messages outside query results (NOTICE, WARNING; FATAL when the
 * server terminates our idle session, which the outage report covers).
 */
static void
notice_processor(void *arg, const char *message)
{
	char		buf[1024];

	(void) arg;
	one_line(buf, sizeof(buf), message);
	report(strncmp(buf, "FATAL", 5) == 0 ? LEVEL_VERBOSE : LEVEL_NORMAL,
		   "server: %s", buf);
}

/* At exit (not in the command): say goodbye to the server */
void
close_connection(LeaseClient *lc)
{
	if (lc->result)
		PQclear(lc->result);
	lc->result = NULL;
	if (lc->conn)
		PQfinish(lc->conn);
	lc->conn = NULL;
}

static void
close_at_exit(void)
{
	if (exit_client)
		close_connection(exit_client);
}

/*
 * Set up the client for the lease of 'opts' and connect, once: returns
 * false, having said why, if that fails.  The connection is closed at
 * exit; lc must stay valid until then.
 */
bool
client_connect(LeaseClient *lc, const RunOptions *opts)
{
	const char *keywords[3];
	const char *values[3];

	memset(lc, 0, sizeof(*lc));
	lc->opts = opts;
	lc->state = CONN_DOWN;
	lc->query_kind = QUERY_NONE;
	lc->result_kind = QUERY_NONE;

	/* how soon to try again after a failure: half a heartbeat, 10ms to 1s */
	lc->retry_delay = opts->heartbeat / 2;
	if (lc->retry_delay > USECS_PER_SEC)
		lc->retry_delay = USECS_PER_SEC;
	if (lc->retry_delay < 10 * USECS_PER_MSEC)
		lc->retry_delay = 10 * USECS_PER_MSEC;

	snprintf(lc->ttl_param, sizeof(lc->ttl_param), "%lld microseconds",
			 (long long) opts->ttl);
	snprintf(lc->wait_param, sizeof(lc->wait_param), "%lld microseconds",
			 (long long) (opts->wait == FOREVER ? 0 : opts->wait));
	snprintf(lc->slots_param, sizeof(lc->slots_param), "%d", opts->slots);

	keywords[0] = "dbname";
	values[0] = opts->dbname;
	keywords[1] = "fallback_application_name";
	values[1] = progname;
	keywords[2] = NULL;
	values[2] = NULL;
	lc->conn = PQconnectdbParams(keywords, values, 1);
	if (lc->conn == NULL || PQstatus(lc->conn) != CONNECTION_OK)
	{
		set_conn_error(lc, lc->conn ? PQerrorMessage(lc->conn) : "out of memory");
		report(LEVEL_ALWAYS, "could not connect to the database: %s", lc->error);
		return false;
	}
	lc->state = CONN_IDLE;
	PQsetNoticeProcessor(lc->conn, notice_processor, NULL);
	exit_client = lc;
	atexit(close_at_exit);
	return true;
}

/*
 * Handle the answer to a heartbeat sent at 'sent'.  Returns false if the
 * server says the lease is no longer held: the caller declares it lost.  A
 * query that failed only brings the next heartbeat forward.
 */
bool
heartbeat_answer(LeaseClient *lc, PGresult *res, int64_t sent)
{
	const RunOptions *opts = lc->opts;
	char		d[32];

	if (lc->lost)
		return true;
	if (result_true(res))
	{
		lc->last_ok = sent;
		lc->next_heartbeat = sent + opts->heartbeat;
		lc->error[0] = '\0';
		if (lc->outage_reported)
		{
			report(LEVEL_NORMAL, "lease \"%s\" renewed again", opts->name);
			lc->outage_reported = false;
		}
		else
			report(LEVEL_VERBOSE, "lease \"%s\" renewed for %s", opts->name,
				   format_duration(opts->ttl, d, sizeof(d)));
		return true;
	}
	if (result_ok(res))
		return false;

	/* the connection works but the query failed: try again soon */
	report(LEVEL_NORMAL, "could not renew lease \"%s\": %s",
		   opts->name, result_error(res));
	lc->outage_reported = true;
	lc->next_heartbeat = now_usec() + lc->retry_delay;
	return true;
}

/*
 * The acquire found no lockable_acquire() to call (42883): say what to do.
 * The plain call exists in every version, so the extension is missing or
 * not in the search_path; the call with slots and shared needs 1.3, so then
 * ask the database which version it has.  Returns the terminating signal
 * that interrupted that question, if one did.
 */
static int
missing_function_hint(LeaseClient *lc)
{
	PGresult   *res;
	int			signo = 0;
	int			major;
	int			minor;

	if (plain_lease(lc->opts))
	{
		report(LEVEL_ALWAYS, "is the lockable extension installed in this database (CREATE EXTENSION lockable), and in the search_path?");
		return 0;
	}

	res = run_query(lc, QUERY_EXTVERSION, now_usec() + CANCEL_TIMEOUT, false,
					INTERRUPT_ABANDON, &signo);
	if (res && result_ok(res) && !PQgetisnull(res, 0, 0) &&
		sscanf(PQgetvalue(res, 0, 0), "%d.%d", &major, &minor) == 2)
	{
		if (major < 1 || (major == 1 && minor < 3))
			report(LEVEL_ALWAYS, "--slots and --shared need version 1.3 of the lockable extension, and this database has %s: update it with ALTER EXTENSION lockable UPDATE",
				   PQgetvalue(res, 0, 0));
		else
			report(LEVEL_ALWAYS, "is the lockable extension (version %s here) in the search_path?",
				   PQgetvalue(res, 0, 0));
	}
	else if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 0)
		report(LEVEL_ALWAYS, "is the lockable extension installed in this database (CREATE EXTENSION lockable)?");
	else
		report(LEVEL_ALWAYS, "is the lockable extension installed in this database (CREATE EXTENSION lockable), at version 1.3 or later for --slots and --shared (ALTER EXTENSION lockable UPDATE), and in the search_path?");
	if (res)
		PQclear(res);
	return signo;
}

/* Why an acquire that returned NULL did not get the lease, for the message */
static const char *
busy_reason(const RunOptions *opts, char *buf, size_t size)
{
	if (plain_lease(opts))
		return "held by someone else";
	if (!opts->shared)
		snprintf(buf, size, "no slot of %d free, or others are waiting first",
				 opts->slots);
	else if (opts->slots == 1)
		snprintf(buf, size, "held without --shared, or others are waiting first");
	else
		snprintf(buf, size, "no shared slot of %d free, held without --shared, or others are waiting first",
				 opts->slots);
	return buf;
}

/*
 * Why the acquire failed, and the exit status for it: the query failed
 * (no answer, or an error), or the lease is busy.  'res' may be NULL; a
 * terminating signal that came during the wait wins.
 */
static int
acquire_failed(LeaseClient *lc, PGresult *res, int signo)
{
	const RunOptions *opts = lc->opts;
	const char *sqlstate;
	char		d[32];
	char		why[128];

	if (res == NULL)
	{
		if (signo != 0 && lc->state != CONN_BUSY)
			return 128 + signo;
		report(LEVEL_ALWAYS, "could not acquire lease \"%s\": %s", opts->name, lc->error);
		return signo != 0 ? 128 + signo : EXIT_DATABASE;
	}
	if (signo != 0)
		return 128 + signo;
	if (!result_ok(res))
	{
		sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		report(LEVEL_ALWAYS, "could not acquire lease \"%s\": %s", opts->name, result_error(res));
		if (sqlstate && strcmp(sqlstate, "42883") == 0)
		{
			signo = missing_function_hint(lc);
			if (signo != 0)
				return 128 + signo;
		}

		/*
		 * Class 22, data exception: the name or the ttl was refused.  Other
		 * errors, a --slots that differs from the holders' (55000) or
		 * --slots and --shared in remote mode (0A000) among them, mean the
		 * acquire failed.
		 */
		return sqlstate && strncmp(sqlstate, "22", 2) == 0 ? EXIT_USAGE : EXIT_DATABASE;
	}
	if (opts->wait == 0)
		report(LEVEL_NORMAL, "lease \"%s\" is busy (%s)", opts->name,
			   busy_reason(opts, why, sizeof(why)));
	else
		report(LEVEL_NORMAL, "lease \"%s\" is busy (%s); gave up after %s",
			   opts->name, busy_reason(opts, why, sizeof(why)),
			   format_duration(opts->wait, d, sizeof(d)));
	return opts->conflict_exit;
}

/*
 * Take the lease, waiting up to --wait.  Returns true if it is held (its
 * token in lc->token_param, lc->last_ok the moment the acquire was sent);
 * otherwise false, with the status to exit with in *exit_code.  A
 * terminating signal cancels the wait, or gives back a lease that came
 * with it.
 */
bool
acquire_lease(LeaseClient *lc, int *exit_code)
{
	const RunOptions *opts = lc->opts;
	int64_t		deadline;
	int64_t		sent;
	int			signo;
	PGresult   *res;
	char		d[32];
	char		mode[64];

	if (opts->wait != 0)
		report(LEVEL_VERBOSE, "waiting up to %s for lease \"%s\"",
			   format_duration(opts->wait, d, sizeof(d)), opts->name);
	deadline = opts->wait == FOREVER ? -1 :
		now_usec() + opts->wait + ACQUIRE_SLACK;
	sent = now_usec();
	res = run_query(lc, QUERY_ACQUIRE, deadline, false, INTERRUPT_CANCEL, &signo);
	if (res == NULL || !result_ok(res) || PQgetisnull(res, 0, 0))
	{
		*exit_code = acquire_failed(lc, res, signo);
		if (res)
			PQclear(res);
		return false;
	}
	snprintf(lc->token_param, sizeof(lc->token_param), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (plain_lease(opts))
		mode[0] = '\0';
	else if (opts->slots == 1)
		snprintf(mode, sizeof(mode), " (shared)");
	else
		snprintf(mode, sizeof(mode), " (%sone of %d slots)",
				 opts->shared ? "shared, " : "", opts->slots);
	report(LEVEL_VERBOSE, "acquired lease \"%s\"%s with token %s, ttl %s",
		   opts->name, mode, lc->token_param,
		   format_duration(opts->ttl, d, sizeof(d)));
	if (signo != 0)
	{
		release_quietly(lc);
		*exit_code = 128 + signo;
		return false;
	}

	/*
	 * The lease is held at least until ttl after the acquire was sent (it
	 * was granted after that).
	 */
	lc->last_ok = sent;
	lc->next_heartbeat = lc->last_ok + opts->heartbeat;
	return true;
}

/*
 * Release the lease when the command has ended at 'command_ended', the
 * lease not known to be lost, before 'deadline'.  A heartbeat still in
 * flight is abandoned.  A release that finds the lease gone means it was
 * lost while the command ran: lc->lost is set.
 */
void
release_lease(LeaseClient *lc, int64_t deadline, int64_t command_ended)
{
	const RunOptions *opts = lc->opts;
	int			signo;
	PGresult   *res;
	bool		ambiguous = false;
	char		d[32];

	if (lc->state == CONN_BUSY)
		start_reset(lc);		/* abandon the heartbeat's answer */

	res = run_query(lc, QUERY_RELEASE, deadline, true, INTERRUPT_ABANDON, &signo);
	if (res == NULL && signo == 0 && lc->query_was_sent && now_usec() < deadline)
	{
		/*
		 * The connection failed after the release was sent: the server may
		 * or may not have run it.  Try again on a new connection; a false
		 * answer then proves nothing.
		 */
		report(LEVEL_VERBOSE, "the connection failed during the release (%s); trying again",
			   lc->error);
		ambiguous = true;
		res = run_query(lc, QUERY_RELEASE, deadline, true, INTERRUPT_ABANDON, &signo);
	}
	if (res && result_ok(res) && !PQgetisnull(res, 0, 0))
	{
		if (result_true(res))
			report(LEVEL_VERBOSE, "released lease \"%s\"", opts->name);
		else if (ambiguous && command_ended < lc->last_ok + opts->ttl)
		{
			/* the command ended while the last heartbeat still covered it */
			report(LEVEL_VERBOSE, "lease \"%s\" is no longer held: released by the first attempt",
				   opts->name);
		}
		else
		{
			lc->lost = true;
			fprintf(stderr, "%s: lease \"%s\" lost: it was no longer held with token %s "
					"when the command ended (it expired or was force-released while "
					"the command ran)\n", progname, opts->name, lc->token_param);
		}
	}
	else
	{
		if (signo != 0)
			set_conn_error(lc, "interrupted");
		else if (res)
			set_conn_error(lc, result_error(res));
		report(LEVEL_NORMAL, "could not release lease \"%s\" (%s); it expires by itself within %s",
			   opts->name, lc->error, format_duration(opts->ttl, d, sizeof(d)));
	}
	if (res)
		PQclear(res);
}

/* Give the lease back before exiting without running the command */
void
release_quietly(LeaseClient *lc)
{
	int			signo;
	PGresult   *res;

	res = run_query(lc, QUERY_RELEASE, now_usec() + RELEASE_TIMEOUT, false,
					INTERRUPT_ABANDON, &signo);
	if (res)
		PQclear(res);
}
