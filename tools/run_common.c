/*-------------------------------------------------------------------------
 *
 * run_common.c
 *	  lockable-run: what every other file uses, and that uses none of them:
 *	  messages, the monotonic clock, durations and signal names.
 *
 * Copyright (c) 2026, the lockable authors
 *
 * IDENTIFICATION
 *	  tools/run_common.c
 *
 *-------------------------------------------------------------------------
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

#include "lockable_run.h"

const char *progname = "lockable-run";

/* Set from --quiet and --verbose */
int			verbosity = LEVEL_NORMAL;

/* The signals --kill-signal takes by name, and how messages name them */
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

#define NUM_SIGNAL_NAMES	(sizeof(signal_names) / sizeof(signal_names[0]))


/*
 * Print "lockable-run: message" on stderr, without a newline (a usage error
 * adds a hint on the same line's end).
 */
void
print_message(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", progname);
	vfprintf(stderr, fmt, ap);
}

/*
 * Print "lockable-run: message" on stderr if the verbosity allows it.
 */
void
report(int level, const char *fmt,...)
{
	va_list		ap;

	if (level > verbosity)
		return;
	va_start(ap, fmt);
	print_message(fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Monotonic clock, microseconds.
 */
int64_t
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * USECS_PER_SEC + ts.tv_nsec / 1000;
}

int64_t
min_deadline(int64_t a, int64_t b)
{
	/* -1 means "no deadline" */
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/* A duration for messages: "60s", "1.5s", "10m", "250ms" */
const char *
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

/* A duration for messages, rounded to 100 ms */
const char *
format_rounded(int64_t usec, char *buf, size_t size)
{
	int64_t		step = 100 * USECS_PER_MSEC;

	return format_duration(((usec + step / 2) / step) * step, buf, size);
}

/* The signal called 'name' (without "SIG", any case), or 0 */
int
signal_number(const char *name)
{
	size_t		i;

	for (i = 0; i < NUM_SIGNAL_NAMES; i++)
		if (strcasecmp(name, signal_names[i].name) == 0)
			return signal_names[i].signo;
	return 0;
}

/* "SIGTERM", or "signal 40"; the buffer is overwritten by the next call */
const char *
signal_name(int signo)
{
	static char buf[32];
	size_t		i;

	for (i = 0; i < NUM_SIGNAL_NAMES; i++)
		if (signal_names[i].signo == signo)
		{
			snprintf(buf, sizeof(buf), "SIG%s", signal_names[i].name);
			return buf;
		}
	snprintf(buf, sizeof(buf), "signal %d", signo);
	return buf;
}
