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
 * command's exit status.  When the lease cannot be renewed in time, the
 * command's whole process group is stopped before the lease can expire on
 * the server (the safety rule is at the top of run_supervise.c); options
 * that leave too little room for that are refused (check_timing() in
 * run_options.c).
 *
 * Everything runs in one thread around poll(): a self-pipe for signals
 * (SIGCHLD and the ones forwarded to the command), and libpq's socket,
 * used asynchronously, so that a server that stops answering can never
 * keep us from killing the command in time.
 *
 * This file is the run from start to end; lockable_run.h lists the other
 * files and what each holds.  The program uses only libc and libpq (no
 * PostgreSQL server headers, no libpgport), so it builds anywhere
 * libpq-dev is installed.
 *
 * Copyright (c) 2026, the lockable authors
 *
 * IDENTIFICATION
 *	  tools/lockable-run.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <sys/wait.h>

#include "lockable_run.h"

int
main(int argc, char **argv)
{
	/* static: the connection is closed at exit, after main has returned */
	static Run	run;
	LeaseClient *lc = &run.lease;
	int			signo;
	int			exit_code;

	run.command.pid = -1;
	parse_options(argc, argv, &run.opts);

	/*
	 * Connect.  Until we hold the lease, a signal may simply kill us: the
	 * handlers are installed only afterwards, so that ^C interrupts a slow
	 * connection attempt.
	 */
	if (!client_connect(lc, &run.opts))
		exit(EXIT_DATABASE);
	setup_signals();

	if (!acquire_lease(lc, &exit_code) || !confirm_lease(&run, &exit_code))
		exit(exit_code);
	signo = pending_terminating_signal();
	if (signo != 0)
	{
		release_quietly(lc);
		exit(128 + signo);
	}

	/*
	 * Run the command.  Signals that came before it existed (SIGUSR1...) are
	 * not passed on: it could not have set up handlers for them yet.
	 */
	forget_signals();
	if (!start_command(&run))
	{
		release_quietly(lc);
		exit(EXIT_OSERR);
	}
	supervise(&run);

	exit_code = command_exit_code(run.command.status);
	if (WIFSIGNALED(run.command.status))
		report(LEVEL_VERBOSE, "the command was killed by %s",
			   signal_name(WTERMSIG(run.command.status)));
	else
		report(LEVEL_VERBOSE, "the command exited with status %d", exit_code);

	finish_lease(&run);
	close_connection(lc);

	if (lc->lost)
	{
		report(LEVEL_VERBOSE, "exiting with status %d (lease lost)", run.opts.lost_exit);
		return run.opts.lost_exit;
	}
	return exit_code;
}
