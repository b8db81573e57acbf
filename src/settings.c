/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  The lockable.* settings: their variables, their definitions, and the
 *	  values derived from them that several files use.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "lockable.h"

int			lockable_max_leases = 10000;
int			lockable_max_remote_leases = 1000;
int			lockable_default_ttl = 60 * 1000;
int			lockable_max_ttl = 60 * 60;
int			lockable_max_hold = 24 * 60 * 60;
int			lockable_worker_naptime = 1000;
bool		lockable_allow_on_standby = false;
char	   *lockable_remote_url = NULL;
char	   *lockable_remote_token = NULL;
char	   *lockable_remote_prefix = NULL;
bool		lockable_remote = false;
int			lockable_remote_timeout = 5000;
int			lockable_remote_heartbeat_interval = 10 * 1000;
int			lockable_remote_lease = 60 * 1000;
int			lockable_remote_max_connections = 8;
bool		lockable_crash_grace = true;

/*
 * Settings that take effect at server start.  PostgreSQL refuses to define
 * them after startup, so they exist only when lockable is preloaded.
 */
static void
define_startup_settings(void)
{
	DefineCustomIntVariable("lockable.max_leases",
							"Maximum number of leases held at once, across all databases.",
							"Shared memory for this many leases is reserved at server start.",
							&lockable_max_leases,
							10000, 1, 100000000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lockable.max_remote_leases",
							"Maximum number of remote leases held, being acquired or being released at once.",
							"Each also takes one of the lockable.max_leases entries.",
							&lockable_max_remote_leases,
							1000, 1, 100000000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("lockable.crash_grace",
							 "After a crash, grant no lease until every lease granted before it would have expired.",
							 "Turning this off makes leases free at once after a crash, which lets two holders overlap.",
							 &lockable_crash_grace,
							 true,
							 PGC_POSTMASTER, 0,
							 NULL, NULL, NULL);

	/*
	 * The token is fixed at server start: a reload would log a changed
	 * value ("parameter ... changed to ..."), and the worker and every
	 * backend must use the same account.
	 */
	DefineCustomStringVariable("lockable.remote_token",
							   "Account token for the remote lock service; empty means the server's LOCKABLE_AUTH_TOKEN environment variable.",
							   "Sent as the HTTP basic-auth user name.  Only superusers can see it.",
							   &lockable_remote_token,
							   "",
							   PGC_POSTMASTER,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
}

/* lockable.remote cannot be turned on in a session without a service */
static bool
check_remote(bool *newval, void **extra, GucSource source)
{
	if (*newval && source >= PGC_S_INTERACTIVE &&
		(lockable_remote_url == NULL || lockable_remote_url[0] == '\0'))
	{
		GUC_check_errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE);
		GUC_check_errmsg("lockable.remote cannot be turned on while lockable.remote_url is empty");
		GUC_check_errhint("Set lockable.remote_url in postgresql.conf and reload.");
		return false;
	}
	return true;
}

/* The prefix goes in front of every remote name: keep room for names */
static bool
check_remote_prefix(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && strlen(*newval) > LOCKABLE_NAME_MAXLEN / 2)
	{
		GUC_check_errdetail("lockable.remote_prefix may be at most %d bytes long.",
							LOCKABLE_NAME_MAXLEN / 2);
		return false;
	}
	return true;
}

static void
define_remote_settings(void)
{
	DefineCustomStringVariable("lockable.remote_url",
							   "Base URL of a lockable.dev-compatible lock service, e.g. https://api.lockable.dev/v1; empty disables remote mode.",
							   NULL,
							   &lockable_remote_url,
							   "",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("lockable.remote",
							 "New leases of this session are taken on the remote lock service.",
							 NULL,
							 &lockable_remote,
							 false,
							 PGC_USERSET, 0,
							 check_remote, NULL, NULL);

	DefineCustomStringVariable("lockable.remote_prefix",
							   "Prefix of the names this cluster's remote leases have on the lock service.",
							   NULL,
							   &lockable_remote_prefix,
							   "",
							   PGC_SIGHUP, 0,
							   check_remote_prefix, NULL, NULL);

	DefineCustomIntVariable("lockable.remote_timeout",
							"Longest wait for one answer of the remote lock service.",
							NULL,
							&lockable_remote_timeout,
							5000, 100, 10 * 60 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lockable.remote_heartbeat_interval",
							"Time between two heartbeats the worker sends for a remote lease.",
							"At most a third of lockable.remote_lease is used.",
							&lockable_remote_heartbeat_interval,
							10 * 1000, 100, 60 * 60 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lockable.remote_lease",
							"How long the remote lock service keeps a lock after an acquire or heartbeat.",
							"lockable.dev keeps a lock for 60 s.",
							&lockable_remote_lease,
							60 * 1000, 1000, 24 * 60 * 60 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lockable.remote_max_connections",
							"Most connections the worker opens to the remote lock service at once.",
							NULL,
							&lockable_remote_max_connections,
							8, 1, 64,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
}

static void
define_settings(void)
{
	DefineCustomIntVariable("lockable.default_ttl",
							"Time-to-live of a lease when lockable_acquire() is given none.",
							NULL,
							&lockable_default_ttl,
							60 * 1000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lockable.max_ttl",
							"Longest time-to-live a lease may be given.",
							NULL,
							&lockable_max_ttl,
							60 * 60, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lockable.max_hold",
							"Longest time the worker keeps renewing a keepalive lease; 0 means no limit.",
							NULL,
							&lockable_max_hold,
							24 * 60 * 60, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("lockable.worker_naptime",
							"Time between two sweeps of the lease table by the background worker.",
							NULL,
							&lockable_worker_naptime,
							1000, 10, 60 * 60 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	/*
	 * A server-wide choice, not a session's: whether this standby is a lock
	 * authority of its own (see lockable_acquire).
	 */
	DefineCustomBoolVariable("lockable.allow_on_standby",
							 "Lets a hot standby grant leases while in recovery, as a lock authority independent of the primary.",
							 "The standby's leases do not exclude holders on the primary, nor the primary's holders on the standby.",
							 &lockable_allow_on_standby,
							 false,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	define_remote_settings();
}

/*
 * lockable_settings_define
 *		From _PG_init.  The settings that take effect at server start exist
 *		only when lockable is preloaded (at_preload): PostgreSQL refuses to
 *		define them later.
 */
void
lockable_settings_define(bool at_preload)
{
	if (at_preload)
		define_startup_settings();
	define_settings();
	MarkGUCPrefixReserved("lockable");
}

/* How often the worker heartbeats: at most a third of the remote lease */
int64
lockable_remote_interval_usec(void)
{
	return Min((int64) lockable_remote_heartbeat_interval,
			   (int64) lockable_remote_lease / 3) * 1000;
}

/*
 * How soon a failed heartbeat or release is sent again, and how soon the
 * answer to one in flight can set the next: the heartbeat interval, but
 * at least once a second.
 */
int64
lockable_remote_retry_usec(void)
{
	return Min(lockable_remote_interval_usec(), USECS_PER_SEC);
}

/*
 * Request timeout, for the acquire too: at most a third of the remote
 * lease, so that a lock granted by a late answer still leaves time for
 * heartbeats.
 */
int64
lockable_remote_timeout_usec(void)
{
	return Min((int64) lockable_remote_timeout,
			   (int64) lockable_remote_lease / 3) * 1000;
}

/*
 * lockable_remote_check_configured
 *		Error out unless a remote service is configured.
 */
void
lockable_remote_check_configured(void)
{
	if (lockable_remote_url == NULL || lockable_remote_url[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("lockable.remote is on but lockable.remote_url is not set"),
				 errhint("Set lockable.remote_url in postgresql.conf and reload, or turn lockable.remote off.")));
}
