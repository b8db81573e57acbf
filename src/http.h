/*-------------------------------------------------------------------------
 *
 * http.h
 *	  The HTTP client of lockable (http.c): requests to a
 *	  lockable.dev-compatible lock service in, finished transfers out.  It
 *	  knows the service's three calls and nothing of leases.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef LOCKABLE_HTTP_H
#define LOCKABLE_HTTP_H

#include "lockable.h"

/* The calls of the lock service: {lockable.remote_url}/{op}/{name} */
typedef enum LockableRemoteOp
{
	LOCKABLE_REMOTE_ACQUIRE,
	LOCKABLE_REMOTE_HEARTBEAT,
	LOCKABLE_REMOTE_RELEASE
} LockableRemoteOp;

typedef enum LockableRemoteOutcome
{
	LOCKABLE_REMOTE_TRUE,		/* 2xx, {"response": true} */
	LOCKABLE_REMOTE_FALSE,		/* 2xx, {"response": false} */
	LOCKABLE_REMOTE_FAILED		/* anything else: see error */
} LockableRemoteOutcome;

/* Most requests the worker can have in flight at once */
#define LOCKABLE_HTTP_MAX_TRANSFERS	1024

/* One request to the service, and what came of it */
typedef struct LockableHttpRequest
{
	/* set by the caller */
	LockableRemoteOp op;
	uint16		len;
	char		name[LOCKABLE_NAME_MAXLEN]; /* the name on the service */
	uint64		tag;			/* the caller's, handed back unchanged */
	/* set by http.c */
	LockableTime sent_at;		/* when the request was started */
	LockableRemoteOutcome outcome;
	int			sqlstate;		/* FAILED: the SQLSTATE to report it with */
	long		status;			/* HTTP status, 0 if none came */
	int			connects;		/* connections it had to open */
	char		error[256];		/* FAILED: what went wrong; never the URL
								 * or the account token */
} LockableHttpRequest;

extern const char *lockable_http_op_name(LockableRemoteOp op);

/* a backend: one request at a time, waiting for it */
extern void lockable_http_call(LockableHttpRequest *r);

/* the worker: many at once */
extern int	lockable_http_capacity(void);
extern void lockable_http_start(const LockableHttpRequest *reqs, int n);
extern bool lockable_http_busy(void);
extern bool lockable_http_wait(long timeout_ms);
extern int	lockable_http_take_done(LockableHttpRequest *out, int max);
extern int	lockable_http_reset(const char *error, LockableHttpRequest *out,
								int max);

#endif							/* LOCKABLE_HTTP_H */
