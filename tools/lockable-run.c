/*-------------------------------------------------------------------------
 *
 * lockable-run.c
 *	  Run a command while holding a lockable lease: flock(1) for a whole
 *	  fleet of machines that share one PostgreSQL server.
 *
 *	  lockable-run --dbname "$DSN" --name nightly-report --ttl 60s -- ./report.sh
 *
 * The program takes a plain lease (keepalive false) with lockable_acquire(),
 * starts the command in a process group of its own with LOCKABLE_NAME and
 * LOCKABLE_TOKEN in its environment, renews the lease with
 * lockable_heartbeat() every --heartbeat while the command runs, releases it
 * with lockable_release() when the command ends, and exits with the
 * command's exit status.
 *
 * Safety rule: the lease is known to be held until ttl after the moment the
 * last successful heartbeat was *sent* (the server extends it from the
 * moment it runs the heartbeat, which is later, and both measure time on a
 * monotonic clock).  The command must be gone before that moment, and
 * stopping it takes up to --kill-after, so a new heartbeat must succeed
 * within the renewal window
 *
 *		ttl - --kill-after - safety margin
 *
 * of the last one's sending.  If none does (the server said false, or could
 * not be reached, or did not answer), the lease counts as lost: the
 * command's process group gets --kill-signal at once, and SIGKILL at
 * ttl - safety margin after that last heartbeat was sent (--kill-after
 * later, or sooner if lockable-run itself ran late), and lockable-run waits
 * until the whole process group is gone before it exits with
 * --lost-exit-code.  The safety margin, max(1s, ttl/10), leaves time for
 * the SIGKILL to take effect and for late wake-ups and clock-rate
 * differences; options that leave too little room are refused (see
 * check_timing()).  On Linux, lockable-run is a child subreaper, so that
 * the processes of the group that outlive their parent are its children and
 * it can reap them too.
 *
 * Everything runs in one thread around poll(): a self-pipe for signals
 * (SIGCHLD and the ones forwarded to the command), and libpq's socket,
 * used asynchronously (PQsendQueryParams, PQresetStart/PQresetPoll) so that
 * a server that stops answering can never keep us from killing the command
 * in time.  One connection serves acquire, heartbeats and release; when it
 * breaks it is re-established with PQresetStart.  Lease names and tokens
 * are always passed as query parameters.
 *
 * The program uses only libc and libpq (no PostgreSQL server headers, no
 * libpgport), so it builds anywhere libpq-dev is installed.
 *
 * Copyright (c) 2026, the lockable authors
 *
 * IDENTIFICATION
 *	  tools/lockable-run.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#ifndef PR_SET_CHILD_SUBREAPER
#define PR_SET_CHILD_SUBREAPER	36	/* Linux 3.4 and later */
#endif
#endif

#include "libpq-fe.h"

#define LOCKABLE_RUN_VERSION	"1.0"

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

#if defined(__GNUC__) || defined(__clang__)
#define lr_printf_attr(f, a) __attribute__((format(printf, f, a)))
#define lr_noreturn __attribute__((noreturn))
#else
#define lr_printf_attr(f, a)
#define lr_noreturn
#endif

static const char *progname = "lockable-run";

/* Message levels for report() */
#define LEVEL_ALWAYS	0		/* errors, lease loss: shown even with
								 * --quiet */
#define LEVEL_NORMAL	1		/* busy lease, connection trouble */
#define LEVEL_VERBOSE	2		/* --verbose: every step */

static int	verbosity = LEVEL_NORMAL;

/* Options */
static const char *opt_dbname = NULL;
static const char *opt_name = NULL;
static int64_t opt_ttl = 60 * USECS_PER_SEC;
static int64_t opt_wait = 0;
static int64_t opt_heartbeat = 0;	/* 0: renew_window / 3 */
static int	opt_conflict_exit = DEFAULT_CONFLICT_EXIT;
static int	opt_lost_exit = DEFAULT_LOST_EXIT;
static int	opt_kill_signal = SIGTERM;
static int64_t opt_kill_after = DEFAULT_KILL_AFTER;
static bool kill_after_given = false;

/* Derived from the options by check_timing() */
static int64_t safety_margin = 0;	/* max(1s, ttl/10) */
static int64_t stop_time = 0;	/* --kill-after; 0 with --kill-signal KILL */
static int64_t renew_window = 0;	/* ttl - stop_time - safety_margin */

/* Query parameters, as text */
static char ttl_param[64];
static char wait_param[64];
static char token_param[32];

/* Signals: the handler writes the signal number into a pipe */
static int	sig_pipe[2] = {-1, -1};
static bool sig_pending[NSIG];

/* Signals forwarded to the command's process group */
static const int forwarded_signals[] = {
	SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2
};
#define NUM_FORWARDED	(sizeof(forwarded_signals) / sizeof(forwarded_signals[0]))

/* Dispositions and mask as we found them, restored in the command */
static struct sigaction saved_actions[NSIG];
static sigset_t saved_mask;

/* The command */
static pid_t child_pid = -1;
static bool child_done = false;
static int	child_status = 0;
static int64_t child_ended = 0;	/* when we found it had ended */

/* The connection and the query in flight on it */
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
	QUERY_RELEASE
} QueryKind;

static PGconn *conn = NULL;
static ConnState conn_state = CONN_DOWN;
static QueryKind query_kind = QUERY_NONE;
static int64_t query_sent = 0;
static PGresult *query_first_result = NULL;
static PostgresPollingStatusType reset_status;
static int64_t reset_started = 0;
static int64_t reset_retry_at = 0;
static bool query_was_sent = false;	/* run_query() got as far as sending */
static int64_t retry_delay = USECS_PER_SEC;
static char conn_error[512] = "";

/* A finished query, until the caller takes it with take_result() */
static bool result_ready = false;
static QueryKind result_kind = QUERY_NONE;
static int64_t result_sent = 0;
static PGresult *result = NULL;

/* What runs how: see run_query() */
typedef enum InterruptMode
{
	INTERRUPT_NONE,				/* signals wait for the caller */
	INTERRUPT_CANCEL,			/* cancel the query on INT/TERM/HUP/QUIT */
	INTERRUPT_ABANDON			/* stop waiting on INT/TERM/HUP/QUIT */
} InterruptMode;

/* The lease while the command runs */
static int64_t last_ok = 0;		/* send time of the last confirmation */
static int64_t next_heartbeat = 0;
static bool lease_lost = false;
static bool outage_reported = false;


static void report(int level, const char *fmt,...) lr_printf_attr(2, 3);
static void usage_error(const char *fmt,...) lr_printf_attr(1, 2) lr_noreturn;
static void exit_clear(PGresult *res, int code) lr_noreturn;


/*
 * Print "lockable-run: message" on stderr if the verbosity allows it.
 */
static void
report(int level, const char *fmt,...)
{
	va_list		ap;

	if (level > verbosity)
		return;
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
usage_error(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry \"%s --help\" for more information.\n", progname);
	exit(EXIT_USAGE);
}

static void
help(void)
{
	printf(
		   "NAME\n"
		   "    lockable-run - run a command while holding a lockable lease\n"
		   "\n"
		   "SYNOPSIS\n"
		   "    lockable-run [OPTION]... --name NAME [--] COMMAND [ARG]...\n"
		   "\n"
		   "DESCRIPTION\n"
		   "    Takes the lease NAME on a PostgreSQL server with the lockable extension,\n"
		   "    runs COMMAND while renewing the lease, releases the lease when COMMAND\n"
		   "    ends and exits with COMMAND's exit status: flock(1) for every machine\n"
		   "    that can reach the database.\n"
		   "\n"
		   "    The lease is a plain lease (keepalive false) that lockable-run renews\n"
		   "    itself with lockable_heartbeat() every --heartbeat.  It is known to be\n"
		   "    held until TTL after the last successful heartbeat was sent.\n"
		   "\n"
		   "    Guarantee: COMMAND's whole process group is gone before the server can\n"
		   "    let the lease expire and grant it to someone else.  It gets SIGKILL at\n"
		   "    the latest a safety margin of max(1s, TTL/10) before TTL has passed\n"
		   "    since the last successful heartbeat was sent; the margin leaves time\n"
		   "    for the kernel to end it and for lockable-run to reap it.  So a\n"
		   "    heartbeat must succeed within TTL - --kill-after - margin of the last\n"
		   "    one.  When none does (the database is unreachable or does not answer;\n"
		   "    lockable-run keeps reconnecting until then), or when the server answers\n"
		   "    a heartbeat with false (the lease expired, was force-released or taken\n"
		   "    over), the lease is lost: COMMAND's process group gets --kill-signal,\n"
		   "    then SIGKILL after --kill-after, and lockable-run exits with\n"
		   "    --lost-exit-code once the whole group is gone.  Options that cannot\n"
		   "    keep this promise are refused (exit status 64): --kill-after + margin\n"
		   "    must be at most TTL/2, and --heartbeat at most half of TTL -\n"
		   "    --kill-after - margin.  The guarantee does not hold if lockable-run\n"
		   "    itself is killed, or is stopped or stalled for longer than the margin.\n"
		   "\n"
		   "    COMMAND runs in a process group of its own (it is not the terminal's\n"
		   "    foreground group: lockable-run is meant for batch jobs).  SIGHUP, SIGINT,\n"
		   "    SIGQUIT, SIGTERM, SIGUSR1 and SIGUSR2 sent to lockable-run are forwarded\n"
		   "    to that group; lockable-run keeps renewing the lease until COMMAND ends,\n"
		   "    then releases it.  Before COMMAND starts, SIGHUP, SIGINT, SIGQUIT and\n"
		   "    SIGTERM cancel the acquire and lockable-run exits with 128 + the signal\n"
		   "    number.  On Linux COMMAND also gets --kill-signal if lockable-run itself\n"
		   "    dies (PR_SET_PDEATHSIG).\n"
		   "\n"
		   "    COMMAND's environment has LOCKABLE_NAME (the lease name) and\n"
		   "    LOCKABLE_TOKEN (the lease's fencing token, a decimal integer).  Pass the\n"
		   "    token with every write so that the store can reject a holder that lost\n"
		   "    its lease (lockable_check() in the database, or WHERE fence <= token).\n"
		   "\n"
		   "OPTIONS\n"
		   "    -d, --dbname=CONNINFO   database to use: a connection string or URI\n"
		   "                            (default: the PG* environment variables, as psql)\n"
		   "    -n, --name=NAME         lease name (required)\n"
		   "    -t, --ttl=DURATION      lease time-to-live (default 60s); at most the\n"
		   "                            server's lockable.max_ttl\n"
		   "    -w, --wait=DURATION     how long to wait for a busy lease: 0 tries once\n"
		   "                            (default), \"forever\" waits without limit\n"
		   "        --heartbeat=DURATION\n"
		   "                            renew the lease this often (default a third of\n"
		   "                            TTL - --kill-after - margin; at most half of it)\n"
		   "    -E, --conflict-exit-code=N\n"
		   "                            exit status when the lease is busy (default 75)\n"
		   "        --lost-exit-code=N  exit status when the lease was lost (default 76)\n"
		   "    -s, --kill-signal=SIG   signal sent to COMMAND's process group when the\n"
		   "                            lease is lost: a name (TERM, SIGINT...) or a\n"
		   "                            number (default TERM)\n"
		   "    -k, --kill-after=DURATION\n"
		   "                            send SIGKILL this long after --kill-signal if\n"
		   "                            COMMAND has not ended (default 10s, or TTL/2 -\n"
		   "                            margin if that is shorter; at most TTL/2 -\n"
		   "                            margin; ignored with --kill-signal KILL)\n"
		   "    -q, --quiet             no message when the lease is busy, none about\n"
		   "                            reconnecting; errors and lease loss are still\n"
		   "                            reported\n"
		   "    -v, --verbose           report every step on stderr\n"
		   "    -V, --version           print the version and exit\n"
		   "    -?, --help              print this help and exit\n"
		   "\n"
		   "    DURATION is a number, optionally with a decimal fraction, and a unit:\n"
		   "    ms, s, m (or min), h or d; without a unit, seconds.  Examples: 500ms,\n"
		   "    10s, 1.5m, 10m, 1h.\n"
		   "\n"
		   "EXIT STATUS\n"
		   "    COMMAND's exit status, or 128 + N if it was killed by signal N, except:\n"
		   "    64   bad options or arguments (also timings that cannot stop COMMAND in\n"
		   "         time, and when the server rejects the name or the ttl); COMMAND did\n"
		   "         not run\n"
		   "    69   could not connect, or acquiring failed (e.g. the extension is not\n"
		   "         installed); COMMAND did not run\n"
		   "    71   could not start COMMAND (fork failed); the lease was released\n"
		   "    75   the lease is busy (--conflict-exit-code); COMMAND did not run\n"
		   "    76   the lease was lost while COMMAND ran: the server said it was no\n"
		   "         longer held, it could not be renewed in time, or it was found no\n"
		   "         longer held when COMMAND ended (--lost-exit-code)\n"
		   "    126  COMMAND is not executable;  127  COMMAND was not found\n"
		   "    128+N  lockable-run got signal N before COMMAND started\n"
		   "\n"
		   "    If the lease cannot be released at the end (database unreachable for\n"
		   "    10s) a warning is printed, COMMAND's status is kept, and the lease\n"
		   "    expires by its ttl.\n"
		   "\n"
		   "ENVIRONMENT\n"
		   "    PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSERVICE, ...\n"
		   "        connection defaults, as for psql; --dbname overrides them\n"
		   "    LOCKABLE_NAME, LOCKABLE_TOKEN\n"
		   "        set for COMMAND\n"
		   "\n"
		   "NOTES\n"
		   "    The lease is released when COMMAND exits: processes it leaves running\n"
		   "    in the background are not waited for.  A server statement_timeout\n"
		   "    shorter than --wait ends the wait with an error (exit 69).  Plain\n"
		   "    leases do not depend on the connection, so poolers in session or\n"
		   "    transaction mode are fine.\n"
		   "\n"
		   "EXAMPLES\n"
		   "    lockable-run -d \"$DSN\" -n nightly-report -t 60s -w 10m -- ./report.sh\n"
		   "    lockable-run -n deploy -E 0 -q -- ./deploy.sh     # busy: skip quietly\n"
		   "\n"
		   "SEE ALSO\n"
		   "    flock(1), timeout(1), README.md of the lockable extension\n");
}

/*
 * Monotonic clock, microseconds.
 */
static int64_t
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * USECS_PER_SEC + ts.tv_nsec / 1000;
}

static int64_t
min_deadline(int64_t a, int64_t b)
{
	/* -1 means "no deadline" */
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/*
 * Parse a DURATION (see --help).  "forever" is accepted only when
 * allow_forever, and gives FOREVER.  Returns false on bad input.
 */
static bool
parse_duration(const char *s, bool allow_forever, int64_t *usec)
{
	const char *p = s;
	const char *unit;
	char		number[64];
	size_t		len;
	int			ndigits = 0;
	double		value;
	int64_t		scale;

	if (allow_forever && strcmp(s, "forever") == 0)
	{
		*usec = FOREVER;
		return true;
	}

	/* digits, at most one '.', more digits: no sign, exponent, inf, nan */
	while (*p >= '0' && *p <= '9')
	{
		p++;
		ndigits++;
	}
	if (*p == '.')
	{
		p++;
		while (*p >= '0' && *p <= '9')
		{
			p++;
			ndigits++;
		}
	}
	if (ndigits == 0)
		return false;
	len = p - s;
	if (len >= sizeof(number))
		return false;
	memcpy(number, s, len);
	number[len] = '\0';
	unit = p;

	if (*unit == '\0' || strcmp(unit, "s") == 0)
		scale = USECS_PER_SEC;
	else if (strcmp(unit, "ms") == 0)
		scale = USECS_PER_MSEC;
	else if (strcmp(unit, "m") == 0 || strcmp(unit, "min") == 0)
		scale = USECS_PER_MINUTE;
	else if (strcmp(unit, "h") == 0)
		scale = USECS_PER_HOUR;
	else if (strcmp(unit, "d") == 0)
		scale = USECS_PER_DAY;
	else
		return false;

	errno = 0;
	value = strtod(number, NULL);
	if (errno != 0)
		return false;
	value *= (double) scale;
	if (value > (double) MAX_DURATION)
		return false;
	*usec = (int64_t) (value + 0.5);
	return true;
}

/* A duration for messages: "60s", "1.5s", "10m", "250ms" */
static const char *
format_duration(int64_t usec, char *buf, size_t size)
{
	if (usec == FOREVER)
		snprintf(buf, size, "forever");
	else if (usec != 0 && usec % USECS_PER_HOUR == 0)
		snprintf(buf, size, "%lldh", (long long) (usec / USECS_PER_HOUR));
	else if (usec != 0 && usec % USECS_PER_MINUTE == 0)
		snprintf(buf, size, "%lldm", (long long) (usec / USECS_PER_MINUTE));
	else if (usec % USECS_PER_SEC == 0)
		snprintf(buf, size, "%llds", (long long) (usec / USECS_PER_SEC));
	else if (usec < USECS_PER_SEC && usec % USECS_PER_MSEC == 0)
		snprintf(buf, size, "%lldms", (long long) (usec / USECS_PER_MSEC));
	else if (usec < USECS_PER_SEC)
		snprintf(buf, size, "%.3fms", (double) usec / USECS_PER_MSEC);
	else if (usec % (100 * USECS_PER_MSEC) == 0)
		snprintf(buf, size, "%.1fs", (double) usec / USECS_PER_SEC);
	else
		snprintf(buf, size, "%.3fs", (double) usec / USECS_PER_SEC);
	return buf;
}

static int
parse_exit_code(const char *s, const char *option)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 255)
		usage_error("invalid value \"%s\" for %s: an exit status from 0 to 255 is expected",
					s, option);
	return (int) v;
}

static const struct
{
	const char *name;
	int			signo;
}			signal_names[] =
{
	{"HUP", SIGHUP},
	{"INT", SIGINT},
	{"QUIT", SIGQUIT},
	{"ABRT", SIGABRT},
	{"KILL", SIGKILL},
	{"USR1", SIGUSR1},
	{"USR2", SIGUSR2},
	{"ALRM", SIGALRM},
	{"TERM", SIGTERM},
};

static int
parse_signal(const char *s)
{
	const char *n = s;
	char	   *end;
	long		v;
	size_t		i;

	if (*s >= '0' && *s <= '9')
	{
		errno = 0;
		v = strtol(s, &end, 10);
		if (errno == 0 && *end == '\0' && v > 0 && v < NSIG)
			return (int) v;
	}
	else
	{
		if (strncasecmp(n, "SIG", 3) == 0)
			n += 3;
		for (i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++)
			if (strcasecmp(n, signal_names[i].name) == 0)
				return signal_names[i].signo;
	}
	usage_error("invalid signal \"%s\" for --kill-signal: use HUP, INT, QUIT, ABRT, KILL, USR1, USR2, ALRM, TERM or a number",
				s);
}

static const char *
signal_name(int signo)
{
	static char buf[32];
	size_t		i;

	for (i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++)
		if (signal_names[i].signo == signo)
		{
			snprintf(buf, sizeof(buf), "SIG%s", signal_names[i].name);
			return buf;
		}
	snprintf(buf, sizeof(buf), "signal %d", signo);
	return buf;
}

/* ---------------------------------------------------------------- signals */

static void
signal_handler(int signo)
{
	int			save_errno = errno;
	unsigned char b = (unsigned char) signo;
	ssize_t		rc;

	rc = write(sig_pipe[1], &b, 1);
	(void) rc;					/* a full pipe already wakes us up */
	errno = save_errno;
}

static void
set_handler(int signo, void (*handler) (int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (signo == SIGCHLD)
		sa.sa_flags |= SA_NOCLDSTOP;
	sigaction(signo, &sa, &saved_actions[signo]);
}

static void
setup_signals(void)
{
	size_t		i;
	int			fl;

	if (pipe(sig_pipe) != 0)
	{
		report(LEVEL_ALWAYS, "could not create a pipe: %s", strerror(errno));
		exit(EXIT_OSERR);
	}
	for (i = 0; i < 2; i++)
	{
		fl = fcntl(sig_pipe[i], F_GETFL);
		fcntl(sig_pipe[i], F_SETFL, fl | O_NONBLOCK);
		fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
	}

	sigprocmask(SIG_SETMASK, NULL, &saved_mask);
	for (i = 0; i < NUM_FORWARDED; i++)
	{
		int			signo = forwarded_signals[i];

		/* keep a signal ignored if we were started with it ignored */
		sigaction(signo, NULL, &saved_actions[signo]);
		if (saved_actions[signo].sa_handler == SIG_IGN)
			continue;
		set_handler(signo, signal_handler);
	}
	set_handler(SIGCHLD, signal_handler);
	set_handler(SIGPIPE, SIG_IGN);

	/* and make sure none of them is blocked */
	{
		sigset_t	unblock;

		sigemptyset(&unblock);
		for (i = 0; i < NUM_FORWARDED; i++)
			sigaddset(&unblock, forwarded_signals[i]);
		sigaddset(&unblock, SIGCHLD);
		sigprocmask(SIG_UNBLOCK, &unblock, NULL);
	}
}

/* Read the signal numbers the handler wrote into sig_pending[] */
static void
drain_signals(void)
{
	unsigned char buf[64];
	ssize_t		n;
	ssize_t		i;

	for (;;)
	{
		n = read(sig_pipe[0], buf, sizeof(buf));
		if (n <= 0)
		{
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < n; i++)
			if (buf[i] < NSIG)
				sig_pending[buf[i]] = true;
	}
}

/* A pending signal that ends the wait for the lease, or 0 */
static int
pending_terminating_signal(void)
{
	static const int terminating[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	size_t		i;

	for (i = 0; i < sizeof(terminating) / sizeof(terminating[0]); i++)
		if (sig_pending[terminating[i]])
		{
			sig_pending[terminating[i]] = false;
			return terminating[i];
		}
	return 0;
}

/* ------------------------------------------------------------- connection */

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
static void
set_conn_error(const char *msg)
{
	char	   *nl;

	snprintf(conn_error, sizeof(conn_error), "%s",
			 (msg && *msg) ? msg : "connection lost");
	nl = strchr(conn_error, '\n');
	if (nl)
		*nl = '\0';
	one_line(conn_error, sizeof(conn_error), conn_error);
	if (conn_error[0] == '\0')
		snprintf(conn_error, sizeof(conn_error), "connection lost");
}

static void
conn_broken(const char *msg)
{
	set_conn_error(msg);
	if (query_first_result)
	{
		PQclear(query_first_result);
		query_first_result = NULL;
	}
	query_kind = QUERY_NONE;
	conn_state = CONN_DOWN;
	/* the first attempt to reconnect comes at once */
	reset_retry_at = now_usec();
	report(LEVEL_VERBOSE, "connection failed: %s", conn_error);
}

static void
start_reset(void)
{
	if (query_first_result)
	{
		PQclear(query_first_result);
		query_first_result = NULL;
	}
	query_kind = QUERY_NONE;
	reset_started = now_usec();
	report(LEVEL_VERBOSE, "reconnecting");
	if (!PQresetStart(conn))
	{
		set_conn_error(PQerrorMessage(conn));
		conn_state = CONN_DOWN;
		reset_retry_at = reset_started + retry_delay;
		return;
	}
	conn_state = CONN_RESETTING;
	reset_status = PGRES_POLLING_WRITING;
}

static void
reset_step(void)
{
	reset_status = PQresetPoll(conn);
	if (reset_status == PGRES_POLLING_OK)
	{
		conn_state = CONN_IDLE;
		report(LEVEL_VERBOSE, "reconnected");
	}
	else if (reset_status == PGRES_POLLING_FAILED)
	{
		set_conn_error(PQerrorMessage(conn));
		conn_state = CONN_DOWN;
		reset_retry_at = now_usec() + retry_delay;
		report(LEVEL_VERBOSE, "could not reconnect: %s", conn_error);
	}
}

/*
 * Has the server closed the idle connection (a restart terminates idle
 * sessions)?  Then a query sent on it would be lost in an ambiguous way:
 * better find out before sending.
 */
static bool
idle_conn_alive(void)
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
static bool
send_query(QueryKind kind)
{
	const char *sql = NULL;
	const char *values[3];
	int			nparams = 0;

	values[0] = opt_name;
	switch (kind)
	{
		case QUERY_ACQUIRE:
			sql = "SELECT lockable_acquire($1::text, $2::interval, $3::interval, false)";
			values[1] = ttl_param;
			values[2] = opt_wait == FOREVER ? NULL : wait_param;
			nparams = 3;
			break;
		case QUERY_HEARTBEAT:
			sql = "SELECT lockable_heartbeat($1::text, $2::bigint, $3::interval)";
			values[1] = token_param;
			values[2] = ttl_param;
			nparams = 3;
			break;
		case QUERY_RELEASE:
			sql = "SELECT lockable_release($1::text, $2::bigint)";
			values[1] = token_param;
			nparams = 2;
			break;
		case QUERY_NONE:
			return false;
	}

	if (!idle_conn_alive())
	{
		conn_broken(PQerrorMessage(conn));
		return false;
	}
	query_sent = now_usec();
	if (!PQsendQueryParams(conn, sql, nparams, NULL, values, NULL, NULL, 0))
	{
		conn_broken(PQerrorMessage(conn));
		return false;
	}
	query_kind = kind;
	conn_state = CONN_BUSY;
	return true;
}

/* Read what the server sent for the query in flight */
static void
query_step(void)
{
	PGresult   *res;

	if (!PQconsumeInput(conn))
	{
		conn_broken(PQerrorMessage(conn));
		return;
	}
	while (!PQisBusy(conn))
	{
		res = PQgetResult(conn);
		if (res != NULL)
		{
			if (query_first_result == NULL)
				query_first_result = res;
			else
				PQclear(res);
			continue;
		}

		/* the query is complete */
		if (PQstatus(conn) == CONNECTION_BAD || query_first_result == NULL)
		{
			conn_broken(query_first_result ?
						PQresultErrorMessage(query_first_result) :
						PQerrorMessage(conn));
			return;
		}
		if (result)
			PQclear(result);
		result = query_first_result;
		query_first_result = NULL;
		result_kind = query_kind;
		result_sent = query_sent;
		result_ready = true;
		query_kind = QUERY_NONE;
		conn_state = CONN_IDLE;
		return;
	}
}

/* Take the finished query's result; the caller clears it */
static PGresult *
take_result(QueryKind *kind, int64_t *sent)
{
	PGresult   *res = result;

	*kind = result_kind;
	*sent = result_sent;
	result = NULL;
	result_ready = false;
	return res;
}

/* Is this a one-row, one-column result of a successful query? */
static bool
result_ok(PGresult *res)
{
	return PQresultStatus(res) == PGRES_TUPLES_OK &&
		PQntuples(res) == 1 && PQnfields(res) == 1;
}

/* A server error as one line: "ERROR:  message DETAIL:  ..." */
static const char *
result_error(PGresult *res)
{
	static char buf[1024];

	one_line(buf, sizeof(buf), PQresultErrorMessage(res));
	if (buf[0] == '\0')
		snprintf(buf, sizeof(buf), "%s", PQresStatus(PQresultStatus(res)));
	return buf;
}

/*
 * Wait until a signal arrives, the connection has something for us, or the
 * clock reaches 'until' (-1: no limit), and handle what happened: signals
 * go into sig_pending[], a finished query into result.
 */
static void
wait_events(int64_t until)
{
	struct pollfd fds[2];
	int			nfds = 1;
	int			events = 0;
	int			timeout_ms = -1;
	int			rc;

	if (conn_state == CONN_BUSY)
		events = POLLIN;
	else if (conn_state == CONN_RESETTING)
		events = reset_status == PGRES_POLLING_READING ? POLLIN : POLLOUT;

	if (events != 0 && PQsocket(conn) < 0)
	{
		/* nothing to wait for: libpq has given up on the socket */
		if (conn_state == CONN_RESETTING)
			reset_step();
		else
			conn_broken(PQerrorMessage(conn));
		return;
	}

	fds[0].fd = sig_pipe[0];
	fds[0].events = POLLIN;
	fds[0].revents = 0;
	if (events != 0)
	{
		fds[1].fd = PQsocket(conn);
		fds[1].events = events;
		fds[1].revents = 0;
		nfds = 2;
	}

	if (until >= 0)
	{
		int64_t		left = until - now_usec();

		if (left <= 0)
			timeout_ms = 0;
		else if (left / 1000 >= INT_MAX)
			timeout_ms = INT_MAX;
		else
			timeout_ms = (int) ((left + 999) / 1000);
	}

	rc = poll(fds, nfds, timeout_ms);
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
		if (conn_state == CONN_RESETTING)
			reset_step();
		else if (conn_state == CONN_BUSY)
			query_step();
	}
}

/* Ask the server to cancel the query in flight */
static void
cancel_query(void)
{
	PGcancel   *cancel = PQgetCancel(conn);
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
 * failed, the deadline passed (conn_error says why) or, with
 * INTERRUPT_ABANDON, a terminating signal arrived; query_was_sent then
 * tells whether the server may have run the query.  With 'reconnect', a
 * broken connection is re-established first, until the deadline; the query
 * itself is sent once.  With INTERRUPT_CANCEL, a terminating signal cancels
 * the query and the result (an error, or what the server managed to
 * return before the cancel) is still returned.  *interrupted_by gets the
 * signal number, if any.
 */
static PGresult *
run_query(QueryKind kind, int64_t deadline, bool reconnect,
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
	query_was_sent = false;
	for (;;)
	{
		now = now_usec();

		if (result_ready)
		{
			res = take_result(&kind_done, &sent_at);
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
				if (conn_state == CONN_BUSY)
				{
					report(LEVEL_VERBOSE, "got %s, cancelling", signal_name(signo));
					cancel_query();
					cancel_deadline = now + CANCEL_TIMEOUT;
				}
			}
		}

		if (!sent)
		{
			if (conn_state == CONN_IDLE)
			{
				sent = send_query(kind);
				query_was_sent = sent;
				continue;
			}
			if (conn_state == CONN_DOWN)
			{
				if (!reconnect)
					return NULL;
				if (now >= reset_retry_at)
				{
					start_reset();
					continue;
				}
			}
		}
		else if (conn_state != CONN_BUSY)
			return NULL;		/* the connection failed under the query */

		until = min_deadline(deadline, cancel_deadline);
		if (until >= 0 && now >= until)
		{
			set_conn_error("no answer from the server in time");
			return NULL;
		}
		if (conn_state == CONN_DOWN)
			until = min_deadline(until, reset_retry_at);
		wait_events(until);
	}
}

/* ---------------------------------------------------------------- command */

/*
 * Signal the command's process group.  Its id, the command's pid, cannot
 * be reused while one process of the group is left, even once the command
 * itself has been reaped; the command alone is signalled only if there is
 * no group (and only while it has not been reaped).
 */
static void
signal_command(int signo)
{
	if (child_pid <= 0)
		return;
	if (kill(-child_pid, signo) != 0 && !child_done)
		(void) kill(child_pid, signo);
}

/* Is a process of the command's group left (running, or a zombie)? */
static bool
command_group_alive(void)
{
	if (child_pid <= 0)
		return false;
	if (kill(-child_pid, 0) == 0)
		return true;
	/* EPERM: one is left, but not ours to signal (a setuid program) */
	return errno == EPERM;
}

/*
 * Reap every child that has ended: the command, and (as a child subreaper)
 * the processes it left behind whose parent ended.
 */
static void
reap_children(void)
{
	int			status;
	pid_t		r;

	if (child_pid <= 0)
		return;
	for (;;)
	{
		r = waitpid(-1, &status, WNOHANG);
		if (r > 0)
		{
			if (r == child_pid && !child_done)
			{
				child_done = true;
				child_status = status;
				child_ended = now_usec();
			}
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == ECHILD && !child_done)
		{
			/* cannot happen unless someone reaped it for us */
			child_done = true;
			child_status = 0;
			child_ended = now_usec();
			report(LEVEL_ALWAYS, "lost track of the command (pid %d)", (int) child_pid);
		}
		break;
	}
}

static int
command_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

/* Start the command; returns false if fork failed */
static bool
start_command(char **argv)
{
	pid_t		parent = getpid();
	pid_t		pid;
	int			i;

#ifdef __linux__

	/*
	 * Adopt the processes of the command that outlive their parent, so that
	 * a process group that has been killed can be reaped to the last one
	 * (whatever init does with zombies).
	 */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		report(LEVEL_VERBOSE, "could not become a child subreaper: %s", strerror(errno));
#endif

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
	{
		report(LEVEL_ALWAYS, "could not fork: %s", strerror(errno));
		return false;
	}
	if (pid == 0)
	{
		/* in the command: a process group of its own */
		(void) setpgid(0, 0);

		/* the signal dispositions and mask we were started with */
		for (i = 0; i < (int) NUM_FORWARDED; i++)
			sigaction(forwarded_signals[i], &saved_actions[forwarded_signals[i]], NULL);
		sigaction(SIGCHLD, &saved_actions[SIGCHLD], NULL);
		sigaction(SIGPIPE, &saved_actions[SIGPIPE], NULL);
		sigprocmask(SIG_SETMASK, &saved_mask, NULL);

#ifdef __linux__
		/* if lockable-run dies, nobody renews the lease: stop too */
		if (prctl(PR_SET_PDEATHSIG, opt_kill_signal) == 0 && getppid() != parent)
			raise(opt_kill_signal);
#else
		(void) parent;
#endif

		if (setenv("LOCKABLE_NAME", opt_name, 1) != 0 ||
			setenv("LOCKABLE_TOKEN", token_param, 1) != 0)
		{
			fprintf(stderr, "%s: could not set the environment: %s\n",
					progname, strerror(errno));
			_exit(EXIT_OSERR);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "%s: could not execute \"%s\": %s\n",
				progname, argv[0], strerror(errno));
		_exit(errno == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC);
	}

	/* also here, so that the group exists before we signal it */
	(void) setpgid(pid, pid);
	child_pid = pid;
	report(LEVEL_VERBOSE, "started \"%s\" (pid %d)", argv[0], (int) pid);
	return true;
}

/* ------------------------------------------------------------------ lease */

static void
lose_lease(const char *fmt,...) lr_printf_attr(1, 2);

/* The lease is lost: say why and signal the command */
static void
lose_lease(const char *fmt,...)
{
	va_list		ap;

	if (lease_lost)
		return;
	lease_lost = true;
	fprintf(stderr, "%s: lease \"%s\" lost: ", progname, opt_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (child_pid > 0 && !child_done)
		fprintf(stderr, "; sending %s to the command\n", signal_name(opt_kill_signal));
	else
		fputc('\n', stderr);
	signal_command(opt_kill_signal);
}

/* Handle the answer to a heartbeat sent at 'sent' */
static void
heartbeat_done(PGresult *res, int64_t sent)
{
	char		d[32];

	if (lease_lost)
		return;
	if (result_ok(res) && !PQgetisnull(res, 0, 0) &&
		strcmp(PQgetvalue(res, 0, 0), "t") == 0)
	{
		last_ok = sent;
		next_heartbeat = sent + opt_heartbeat;
		conn_error[0] = '\0';
		if (outage_reported)
		{
			report(LEVEL_NORMAL, "lease \"%s\" renewed again", opt_name);
			outage_reported = false;
		}
		else
			report(LEVEL_VERBOSE, "lease \"%s\" renewed for %s", opt_name,
				   format_duration(opt_ttl, d, sizeof(d)));
	}
	else if (result_ok(res))
		lose_lease("the server says it is no longer held with token %s "
				   "(it expired, was force-released or taken over)",
				   token_param);
	else
	{
		/* the connection works but the query failed: try again soon */
		report(LEVEL_NORMAL, "could not renew lease \"%s\": %s",
			   opt_name, result_error(res));
		outage_reported = true;
		next_heartbeat = now_usec() + retry_delay;
	}
}

/* A duration for messages, rounded to 100 ms */
static const char *
format_rounded(int64_t usec, char *buf, size_t size)
{
	int64_t		step = 100 * USECS_PER_MSEC;

	return format_duration(((usec + step / 2) / step) * step, buf, size);
}

/*
 * Keep the lease while the command runs: heartbeats, reconnects, signals.
 * Returns when the command has ended and, if the lease was lost, when its
 * whole process group is gone (or could not be stopped in time).
 */
static void
supervise(void)
{
	int64_t		kill_sent = -1;	/* when --kill-signal was sent */
	int64_t		kill_hard_at = -1;	/* when SIGKILL is due */
	bool		killed_hard = false;
	bool		timed_out = false;	/* lost for want of a heartbeat */
	bool		overdue = false;	/* not gone a margin after SIGKILL */
	int64_t		now;
	int64_t		wake;
	QueryKind	kind;
	int64_t		sent;
	PGresult   *res;
	size_t		i;
	char		d[32];
	char		d2[32];
	char		d3[32];
	char		d4[32];

	for (;;)
	{
		reap_children();
		if (child_done)
		{
			/* a lost lease ends only with the last process of the group */
			if (!lease_lost)
				return;
			if (!command_group_alive())
			{
				report(LEVEL_VERBOSE, "the command's process group is gone");
				return;
			}
			if (overdue)
				return;
		}

		/* forward signals to the command's group */
		for (i = 0; i < NUM_FORWARDED; i++)
		{
			int			signo = forwarded_signals[i];

			if (sig_pending[signo])
			{
				sig_pending[signo] = false;
				report(LEVEL_VERBOSE, "forwarding %s to the command", signal_name(signo));
				signal_command(signo);
			}
		}
		sig_pending[SIGCHLD] = false;

		if (result_ready)
		{
			res = take_result(&kind, &sent);
			if (kind == QUERY_HEARTBEAT)
				heartbeat_done(res, sent);
			PQclear(res);
		}

		now = now_usec();
		if (!lease_lost)
		{
			if (now >= last_ok + renew_window)
			{
				timed_out = true;
				lose_lease("no heartbeat succeeded within %s (the ttl of %s, less %s to stop the command and a safety margin of %s) (%s)",
						   format_duration(renew_window, d, sizeof(d)),
						   format_duration(opt_ttl, d2, sizeof(d2)),
						   format_duration(stop_time, d3, sizeof(d3)),
						   format_duration(safety_margin, d4, sizeof(d4)),
						   conn_error[0] ? conn_error :
						   "none was answered in time: was lockable-run stopped?");
			}
			else
			{
				switch (conn_state)
				{
					case CONN_IDLE:
						if (now >= next_heartbeat)
							send_query(QUERY_HEARTBEAT);
						break;
					case CONN_BUSY:
						/* an answer that takes a whole period: reconnect */
						if (now >= query_sent + opt_heartbeat)
						{
							set_conn_error("no answer from the server to a heartbeat");
							start_reset();
						}
						break;
					case CONN_RESETTING:
						if (now >= reset_started + opt_heartbeat)
						{
							set_conn_error("reconnecting timed out");
							start_reset();
						}
						break;
					case CONN_DOWN:
						if (now >= reset_retry_at)
							start_reset();
						break;
				}
				if ((conn_state == CONN_DOWN || conn_state == CONN_RESETTING) &&
					!outage_reported)
				{
					report(LEVEL_NORMAL,
						   "lost the connection to the database (%s); reconnecting: "
						   "the command is stopped unless the lease is renewed within %s",
						   conn_error,
						   format_duration(((last_ok + renew_window - now) / USECS_PER_MSEC) * USECS_PER_MSEC,
										   d, sizeof(d)));
					outage_reported = true;
				}
			}
		}

		if (lease_lost)
		{
			if (kill_sent < 0)
			{
				/*
				 * lose_lease() has sent --kill-signal.  SIGKILL follows
				 * --kill-after later, but no later than a safety margin
				 * before the lease can expire on the server: if we ran late,
				 * the command gets less time.
				 */
				kill_sent = now;
				kill_hard_at = min_deadline(now + stop_time,
											last_ok + opt_ttl - safety_margin);
				if (opt_kill_signal == SIGKILL)
				{
					kill_hard_at = now;
					killed_hard = true;
				}
			}
			if (!killed_hard && now >= kill_hard_at)
			{
				const char *what = child_done ?
					"processes of the command's process group are" :
					"the command is";

				if (timed_out && now < last_ok + opt_ttl)
					report(LEVEL_ALWAYS, "%s still running %s after %s; sending SIGKILL to its process group, %s before the lease can expire on the server",
						   what, format_rounded(now - kill_sent, d, sizeof(d)),
						   signal_name(opt_kill_signal),
						   format_rounded(last_ok + opt_ttl - now, d2, sizeof(d2)));
				else if (timed_out)
					report(LEVEL_ALWAYS, "%s still running %s after %s; sending SIGKILL to its process group (late: the lease may have expired on the server)",
						   what, format_rounded(now - kill_sent, d, sizeof(d)),
						   signal_name(opt_kill_signal));
				else
					report(LEVEL_ALWAYS, "%s still running %s after %s; sending SIGKILL",
						   what, format_rounded(now - kill_sent, d, sizeof(d)),
						   signal_name(opt_kill_signal));
				signal_command(SIGKILL);
				killed_hard = true;
			}
			if (killed_hard && !overdue && now >= kill_hard_at + safety_margin)
			{
				/* stuck in the kernel, or out of reach */
				report(LEVEL_ALWAYS, "%s still running %s after SIGKILL: another holder may take the lease while %s",
					   child_done ? "processes of the command's process group are" : "the command is",
					   format_rounded(now - kill_hard_at, d, sizeof(d)),
					   child_done ? "they run" : "it runs");
				overdue = true;
				continue;		/* stop waiting for them, if the command ended */
			}
		}

		/* when to look again */
		wake = -1;
		if (!lease_lost)
		{
			wake = last_ok + renew_window;
			switch (conn_state)
			{
				case CONN_IDLE:
					wake = min_deadline(wake, next_heartbeat);
					break;
				case CONN_BUSY:
					wake = min_deadline(wake, query_sent + opt_heartbeat);
					break;
				case CONN_RESETTING:
					wake = min_deadline(wake, reset_started + opt_heartbeat);
					break;
				case CONN_DOWN:
					wake = min_deadline(wake, reset_retry_at);
					break;
			}
		}
		else
		{
			if (!killed_hard)
				wake = kill_hard_at;
			else if (!overdue)
				wake = kill_hard_at + safety_margin;
			/* nothing tells when the rest of the group ends: look often */
			if (child_done)
				wake = min_deadline(wake, now + GROUP_POLL);
		}
		wait_events(wake);
	}
}

/*
 * After the command: let a heartbeat in flight finish, then release the
 * lease.  A release that finds the lease gone means it was lost while the
 * command ran.
 */
static void
release_lease(void)
{
	int64_t		deadline;
	int			signo;
	QueryKind	kind;
	int64_t		sent;
	PGresult   *res;
	bool		ambiguous = false;
	char		d[32];

	deadline = now_usec() + (opt_ttl < RELEASE_TIMEOUT ? opt_ttl : RELEASE_TIMEOUT);

	if (lease_lost)
	{
		/* nothing to wait for; release only if the connection is at hand */
		if (conn_state != CONN_IDLE)
			return;
		res = run_query(QUERY_RELEASE, deadline, false, INTERRUPT_ABANDON, &signo);
		if (res)
			PQclear(res);
		return;
	}

	while (conn_state == CONN_BUSY && query_kind == QUERY_HEARTBEAT &&
		   now_usec() < deadline && !sig_pending[SIGINT] && !sig_pending[SIGTERM])
		wait_events(deadline);
	if (result_ready)
	{
		res = take_result(&kind, &sent);
		if (kind == QUERY_HEARTBEAT)
			heartbeat_done(res, sent);
		PQclear(res);
		if (lease_lost)
			return;
	}
	if (conn_state == CONN_BUSY)
		start_reset();			/* abandon the heartbeat's answer */

	res = run_query(QUERY_RELEASE, deadline, true, INTERRUPT_ABANDON, &signo);
	if (res == NULL && signo == 0 && query_was_sent && now_usec() < deadline)
	{
		/*
		 * The connection failed after the release was sent: the server may
		 * or may not have run it.  Try again on a new connection; a false
		 * answer then proves nothing.
		 */
		report(LEVEL_VERBOSE, "the connection failed during the release (%s); trying again",
			   conn_error);
		ambiguous = true;
		res = run_query(QUERY_RELEASE, deadline, true, INTERRUPT_ABANDON, &signo);
	}
	if (res && result_ok(res) && !PQgetisnull(res, 0, 0))
	{
		if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
			report(LEVEL_VERBOSE, "released lease \"%s\"", opt_name);
		else if (ambiguous && child_ended < last_ok + opt_ttl)
		{
			/* the command ended while the last heartbeat still covered it */
			report(LEVEL_VERBOSE, "lease \"%s\" is no longer held: released by the first attempt",
				   opt_name);
		}
		else
		{
			lease_lost = true;
			fprintf(stderr, "%s: lease \"%s\" lost: it was no longer held with token %s "
					"when the command ended (it expired or was force-released while "
					"the command ran)\n", progname, opt_name, token_param);
		}
	}
	else
	{
		if (signo != 0)
			set_conn_error("interrupted");
		else if (res)
			set_conn_error(result_error(res));
		report(LEVEL_NORMAL, "could not release lease \"%s\" (%s); it expires by itself within %s",
			   opt_name, conn_error, format_duration(opt_ttl, d, sizeof(d)));
	}
	if (res)
		PQclear(res);
}

/* Give the lease back before exiting without running the command */
static void
release_quietly(void)
{
	int			signo;
	PGresult   *res;

	res = run_query(QUERY_RELEASE, now_usec() + RELEASE_TIMEOUT, false,
					INTERRUPT_ABANDON, &signo);
	if (res)
		PQclear(res);
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
static void
close_connection(void)
{
	if (result)
		PQclear(result);
	result = NULL;
	if (conn)
		PQfinish(conn);
	conn = NULL;
}

/* Exit with 'code', clearing a result first (it may be NULL) */
static void
exit_clear(PGresult *res, int code)
{
	if (res)
		PQclear(res);
	exit(code);
}

/*
 * Work out the safety margin, --kill-after and --heartbeat, and refuse the
 * options that cannot keep the promise: the command's process group is
 * gone before the lease can expire on the server.
 *
 * The lease lasts at least ttl from the sending of its last successful
 * heartbeat.  The command is SIGKILLed a safety margin before that, and gets
 * --kill-signal --kill-after before that; a new heartbeat must succeed
 * before then, within the renewal window.  At least half the ttl is kept
 * for renewing, and a heartbeat is given one whole interval to be answered
 * (see supervise()), so --heartbeat is at most half the window; by default
 * it is a third, so that a failed heartbeat can be retried.
 */
static void
check_timing(void)
{
	int64_t		max_stop;
	char		d[32];
	char		d2[32];
	char		d3[32];
	char		d4[32];

	if (opt_heartbeat >= opt_ttl)
		usage_error("--heartbeat (%s) must be less than --ttl (%s)",
					format_duration(opt_heartbeat, d, sizeof(d)),
					format_duration(opt_ttl, d2, sizeof(d2)));

	safety_margin = opt_ttl / MARGIN_TTL_DIVISOR;
	if (safety_margin < MARGIN_MIN)
		safety_margin = MARGIN_MIN;

	/* the longest stop that leaves half the ttl for renewing */
	max_stop = opt_ttl / 2 - safety_margin;
	if (max_stop < 0)
		usage_error("--ttl (%s) is too short: the command must be stopped a safety margin of %s before the lease can expire on the server, with at least half the ttl left to renew the lease; use a ttl of at least %s",
					format_duration(opt_ttl, d, sizeof(d)),
					format_duration(safety_margin, d2, sizeof(d2)),
					format_duration(2 * MARGIN_MIN, d3, sizeof(d3)));

	if (opt_kill_signal == SIGKILL)
		stop_time = 0;			/* --kill-after does not matter */
	else if (!kill_after_given)
	{
		if (opt_kill_after > max_stop)
			opt_kill_after = max_stop;
		stop_time = opt_kill_after;
	}
	else if (opt_kill_after == FOREVER)
		usage_error("--kill-after forever cannot stop the command before the lease can expire on the server: with --ttl %s, give at most %s (half the ttl, less a safety margin of %s), or use --kill-signal KILL",
					format_duration(opt_ttl, d, sizeof(d)),
					format_duration(max_stop, d2, sizeof(d2)),
					format_duration(safety_margin, d3, sizeof(d3)));
	else if (opt_kill_after > max_stop)
		usage_error("--kill-after (%s) is too long for --ttl (%s): the command must be stopped a safety margin of %s before the lease can expire on the server, with at least half the ttl left to renew the lease, so --kill-after may be at most %s; give a longer --ttl or a shorter --kill-after",
					format_duration(opt_kill_after, d, sizeof(d)),
					format_duration(opt_ttl, d2, sizeof(d2)),
					format_duration(safety_margin, d3, sizeof(d3)),
					format_duration(max_stop, d4, sizeof(d4)));
	else
		stop_time = opt_kill_after;

	renew_window = opt_ttl - stop_time - safety_margin;
	if (opt_heartbeat == 0)
		opt_heartbeat = renew_window / 3 > 0 ? renew_window / 3 : 1;
	else if (opt_heartbeat > renew_window / 2)
	{
		char		d5[32];
		char		d6[32];

		usage_error("--heartbeat (%s) is too long: the lease must be renewed within %s of the last renewal (--ttl %s, less %s to stop the command and a safety margin of %s), and each heartbeat gets one interval to be answered, so --heartbeat may be at most %s",
					format_duration(opt_heartbeat, d, sizeof(d)),
					format_duration(renew_window, d2, sizeof(d2)),
					format_duration(opt_ttl, d3, sizeof(d3)),
					format_duration(stop_time, d4, sizeof(d4)),
					format_duration(safety_margin, d5, sizeof(d5)),
					format_duration(renew_window / 2, d6, sizeof(d6)));
	}
}

/* ------------------------------------------------------------------- main */

int
main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"name", required_argument, NULL, 'n'},
		{"ttl", required_argument, NULL, 't'},
		{"wait", required_argument, NULL, 'w'},
		{"heartbeat", required_argument, NULL, 'H'},
		{"conflict-exit-code", required_argument, NULL, 'E'},
		{"lost-exit-code", required_argument, NULL, 'L'},
		{"kill-signal", required_argument, NULL, 's'},
		{"kill-after", required_argument, NULL, 'k'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *keywords[3];
	const char *values[3];
	char	  **command;
	int			c;
	int			signo;
	int64_t		acquire_deadline;
	int64_t		acquire_sent;
	PGresult   *res;
	char		d[32];
	char		d2[32];
	char		d3[32];
	char		d4[32];
	int			exit_code;

	/* "+": options end at the first non-option, the command */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:d:n:t:w:E:s:k:qvV?",
							long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				opt_dbname = optarg;
				break;
			case 'n':
				opt_name = optarg;
				break;
			case 't':
				if (!parse_duration(optarg, false, &opt_ttl) || opt_ttl <= 0)
					usage_error("invalid value \"%s\" for --ttl: a positive duration such as 500ms, 60s, 10m or 1h is expected",
								optarg);
				break;
			case 'w':
				if (!parse_duration(optarg, true, &opt_wait))
					usage_error("invalid value \"%s\" for --wait: a duration such as 0, 500ms, 10s, 10m, 1h or \"forever\" is expected",
								optarg);
				break;
			case 'H':
				if (!parse_duration(optarg, false, &opt_heartbeat) || opt_heartbeat <= 0)
					usage_error("invalid value \"%s\" for --heartbeat: a positive duration such as 500ms, 10s or 1m is expected",
								optarg);
				break;
			case 'E':
				opt_conflict_exit = parse_exit_code(optarg, "--conflict-exit-code");
				break;
			case 'L':
				opt_lost_exit = parse_exit_code(optarg, "--lost-exit-code");
				break;
			case 's':
				opt_kill_signal = parse_signal(optarg);
				break;
			case 'k':
				if (!parse_duration(optarg, true, &opt_kill_after))
					usage_error("invalid value \"%s\" for --kill-after: a duration such as 0, 5s or 1m is expected",
								optarg);
				kill_after_given = true;
				break;
			case 'q':
				verbosity = LEVEL_ALWAYS;
				break;
			case 'v':
				verbosity = LEVEL_VERBOSE;
				break;
			case 'V':
				printf("lockable-run (lockable) %s\n", LOCKABLE_RUN_VERSION);
				exit(0);
			case 'h':
				help();
				exit(0);
			case '?':
				if (strcmp(argv[optind - 1], "-?") == 0)
				{
					help();
					exit(0);
				}
				if (optopt != 0 && optopt != '?')
					usage_error("invalid option -- '%c'", optopt);
				usage_error("unrecognized option \"%s\"", argv[optind - 1]);
			case ':':
				usage_error("option \"%s\" requires an argument", argv[optind - 1]);
			default:
				usage_error("invalid option \"%s\"", argv[optind - 1]);
		}
	}

	if (opt_name == NULL)
		usage_error("no lease name given: --name is required");
	if (opt_name[0] == '\0')
		usage_error("the lease name must not be empty");
	if (optind >= argc)
		usage_error("no command given");
	command = argv + optind;

	check_timing();
	report(LEVEL_VERBOSE, "the command is stopped unless a heartbeat succeeds within %s of the last one (heartbeat every %s, %s to stop the command, safety margin %s)",
		   format_duration(renew_window, d, sizeof(d)),
		   format_duration(opt_heartbeat, d2, sizeof(d2)),
		   format_duration(stop_time, d3, sizeof(d3)),
		   format_duration(safety_margin, d4, sizeof(d4)));
	retry_delay = opt_heartbeat / 2;
	if (retry_delay > USECS_PER_SEC)
		retry_delay = USECS_PER_SEC;
	if (retry_delay < 10 * USECS_PER_MSEC)
		retry_delay = 10 * USECS_PER_MSEC;

	snprintf(ttl_param, sizeof(ttl_param), "%lld microseconds", (long long) opt_ttl);
	snprintf(wait_param, sizeof(wait_param), "%lld microseconds",
			 (long long) (opt_wait == FOREVER ? 0 : opt_wait));

	/*
	 * Connect.  Until we hold the lease, a signal may simply kill us: the
	 * handlers are installed only afterwards, so that ^C interrupts a slow
	 * connection attempt.
	 */
	keywords[0] = "dbname";
	values[0] = opt_dbname;
	keywords[1] = "fallback_application_name";
	values[1] = progname;
	keywords[2] = NULL;
	values[2] = NULL;
	conn = PQconnectdbParams(keywords, values, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		set_conn_error(conn ? PQerrorMessage(conn) : "out of memory");
		report(LEVEL_ALWAYS, "could not connect to the database: %s", conn_error);
		exit(EXIT_DATABASE);
	}
	conn_state = CONN_IDLE;
	PQsetNoticeProcessor(conn, notice_processor, NULL);
	atexit(close_connection);
	setup_signals();

	/* Acquire */
	if (opt_wait != 0)
		report(LEVEL_VERBOSE, "waiting up to %s for lease \"%s\"",
			   format_duration(opt_wait, d, sizeof(d)), opt_name);
	acquire_deadline = opt_wait == FOREVER ? -1 :
		now_usec() + opt_wait + ACQUIRE_SLACK;
	acquire_sent = now_usec();
	res = run_query(QUERY_ACQUIRE, acquire_deadline, false, INTERRUPT_CANCEL, &signo);
	if (res == NULL)
	{
		if (signo != 0 && conn_state != CONN_BUSY)
			exit(128 + signo);
		report(LEVEL_ALWAYS, "could not acquire lease \"%s\": %s", opt_name, conn_error);
		exit(signo != 0 ? 128 + signo : EXIT_DATABASE);
	}
	if (!result_ok(res))
	{
		const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (signo != 0)
			exit_clear(res, 128 + signo);
		report(LEVEL_ALWAYS, "could not acquire lease \"%s\": %s", opt_name, result_error(res));
		if (sqlstate && strcmp(sqlstate, "42883") == 0)
			report(LEVEL_ALWAYS, "is the lockable extension installed in this database (CREATE EXTENSION lockable), and in the search_path?");
		/* class 22, data exception: the name or the ttl was refused */
		exit_clear(res, sqlstate && strncmp(sqlstate, "22", 2) == 0 ? EXIT_USAGE : EXIT_DATABASE);
	}
	if (PQgetisnull(res, 0, 0))
	{
		if (signo != 0)
			exit_clear(res, 128 + signo);
		if (opt_wait == 0)
			report(LEVEL_NORMAL, "lease \"%s\" is busy (held by someone else)", opt_name);
		else
			report(LEVEL_NORMAL, "lease \"%s\" is busy (held by someone else); gave up after %s",
				   opt_name, format_duration(opt_wait, d, sizeof(d)));
		exit_clear(res, opt_conflict_exit);
	}
	snprintf(token_param, sizeof(token_param), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	report(LEVEL_VERBOSE, "acquired lease \"%s\" with token %s, ttl %s",
		   opt_name, token_param, format_duration(opt_ttl, d, sizeof(d)));
	if (signo != 0)
	{
		release_quietly();
		exit(128 + signo);
	}

	/*
	 * The lease is held at least until ttl after the acquire was sent (it
	 * was granted after that).  If the acquire waited, that moment may be
	 * long gone: confirm with a heartbeat before starting the command.
	 */
	last_ok = acquire_sent;
	next_heartbeat = last_ok + opt_heartbeat;
	if (now_usec() >= next_heartbeat)
	{
		res = run_query(QUERY_HEARTBEAT, now_usec() + renew_window, false,
						INTERRUPT_ABANDON, &signo);
		if (signo != 0)
		{
			if (res)
				PQclear(res);
			release_quietly();
			exit(128 + signo);
		}
		if (res == NULL || !result_ok(res))
		{
			report(LEVEL_ALWAYS, "could not renew lease \"%s\" after acquiring it: %s; it expires by itself within %s",
				   opt_name, res ? result_error(res) : conn_error,
				   format_duration(opt_ttl, d, sizeof(d)));
			exit_clear(res, EXIT_DATABASE);
		}
		/* query_sent is still the moment this heartbeat was sent */
		heartbeat_done(res, query_sent);
		PQclear(res);
		if (lease_lost)
			exit(opt_lost_exit);
	}

	signo = pending_terminating_signal();
	if (signo != 0)
	{
		release_quietly();
		exit(128 + signo);
	}

	/*
	 * Run the command.  Signals that came before it existed (SIGUSR1...) are
	 * not passed on: it could not have set up handlers for them yet.
	 */
	memset(sig_pending, 0, sizeof(sig_pending));
	if (!start_command(command))
	{
		release_quietly();
		exit(EXIT_OSERR);
	}
	supervise();

	exit_code = command_exit_code(child_status);
	if (WIFSIGNALED(child_status))
		report(LEVEL_VERBOSE, "the command was killed by %s", signal_name(WTERMSIG(child_status)));
	else
		report(LEVEL_VERBOSE, "the command exited with status %d", exit_code);

	release_lease();
	close_connection();

	if (lease_lost)
	{
		report(LEVEL_VERBOSE, "exiting with status %d (lease lost)", opt_lost_exit);
		return opt_lost_exit;
	}
	return exit_code;
}
