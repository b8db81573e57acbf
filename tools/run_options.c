/*-------------------------------------------------------------------------
 *
 * run_options.c
 *	  lockable-run: the command line.  Parses the options and the command,
 *	  prints --help and --version, and refuses timings that cannot stop the
 *	  command before the lease can expire (check_timing()).
 *
 * Every error here is a usage error: a message, a hint to try --help, and
 * exit status 64 before anything has been done.
 *
 * Copyright (c) 2026, the lockable authors
 *
 * IDENTIFICATION
 *	  tools/run_options.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lockable_run.h"

static const struct option long_options[] = {
	{"dbname", required_argument, NULL, 'd'},
	{"name", required_argument, NULL, 'n'},
	{"ttl", required_argument, NULL, 't'},
	{"wait", required_argument, NULL, 'w'},
	{"heartbeat", required_argument, NULL, 'H'},
	{"slots", required_argument, NULL, 'N'},
	{"shared", no_argument, NULL, 'S'},
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

static void usage_error(const char *fmt,...) lr_printf_attr(1, 2) lr_noreturn;
static void invalid_value(const char *s, const char *option,
						  const char *expected) lr_noreturn;


static void
usage_error(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	print_message(fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry \"%s --help\" for more information.\n", progname);
	exit(EXIT_USAGE);
}

/*
 * --help, in the manual page's sections; tools/lockable-run.1 says the same
 * at more length.
 */
static void
help_description(void)
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
		   "    With --slots N, up to N runs hold NAME at once (a counting lease, like\n"
		   "    consul lock -n N), each with a token of its own; every run of NAME must\n"
		   "    give the same N.  With --shared, --shared runs hold NAME together (up\n"
		   "    to N of them with --slots N, any number without it) and runs without\n"
		   "    --shared wait until none is left, and the other way round: readers and\n"
		   "    a writer.  Waiting runs are served in arrival order, so later --shared\n"
		   "    runs do not overtake a waiting writer.  Both options need version 1.3\n"
		   "    of the extension; without them the acquire is the same as before.\n"
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
		   "    With --slots or --shared several runs hold tokens at once:\n"
		   "    lockable_check() tells whether this run's grant is current, while\n"
		   "    WHERE fence <= token would refuse the older of two runs that hold the\n"
		   "    lease together.\n"
		   "\n");
}

static void
help_options(void)
{
	printf(
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
		   "        --slots=N           up to N runs hold NAME at once, N from 1 to\n"
		   "                            10000 (default 1); the same N in every run of NAME\n"
		   "        --shared            take NAME in shared mode: --shared runs hold it\n"
		   "                            together (up to --slots of them, any number\n"
		   "                            without --slots), never with runs without --shared\n"
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
		   "\n");
}

static void
help_exit_status(void)
{
	printf(
		   "EXIT STATUS\n"
		   "    COMMAND's exit status, or 128 + N if it was killed by signal N, except:\n"
		   "    64   bad options or arguments (also timings that cannot stop COMMAND in\n"
		   "         time, and when the server rejects the name or the ttl); COMMAND did\n"
		   "         not run\n"
		   "    69   could not connect, or acquiring failed (e.g. the extension is not\n"
		   "         installed, or older than 1.3 with --slots or --shared, or NAME is\n"
		   "         held with another --slots); COMMAND did not run\n"
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
		   "    lockable-run -n resize --slots 4 -w 1h -- ./resize.sh  # 4 at once\n"
		   "\n"
		   "SEE ALSO\n"
		   "    flock(1), timeout(1), README.md of the lockable extension\n");
}

static void
help(void)
{
	help_description();
	help_options();
	help_exit_status();
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

/* The refusal of a bad value for an option */
static void
invalid_value(const char *s, const char *option, const char *expected)
{
	usage_error("invalid value \"%s\" for %s: %s is expected", s, option, expected);
}

/*
 * The DURATION argument 's' of 'option', which must be positive unless
 * 'allow_forever' (then it may also be 0 or "forever").
 */
static int64_t
duration_arg(const char *s, const char *option, bool allow_forever,
			 const char *expected)
{
	int64_t		usec;

	if (!parse_duration(s, allow_forever, &usec) || (!allow_forever && usec <= 0))
		invalid_value(s, option, expected);
	return usec;
}

static int
parse_exit_code(const char *s, const char *option)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 255)
		invalid_value(s, option, "an exit status from 0 to 255");
	return (int) v;
}

/*
 * --slots: checked here with the server's limits, so that a typo is a usage
 * error before anything has been done, as for every other option.
 */
static int
parse_slots(const char *s)
{
	char	   *end;
	long		v;

	/* digits only: no sign, no white space */
	errno = 0;
	v = strtol(s, &end, 10);
	if (*s < '0' || *s > '9' || errno != 0 || *end != '\0' ||
		v < MIN_SLOTS || v > MAX_SLOTS)
		usage_error("invalid value \"%s\" for --slots: a whole number from %d to %d is expected",
					s, MIN_SLOTS, MAX_SLOTS);
	return (int) v;
}

static int
parse_signal(const char *s)
{
	const char *n = s;
	char	   *end;
	long		v;
	int			signo;

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
		signo = signal_number(n);
		if (signo != 0)
			return signo;
	}
	usage_error("invalid signal \"%s\" for --kill-signal: use HUP, INT, QUIT, ABRT, KILL, USR1, USR2, ALRM, TERM or a number",
				s);
}

/* Handle the option getopt_long() returned as 'c' */
static void
handle_option(int c, char **argv, RunOptions *opts)
{
	switch (c)
	{
		case 'd':
			opts->dbname = optarg;
			break;
		case 'n':
			opts->name = optarg;
			break;
		case 't':
			opts->ttl = duration_arg(optarg, "--ttl", false,
									 "a positive duration such as 500ms, 60s, 10m or 1h");
			break;
		case 'w':
			opts->wait = duration_arg(optarg, "--wait", true,
									  "a duration such as 0, 500ms, 10s, 10m, 1h or \"forever\"");
			break;
		case 'H':
			opts->heartbeat = duration_arg(optarg, "--heartbeat", false,
										   "a positive duration such as 500ms, 10s or 1m");
			break;
		case 'N':
			opts->slots = parse_slots(optarg);
			break;
		case 'S':
			opts->shared = true;
			break;
		case 'E':
			opts->conflict_exit = parse_exit_code(optarg, "--conflict-exit-code");
			break;
		case 'L':
			opts->lost_exit = parse_exit_code(optarg, "--lost-exit-code");
			break;
		case 's':
			opts->kill_signal = parse_signal(optarg);
			break;
		case 'k':
			opts->kill_after = duration_arg(optarg, "--kill-after", true,
											"a duration such as 0, 5s or 1m");
			opts->kill_after_given = true;
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

/*
 * The time check_timing() keeps for stopping the command: --kill-after,
 * or none with --kill-signal KILL.  max_stop is the longest there is room
 * for: a default --kill-after is cut down to it, a longer one given (or
 * "forever") is refused.
 */
static int64_t
stop_time_for(RunOptions *opts, int64_t max_stop)
{
	char		d[32];
	char		d2[32];
	char		d3[32];
	char		d4[32];

	if (opts->kill_signal == SIGKILL)
		return 0;				/* --kill-after does not matter */
	if (!opts->kill_after_given)
	{
		if (opts->kill_after > max_stop)
			opts->kill_after = max_stop;
		return opts->kill_after;
	}
	if (opts->kill_after == FOREVER)
		usage_error("--kill-after forever cannot stop the command before the lease can expire on the server: with --ttl %s, give at most %s (half the ttl, less a safety margin of %s), or use --kill-signal KILL",
					format_duration(opts->ttl, d, sizeof(d)),
					format_duration(max_stop, d2, sizeof(d2)),
					format_duration(opts->safety_margin, d3, sizeof(d3)));
	if (opts->kill_after > max_stop)
		usage_error("--kill-after (%s) is too long for --ttl (%s): the command must be stopped a safety margin of %s before the lease can expire on the server, with at least half the ttl left to renew the lease, so --kill-after may be at most %s; give a longer --ttl or a shorter --kill-after",
					format_duration(opts->kill_after, d, sizeof(d)),
					format_duration(opts->ttl, d2, sizeof(d2)),
					format_duration(opts->safety_margin, d3, sizeof(d3)),
					format_duration(max_stop, d4, sizeof(d4)));
	return opts->kill_after;
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
check_timing(RunOptions *opts)
{
	int64_t		max_stop;
	char		d[32];
	char		d2[32];
	char		d3[32];
	char		d4[32];
	char		d5[32];
	char		d6[32];

	if (opts->heartbeat >= opts->ttl)
		usage_error("--heartbeat (%s) must be less than --ttl (%s)",
					format_duration(opts->heartbeat, d, sizeof(d)),
					format_duration(opts->ttl, d2, sizeof(d2)));

	opts->safety_margin = opts->ttl / MARGIN_TTL_DIVISOR;
	if (opts->safety_margin < MARGIN_MIN)
		opts->safety_margin = MARGIN_MIN;

	/* the longest stop that leaves half the ttl for renewing */
	max_stop = opts->ttl / 2 - opts->safety_margin;
	if (max_stop < 0)
		usage_error("--ttl (%s) is too short: the command must be stopped a safety margin of %s before the lease can expire on the server, with at least half the ttl left to renew the lease; use a ttl of at least %s",
					format_duration(opts->ttl, d, sizeof(d)),
					format_duration(opts->safety_margin, d2, sizeof(d2)),
					format_duration(2 * MARGIN_MIN, d3, sizeof(d3)));

	opts->stop_time = stop_time_for(opts, max_stop);

	opts->renew_window = opts->ttl - opts->stop_time - opts->safety_margin;
	if (opts->heartbeat == 0)
		opts->heartbeat = opts->renew_window / 3 > 0 ? opts->renew_window / 3 : 1;
	else if (opts->heartbeat > opts->renew_window / 2)
		usage_error("--heartbeat (%s) is too long: the lease must be renewed within %s of the last renewal (--ttl %s, less %s to stop the command and a safety margin of %s), and each heartbeat gets one interval to be answered, so --heartbeat may be at most %s",
					format_duration(opts->heartbeat, d, sizeof(d)),
					format_duration(opts->renew_window, d2, sizeof(d2)),
					format_duration(opts->ttl, d3, sizeof(d3)),
					format_duration(opts->stop_time, d4, sizeof(d4)),
					format_duration(opts->safety_margin, d5, sizeof(d5)),
					format_duration(opts->renew_window / 2, d6, sizeof(d6)));
}

/*
 * Parse the command line into *opts, or exit: with status 0 after --help or
 * --version, with EXIT_USAGE (64) on a bad option or timing.
 */
void
parse_options(int argc, char **argv, RunOptions *opts)
{
	int			c;
	char		d[32];
	char		d2[32];
	char		d3[32];
	char		d4[32];

	memset(opts, 0, sizeof(*opts));
	opts->ttl = 60 * USECS_PER_SEC;
	opts->wait = 0;
	opts->heartbeat = 0;		/* 0: renew_window / 3 */
	opts->slots = 1;
	opts->conflict_exit = DEFAULT_CONFLICT_EXIT;
	opts->lost_exit = DEFAULT_LOST_EXIT;
	opts->kill_signal = SIGTERM;
	opts->kill_after = DEFAULT_KILL_AFTER;

	/* "+": options end at the first non-option, the command */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:d:n:t:w:E:s:k:qvV?",
							long_options, NULL)) != -1)
		handle_option(c, argv, opts);

	if (opts->name == NULL)
		usage_error("no lease name given: --name is required");
	if (opts->name[0] == '\0')
		usage_error("the lease name must not be empty");
	if (optind >= argc)
		usage_error("no command given");
	opts->command = argv + optind;

	check_timing(opts);
	report(LEVEL_VERBOSE, "the command is stopped unless a heartbeat succeeds within %s of the last one (heartbeat every %s, %s to stop the command, safety margin %s)",
		   format_duration(opts->renew_window, d, sizeof(d)),
		   format_duration(opts->heartbeat, d2, sizeof(d2)),
		   format_duration(opts->stop_time, d3, sizeof(d3)),
		   format_duration(opts->safety_margin, d4, sizeof(d4)));
}
