/*-------------------------------------------------------------------------
 *
 * run_supervise.c
 *	  lockable-run: the command, and the lease while it runs.  Starts the
 *	  command in a process group of its own, forwards signals to the group,
 *	  renews the lease, and when the lease is lost stops the whole group
 *	  (--kill-signal, then SIGKILL after --kill-after) before the lease can
 *	  expire on the server; then releases the lease.
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
 * --lost-exit-code.  On Linux, lockable-run is a child subreaper, so that
 * the processes of the group that outlive their parent are its children and
 * it can reap them too.
 *
 * Copyright (c) 2026, the lockable authors
 *
 * IDENTIFICATION
 *	  tools/run_supervise.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#ifndef PR_SET_CHILD_SUBREAPER
#define PR_SET_CHILD_SUBREAPER	36	/* Linux 3.4 and later */
#endif
#endif

#include "lockable_run.h"

/* How far stopping the command has got, once the lease is lost */
typedef struct Stopping
{
	int64_t		kill_sent;		/* when --kill-signal was sent; -1 before */
	int64_t		kill_hard_at;	/* when SIGKILL is due */
	bool		killed_hard;
	bool		timed_out;		/* lost for want of a heartbeat */
	bool		overdue;		/* not gone a margin after SIGKILL */
} Stopping;

static void lose_lease(Run *run, const char *fmt,...) lr_printf_attr(2, 3);


/* ---------------------------------------------------------------- command */

/*
 * Signal the command's process group.  Its id, the command's pid, cannot
 * be reused while one process of the group is left, even once the command
 * itself has been reaped; the command alone is signalled only if there is
 * no group (and only while it has not been reaped).
 */
static void
signal_command(Command *cmd, int signo)
{
	if (cmd->pid <= 0)
		return;
	if (kill(-cmd->pid, signo) != 0 && !cmd->done)
		(void) kill(cmd->pid, signo);
}

/* Is a process of the command's group left (running, or a zombie)? */
static bool
command_group_alive(Command *cmd)
{
	if (cmd->pid <= 0)
		return false;
	if (kill(-cmd->pid, 0) == 0)
		return true;
	/* EPERM: one is left, but not ours to signal (a setuid program) */
	return errno == EPERM;
}

/*
 * Reap every child that has ended: the command, and (as a child subreaper)
 * the processes it left behind whose parent ended.
 */
static void
reap_children(Command *cmd)
{
	int			status;
	pid_t		r;

	if (cmd->pid <= 0)
		return;
	for (;;)
	{
		r = waitpid(-1, &status, WNOHANG);
		if (r > 0)
		{
			if (r == cmd->pid && !cmd->done)
			{
				cmd->done = true;
				cmd->status = status;
				cmd->ended = now_usec();
			}
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == ECHILD && !cmd->done)
		{
			/* cannot happen unless someone reaped it for us */
			cmd->done = true;
			cmd->status = 0;
			cmd->ended = now_usec();
			report(LEVEL_ALWAYS, "lost track of the command (pid %d)", (int) cmd->pid);
		}
		break;
	}
}

int
command_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

/* In the forked child: become the command, or _exit */
static void
exec_command(Run *run, pid_t parent)
{
	char	  **argv = run->opts.command;

	/* in the command: a process group of its own */
	(void) setpgid(0, 0);

	restore_signals();

#ifdef __linux__
	/* if lockable-run dies, nobody renews the lease: stop too */
	if (prctl(PR_SET_PDEATHSIG, run->opts.kill_signal) == 0 && getppid() != parent)
		raise(run->opts.kill_signal);
#else
	(void) parent;
#endif

	if (setenv("LOCKABLE_NAME", run->opts.name, 1) != 0 ||
		setenv("LOCKABLE_TOKEN", run->lease.token_param, 1) != 0)
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

/* Start the command; returns false if fork failed */
bool
start_command(Run *run)
{
	pid_t		parent = getpid();
	pid_t		pid;

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
		exec_command(run, parent);

	/* also here, so that the group exists before we signal it */
	(void) setpgid(pid, pid);
	run->command.pid = pid;
	report(LEVEL_VERBOSE, "started \"%s\" (pid %d)", run->opts.command[0], (int) pid);
	return true;
}

/* ------------------------------------------------------------------ lease */

/* The lease is lost: say why and signal the command */
static void
lose_lease(Run *run, const char *fmt,...)
{
	va_list		ap;

	if (run->lease.lost)
		return;
	run->lease.lost = true;
	fprintf(stderr, "%s: lease \"%s\" lost: ", progname, run->opts.name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (run->command.pid > 0 && !run->command.done)
		fprintf(stderr, "; sending %s to the command\n", signal_name(run->opts.kill_signal));
	else
		fputc('\n', stderr);
	signal_command(&run->command, run->opts.kill_signal);
}

/* Handle the answer to a heartbeat sent at 'sent' */
static void
heartbeat_answered(Run *run, PGresult *res, int64_t sent)
{
	if (!heartbeat_answer(&run->lease, res, sent))
		lose_lease(run, "the server says it is no longer held with token %s "
				   "(it expired, was force-released or taken over)",
				   run->lease.token_param);
}

/* Take the result of a finished query, if there is one */
static void
take_answer(Run *run)
{
	QueryKind	kind;
	int64_t		sent;
	PGresult   *res;

	if (!run->lease.result_ready)
		return;
	res = take_result(&run->lease, &kind, &sent);
	if (kind == QUERY_HEARTBEAT)
		heartbeat_answered(run, res, sent);
	PQclear(res);
}

/*
 * Before the command starts: if the acquire waited, the moment the lease
 * is known to be held until may be long gone, so confirm it with a
 * heartbeat.  Returns false, with the status to exit with in *exit_code,
 * if it cannot be confirmed.
 */
bool
confirm_lease(Run *run, int *exit_code)
{
	LeaseClient *lc = &run->lease;
	PGresult   *res;
	int			signo;
	char		d[32];

	if (now_usec() < lc->next_heartbeat)
		return true;
	res = run_query(lc, QUERY_HEARTBEAT, now_usec() + run->opts.renew_window,
					false, INTERRUPT_ABANDON, &signo);
	if (signo != 0)
	{
		if (res)
			PQclear(res);
		release_quietly(lc);
		*exit_code = 128 + signo;
		return false;
	}
	if (res == NULL || !result_ok(res))
	{
		report(LEVEL_ALWAYS, "could not renew lease \"%s\" after acquiring it: %s; it expires by itself within %s",
			   run->opts.name, res ? result_error(res) : lc->error,
			   format_duration(run->opts.ttl, d, sizeof(d)));
		if (res)
			PQclear(res);
		*exit_code = EXIT_DATABASE;
		return false;
	}
	/* query_sent is still the moment this heartbeat was sent */
	heartbeat_answered(run, res, lc->query_sent);
	PQclear(res);
	if (lc->lost)
	{
		*exit_code = run->opts.lost_exit;
		return false;
	}
	return true;
}

/*
 * After the command: let a heartbeat in flight finish, then release the
 * lease.  A release that finds the lease gone means it was lost while the
 * command ran.
 */
void
finish_lease(Run *run)
{
	LeaseClient *lc = &run->lease;
	const RunOptions *opts = &run->opts;
	int64_t		deadline;
	int			signo;
	PGresult   *res;

	deadline = now_usec() + (opts->ttl < RELEASE_TIMEOUT ? opts->ttl : RELEASE_TIMEOUT);

	if (lc->lost)
	{
		/* nothing to wait for; release only if the connection is at hand */
		if (lc->state != CONN_IDLE)
			return;
		res = run_query(lc, QUERY_RELEASE, deadline, false, INTERRUPT_ABANDON, &signo);
		if (res)
			PQclear(res);
		return;
	}

	while (lc->state == CONN_BUSY && lc->query_kind == QUERY_HEARTBEAT &&
		   now_usec() < deadline && !signal_pending(SIGINT) && !signal_pending(SIGTERM))
		wait_events(lc, deadline);
	take_answer(run);
	if (lc->lost)
		return;
	release_lease(lc, deadline, run->command.ended);
}

/* -------------------------------------------------------------- supervise */

/*
 * Is supervision over?  When the command has ended, unless the lease was
 * lost: then only with the last process of its group (or when those could
 * not be stopped in time).
 */
static bool
supervision_over(Run *run, const Stopping *st)
{
	if (!run->command.done)
		return false;
	if (!run->lease.lost)
		return true;
	if (!command_group_alive(&run->command))
	{
		report(LEVEL_VERBOSE, "the command's process group is gone");
		return true;
	}
	return st->overdue;
}

/* Pass the signals we got on to the command's group */
static void
forward_signals(Run *run)
{
	int			signo;

	while ((signo = take_forwarded_signal()) != 0)
	{
		report(LEVEL_VERBOSE, "forwarding %s to the command", signal_name(signo));
		signal_command(&run->command, signo);
	}
	(void) take_signal(SIGCHLD);
}

/*
 * When the connection's next step is due: the next heartbeat; giving up on
 * a heartbeat or a reconnection that has taken a whole period; the next
 * attempt to reconnect.
 */
static int64_t
connection_due(LeaseClient *lc)
{
	switch (lc->state)
	{
		case CONN_IDLE:
			return lc->next_heartbeat;
		case CONN_BUSY:
			return lc->query_sent + lc->opts->heartbeat;
		case CONN_RESETTING:
			return lc->reset_started + lc->opts->heartbeat;
		case CONN_DOWN:
			return lc->reset_retry_at;
	}
	return -1;
}

/* Take the connection's next step, if it is due */
static void
drive_connection(LeaseClient *lc, int64_t now)
{
	if (now < connection_due(lc))
		return;
	switch (lc->state)
	{
		case CONN_IDLE:
			send_query(lc, QUERY_HEARTBEAT);
			break;
		case CONN_BUSY:
			/* an answer that takes a whole period: reconnect */
			set_conn_error(lc, "no answer from the server to a heartbeat");
			start_reset(lc);
			break;
		case CONN_RESETTING:
			set_conn_error(lc, "reconnecting timed out");
			start_reset(lc);
			break;
		case CONN_DOWN:
			start_reset(lc);
			break;
	}
}

/*
 * While the lease is held: lose it if the renewal window has passed,
 * otherwise keep renewing it, saying once when the connection is lost.
 */
static void
keep_lease(Run *run, Stopping *st, int64_t now)
{
	LeaseClient *lc = &run->lease;
	const RunOptions *opts = &run->opts;
	char		d[32];
	char		d2[32];
	char		d3[32];
	char		d4[32];

	if (now >= lc->last_ok + opts->renew_window)
	{
		st->timed_out = true;
		lose_lease(run, "no heartbeat succeeded within %s (the ttl of %s, less %s to stop the command and a safety margin of %s) (%s)",
				   format_duration(opts->renew_window, d, sizeof(d)),
				   format_duration(opts->ttl, d2, sizeof(d2)),
				   format_duration(opts->stop_time, d3, sizeof(d3)),
				   format_duration(opts->safety_margin, d4, sizeof(d4)),
				   lc->error[0] ? lc->error :
				   "none was answered in time: was lockable-run stopped?");
		return;
	}

	drive_connection(lc, now);
	if ((lc->state == CONN_DOWN || lc->state == CONN_RESETTING) &&
		!lc->outage_reported)
	{
		report(LEVEL_NORMAL,
			   "lost the connection to the database (%s); reconnecting: "
			   "the command is stopped unless the lease is renewed within %s",
			   lc->error,
			   format_duration(((lc->last_ok + opts->renew_window - now) / USECS_PER_MSEC) * USECS_PER_MSEC,
							   d, sizeof(d)));
		lc->outage_reported = true;
	}
}

/* Send SIGKILL to the command's group, saying how late it is */
static void
kill_hard(Run *run, Stopping *st, int64_t now)
{
	const char *what = run->command.done ?
		"processes of the command's process group are" :
		"the command is";
	int64_t		expiry = run->lease.last_ok + run->opts.ttl;
	char		d[32];
	char		d2[32];
	char		how_late[128] = "";

	/* when the lease timed out, say how close to its expiry this is */
	if (st->timed_out && now < expiry)
		snprintf(how_late, sizeof(how_late),
				 " to its process group, %s before the lease can expire on the server",
				 format_rounded(expiry - now, d2, sizeof(d2)));
	else if (st->timed_out)
		snprintf(how_late, sizeof(how_late),
				 " to its process group (late: the lease may have expired on the server)");
	report(LEVEL_ALWAYS, "%s still running %s after %s; sending SIGKILL%s",
		   what, format_rounded(now - st->kill_sent, d, sizeof(d)),
		   signal_name(run->opts.kill_signal), how_late);
	signal_command(&run->command, SIGKILL);
	st->killed_hard = true;
}

/*
 * Once the lease is lost: SIGKILL the group when --kill-after is up, and
 * give up on it a safety margin after that.  Returns true when it has
 * just given up (the caller looks again whether supervision is over).
 */
static bool
stop_command(Run *run, Stopping *st, int64_t now)
{
	const RunOptions *opts = &run->opts;
	char		d[32];

	if (st->kill_sent < 0)
	{
		/*
		 * lose_lease() has sent --kill-signal.  SIGKILL follows --kill-after
		 * later, but no later than a safety margin before the lease can
		 * expire on the server: if we ran late, the command gets less time.
		 */
		st->kill_sent = now;
		st->kill_hard_at = min_deadline(now + opts->stop_time,
										run->lease.last_ok + opts->ttl - opts->safety_margin);
		if (opts->kill_signal == SIGKILL)
		{
			st->kill_hard_at = now;
			st->killed_hard = true;
		}
	}
	if (!st->killed_hard && now >= st->kill_hard_at)
		kill_hard(run, st, now);
	if (st->killed_hard && !st->overdue && now >= st->kill_hard_at + opts->safety_margin)
	{
		/* stuck in the kernel, or out of reach */
		report(LEVEL_ALWAYS, "%s still running %s after SIGKILL: another holder may take the lease while %s",
			   run->command.done ? "processes of the command's process group are" : "the command is",
			   format_rounded(now - st->kill_hard_at, d, sizeof(d)),
			   run->command.done ? "they run" : "it runs");
		st->overdue = true;
		return true;
	}
	return false;
}

/* When to look again (-1: only when something happens) */
static int64_t
next_wake(Run *run, const Stopping *st, int64_t now)
{
	LeaseClient *lc = &run->lease;
	int64_t		wake = -1;

	if (!lc->lost)
		return min_deadline(lc->last_ok + run->opts.renew_window,
							connection_due(lc));

	if (!st->killed_hard)
		wake = st->kill_hard_at;
	else if (!st->overdue)
		wake = st->kill_hard_at + run->opts.safety_margin;
	/* nothing tells when the rest of the group ends: look often */
	if (run->command.done)
		wake = min_deadline(wake, now + GROUP_POLL);
	return wake;
}

/*
 * Keep the lease while the command runs: heartbeats, reconnects, signals.
 * Returns when the command has ended and, if the lease was lost, when its
 * whole process group is gone (or could not be stopped in time).
 */
void
supervise(Run *run)
{
	Stopping	st = {-1, -1, false, false, false};
	int64_t		now;

	for (;;)
	{
		reap_children(&run->command);
		if (supervision_over(run, &st))
			return;
		forward_signals(run);
		take_answer(run);

		now = now_usec();
		if (!run->lease.lost)
			keep_lease(run, &st, now);
		if (run->lease.lost && stop_command(run, &st, now))
			continue;			/* stop waiting for them, if the command ended */

		wait_events(&run->lease, next_wake(run, &st, now));
	}
}
