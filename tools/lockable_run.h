/*-------------------------------------------------------------------------
 *
 * lockable_run.h
 *	  Declarations shared by the files of lockable-run.
 *
 * The files, each calling only those below it (nm on the objects shows it):
 *
 *	lockable-run.c	main: the run from the options to the exit status
 *	run_supervise.c	the command: its process group, the lease while it
 *					runs (heartbeats, loss, kill-after) and after it
 *	run_client.c	the libpq lease client: connection, queries, reconnects,
 *					acquire and release; knows nothing of the command
 *	run_signals.c	the signal self-pipe and the pending signals
 *	run_options.c	the command line, --help and check_timing()
 *	run_common.c	messages, the clock, durations and signal names
 *
 * The signals are the supervisor's, but the client's poll() waits on their
 * pipe too (so that ^C ends a wait for the lease), hence a file of their
 * own below both.
 *
 * Copyright (c) 2026, the lockable authors
 *
 * IDENTIFICATION
 *	  tools/lockable_run.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKABLE_RUN_H
#define LOCKABLE_RUN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "libpq-fe.h"

#define LOCKABLE_RUN_VERSION	"1.1"

/* Exit codes (sysexits.h values where one fits) */
#define EXIT_USAGE			64	/* EX_USAGE: bad options or arguments */
#define EXIT_DATABASE		69	/* EX_UNAVAILABLE: no connection, or acquire
								 * failed; the command did not run */
#define EXIT_OSERR			71	/* EX_OSERR: pipe or fork failed */
#define DEFAULT_CONFLICT_EXIT	75	/* EX_TEMPFAIL: lease busy */
#define DEFAULT_LOST_EXIT	76	/* lease lost while the command ran */
#define EXIT_NOEXEC			126 /* command found but not executable */
#define EXIT_NOTFOUND		127 /* command not found */

#define USECS_PER_MSEC		INT64_C(1000)
#define USECS_PER_SEC		INT64_C(1000000)
#define USECS_PER_MINUTE	(60 * USECS_PER_SEC)
#define USECS_PER_HOUR		(60 * USECS_PER_MINUTE)
#define USECS_PER_DAY		(24 * USECS_PER_HOUR)

/* A duration meaning "no limit" (--wait forever, --kill-after forever) */
#define FOREVER				INT64_C(-1)
/* Longest duration accepted, about 100 years */
#define MAX_DURATION		(36500 * USECS_PER_DAY)

/* The server gets this long beyond --wait to answer an acquire */
#define ACQUIRE_SLACK		(30 * USECS_PER_SEC)
/* How long to wait for the answer to a cancel request */
#define CANCEL_TIMEOUT		(10 * USECS_PER_SEC)
/* Longest time spent releasing the lease after the command ended */
#define RELEASE_TIMEOUT		(10 * USECS_PER_SEC)

/*
 * The safety margin: the command's process group is SIGKILLed this long
 * before the lease can expire on the server, ttl after the last successful
 * heartbeat was sent.  It covers the kernel ending the processes, and
 * lockable-run (or the machine) running late; ttl/10 also covers any
 * difference in rate between our clock and the server's.
 */
#define MARGIN_MIN			USECS_PER_SEC
#define MARGIN_TTL_DIVISOR	10
/* --kill-after when not given, if the ttl allows it */
#define DEFAULT_KILL_AFTER	(10 * USECS_PER_SEC)
/* How often to look whether the rest of a killed process group is gone */
#define GROUP_POLL			(10 * USECS_PER_MSEC)

/* --slots: the server's limits for lockable_acquire(slots => N) */
#define MIN_SLOTS			1
#define MAX_SLOTS			10000

#if defined(__GNUC__) || defined(__clang__)
#define lr_printf_attr(f, a) __attribute__((format(printf, f, a)))
#define lr_noreturn __attribute__((noreturn))
#else
#define lr_printf_attr(f, a)
#define lr_noreturn
#endif

/* Message levels for report() */
#define LEVEL_ALWAYS	0		/* errors, lease loss: shown even with
								 * --quiet */
#define LEVEL_NORMAL	1		/* busy lease, connection trouble */
#define LEVEL_VERBOSE	2		/* --verbose: every step */

/* The options, and the timings check_timing() derives from them */
typedef struct RunOptions
{
	const char *dbname;
	const char *name;
	int64_t		ttl;
	int64_t		wait;
	int64_t		heartbeat;		/* 0 until check_timing(): renew_window / 3 */
	int			slots;			/* --slots; 1 without it */
	bool		shared;			/* --shared */
	int			conflict_exit;
	int			lost_exit;
	int			kill_signal;
	int64_t		kill_after;
	bool		kill_after_given;
	char	  **command;		/* argv of the command, NULL-terminated */

	int64_t		safety_margin;	/* max(1s, ttl/10) */
	int64_t		stop_time;		/* --kill-after; 0 with --kill-signal KILL */
	int64_t		renew_window;	/* ttl - stop_time - safety_margin */
} RunOptions;

/* The connection's state */
typedef enum ConnState
{
	CONN_IDLE,					/* connected, nothing in flight */
	CONN_BUSY,					/* a query is in flight */
	CONN_RESETTING,				/* PQresetStart() done, polling */
	CONN_DOWN					/* broken; reconnect at reset_retry_at */
} ConnState;

typedef enum QueryKind
{
	QUERY_NONE,
	QUERY_ACQUIRE,
	QUERY_HEARTBEAT,
	QUERY_RELEASE,
	QUERY_EXTVERSION			/* the extension's version, after a failure */
} QueryKind;

/* What terminating signals do to a query: see run_query() */
typedef enum InterruptMode
{
	INTERRUPT_NONE,				/* signals wait for the caller */
	INTERRUPT_CANCEL,			/* cancel the query on INT/TERM/HUP/QUIT */
	INTERRUPT_ABANDON			/* stop waiting on INT/TERM/HUP/QUIT */
} InterruptMode;

/*
 * The lease client: one connection serves acquire, heartbeats and release,
 * one query at a time.  The supervisor reads the connection's state and
 * timestamps to decide when to send the next heartbeat or reconnect.
 */
typedef struct LeaseClient
{
	const RunOptions *opts;
	PGconn	   *conn;
	ConnState	state;

	/* the query in flight */
	QueryKind	query_kind;
	int64_t		query_sent;
	PGresult   *query_first_result;
	bool		query_was_sent; /* run_query() got as far as sending */

	/* reconnecting */
	PostgresPollingStatusType reset_status;
	int64_t		reset_started;
	int64_t		reset_retry_at;
	int64_t		retry_delay;
	char		error[512];		/* why the connection failed, one line */

	/* a finished query, until the caller takes it with take_result() */
	bool		result_ready;
	QueryKind	result_kind;
	int64_t		result_sent;
	PGresult   *result;

	/* query parameters, as text */
	char		ttl_param[64];
	char		wait_param[64];
	char		token_param[32];
	char		slots_param[16];

	/* the lease */
	int64_t		last_ok;		/* send time of the last confirmation */
	int64_t		next_heartbeat;
	bool		lost;
	bool		outage_reported;
} LeaseClient;

/* The command */
typedef struct Command
{
	pid_t		pid;			/* -1 until started */
	bool		done;
	int			status;
	int64_t		ended;			/* when we found it had ended */
} Command;

/* One run of lockable-run */
typedef struct Run
{
	RunOptions	opts;
	LeaseClient lease;
	Command		command;
} Run;

/* run_common.c */
extern const char *progname;
extern int	verbosity;
extern void print_message(const char *fmt, va_list ap) lr_printf_attr(1, 0);
extern void report(int level, const char *fmt,...) lr_printf_attr(2, 3);
extern int64_t now_usec(void);
extern int64_t min_deadline(int64_t a, int64_t b);
extern const char *format_duration(int64_t usec, char *buf, size_t size);
extern const char *format_rounded(int64_t usec, char *buf, size_t size);
extern int	signal_number(const char *name);
extern const char *signal_name(int signo);

/* run_options.c */
extern void parse_options(int argc, char **argv, RunOptions *opts);

/* run_signals.c */
extern void setup_signals(void);
extern int	signal_pipe_fd(void);
extern void drain_signals(void);
extern bool signal_pending(int signo);
extern bool take_signal(int signo);
extern int	take_forwarded_signal(void);
extern int	pending_terminating_signal(void);
extern void forget_signals(void);
extern void restore_signals(void);

/* run_client.c */
extern bool client_connect(LeaseClient *lc, const RunOptions *opts);
extern void close_connection(LeaseClient *lc);
extern void set_conn_error(LeaseClient *lc, const char *msg);
extern void start_reset(LeaseClient *lc);
extern bool send_query(LeaseClient *lc, QueryKind kind);
extern void wait_events(LeaseClient *lc, int64_t until);
extern PGresult *run_query(LeaseClient *lc, QueryKind kind, int64_t deadline,
						   bool reconnect, InterruptMode interrupt,
						   int *interrupted_by);
extern PGresult *take_result(LeaseClient *lc, QueryKind *kind, int64_t *sent);
extern bool result_ok(PGresult *res);
extern const char *result_error(PGresult *res);
extern bool heartbeat_answer(LeaseClient *lc, PGresult *res, int64_t sent);
extern bool acquire_lease(LeaseClient *lc, int *exit_code);
extern void release_lease(LeaseClient *lc, int64_t deadline,
						  int64_t command_ended);
extern void release_quietly(LeaseClient *lc);

/* run_supervise.c */
extern bool confirm_lease(Run *run, int *exit_code);
extern bool start_command(Run *run);
extern int	command_exit_code(int status);
extern void supervise(Run *run);
extern void finish_lease(Run *run);

#endif							/* LOCKABLE_RUN_H */
