/*-------------------------------------------------------------------------
 *
 * run_signals.c
 *	  lockable-run: signals.  The handler only writes the signal number into
 *	  a pipe; whoever waits in poll() (the lease client, for the supervisor
 *	  too) watches the pipe, reads it with drain_signals(), and the pending
 *	  signals are then handled outside any handler.
 *
 * SIGCHLD and the signals forwarded to the command are caught; the
 * dispositions and mask we were started with are kept, for the command to
 * get them back (restore_signals()).
 *
 * Copyright (c) 2026, the lockable authors
 *
 * IDENTIFICATION
 *	  tools/run_signals.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lockable_run.h"

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

/* Create the pipe and catch the signals; exits if there is no pipe */
void
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

/* The end of the pipe to poll for reading */
int
signal_pipe_fd(void)
{
	return sig_pipe[0];
}

/* Read the signal numbers the handler wrote into sig_pending[] */
void
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

/* Has 'signo' arrived (and not been taken)? */
bool
signal_pending(int signo)
{
	return sig_pending[signo];
}

/* Take 'signo' if it is pending: true if it was */
bool
take_signal(int signo)
{
	bool		pending = sig_pending[signo];

	sig_pending[signo] = false;
	return pending;
}

/* Take the first of 'signals' that is pending, or return 0 */
static int
take_first_pending(const int *signals, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (take_signal(signals[i]))
			return signals[i];
	return 0;
}

/* Take a pending signal to forward to the command, in a fixed order; or 0 */
int
take_forwarded_signal(void)
{
	return take_first_pending(forwarded_signals, NUM_FORWARDED);
}

/* Take a pending signal that ends the wait for the lease, or 0 */
int
pending_terminating_signal(void)
{
	static const int terminating[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

	return take_first_pending(terminating,
							  sizeof(terminating) / sizeof(terminating[0]));
}

/* Forget every pending signal */
void
forget_signals(void)
{
	memset(sig_pending, 0, sizeof(sig_pending));
}

/* In the command: the signal dispositions and mask we were started with */
void
restore_signals(void)
{
	size_t		i;

	for (i = 0; i < NUM_FORWARDED; i++)
		sigaction(forwarded_signals[i], &saved_actions[forwarded_signals[i]], NULL);
	sigaction(SIGCHLD, &saved_actions[SIGCHLD], NULL);
	sigaction(SIGPIPE, &saved_actions[SIGPIPE], NULL);
	sigprocmask(SIG_SETMASK, &saved_mask, NULL);
}
