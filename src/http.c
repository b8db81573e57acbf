/*-------------------------------------------------------------------------
 *
 * http.c
 *	  All libcurl code of lockable: requests to a lockable.dev-compatible
 *	  lock service (acquire, heartbeat, release of a name), one at a time
 *	  for a backend and many at once for the background worker.  Requests
 *	  come in, finished transfers go out; what a request is for (which
 *	  lease, what its answer means) is remote_lease.c's business.
 *
 * Requests run on a curl multi handle driven through its socket interface
 * (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION): the process waits in
 * a WaitEventSet on curl's sockets *and* its latch, so a backend answers
 * pg_cancel_backend, statement_timeout and shutdown at once, and the
 * worker keeps sweeping local leases while the service is slow or down.
 * Connections are kept in the multi handle's cache and reused.  Answers
 * are parsed with PostgreSQL's JSON parser (pg_parse_json), which reports
 * errors instead of raising them, so a bad answer never takes the worker
 * down.
 *
 * The account token is given to curl as the basic-auth user name
 * (CURLOPT_USERNAME, empty password) and appears in no URL, message or
 * log line.  TLS peers are verified (curl's defaults), redirects are not
 * followed, and only http and https are allowed.
 *
 * Copyright (c) 2026, the lockable authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"

#include "http.h"

/* Longest answer body kept; the service's answers are a few bytes */
#define REMOTE_MAX_BODY		(64 * 1024)

/* Requests the worker keeps in flight per allowed connection */
#define REMOTE_INFLIGHT_PER_CONNECTION	16

/* Most requests in flight: the worker's, and a backend's (one) */
#define REMOTE_WORKER_TRANSFERS	LOCKABLE_HTTP_MAX_TRANSFERS

StaticAssertDecl(REMOTE_INFLIGHT_PER_CONNECTION * 64 <= REMOTE_WORKER_TRANSFERS,
				 "lockable.remote_max_connections (at most 64) would allow more requests in flight than there are transfers");

/* A socket curl asked us to watch */
typedef struct RemoteSocket
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN, _OUT or _INOUT */
} RemoteSocket;

/* One request on the multi handle */
typedef struct RemoteTransfer
{
	CURL	   *easy;
	bool		in_use;
	bool		done;
	CURLcode	result;
	long		status;			/* HTTP status, 0 if none came */
	LockableHttpRequest req;
	StringInfoData body;		/* grown by write_cb only, see there */
	bool		body_too_big;
	bool		body_no_memory;
	char		errbuf[CURL_ERROR_SIZE];
} RemoteTransfer;

/* This process's client: one multi handle, its sockets and transfers */
typedef struct RemoteClient
{
	CURLM	   *multi;
	int			nsockets;
	int			maxsockets;
	RemoteSocket *sockets;
	LockableTime timer_at;		/* curl wants a timeout call then */
	int			ntransfers;
	RemoteTransfer *transfers;
	int			inflight;
	int			max_connections;	/* what the multi handle was set to */
} RemoteClient;

static RemoteClient *client = NULL;
static bool curl_initialized = false;

/* The account token: the setting, or the server's LOCKABLE_AUTH_TOKEN */
static const char *
remote_token(void)
{
	if (lockable_remote_token != NULL && lockable_remote_token[0] != '\0')
		return lockable_remote_token;
	return getenv("LOCKABLE_AUTH_TOKEN");
}

/*
 * lockable_http_op_name
 *		The service's name for op, as in the URL.
 */
const char *
lockable_http_op_name(LockableRemoteOp op)
{
	switch (op)
	{
		case LOCKABLE_REMOTE_ACQUIRE:
			return "acquire";
		case LOCKABLE_REMOTE_HEARTBEAT:
			return "heartbeat";
		case LOCKABLE_REMOTE_RELEASE:
			return "release";
	}
	return "?";
}

/*
 * curl callbacks.  None of them may raise an error: they run inside curl,
 * and a longjmp out of it would leave the multi handle in pieces.
 */

/*
 * Append to the answer body.  The buffer is grown here, not with the
 * StringInfo functions, whose palloc raises an error when memory runs out:
 * MCXT_ALLOC_NO_OOM returns NULL instead, and returning a short count
 * makes curl fail the transfer with CURLE_WRITE_ERROR.
 */
static size_t
write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	RemoteTransfer *t = (RemoteTransfer *) userp;
	StringInfo	body = &t->body;
	size_t		n = size * nmemb;
	size_t		need;

	if (n > REMOTE_MAX_BODY || body->len + n > REMOTE_MAX_BODY)
	{
		t->body_too_big = true;
		return 0;
	}
	need = body->len + n + 1;
	if (need > (size_t) body->maxlen)
	{
		size_t		newlen = body->maxlen;
		char	   *grown;

		while (newlen < need)
			newlen *= 2;
		newlen = Min(newlen, (size_t) REMOTE_MAX_BODY + 1);
		grown = MemoryContextAllocExtended(TopMemoryContext, newlen,
										   MCXT_ALLOC_NO_OOM);
		if (grown == NULL)
		{
			t->body_no_memory = true;
			return 0;
		}
		memcpy(grown, body->data, body->len);
		pfree(body->data);
		body->data = grown;
		body->maxlen = (int) newlen;
	}
	memcpy(body->data + body->len, data, n);
	body->len += (int) n;
	body->data[body->len] = '\0';
	return n;
}

static int
socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	RemoteClient *c = (RemoteClient *) userp;
	int			i;

	for (i = 0; i < c->nsockets; i++)
		if (c->sockets[i].fd == fd)
			break;
	if (what == CURL_POLL_REMOVE)
	{
		if (i < c->nsockets)
			c->sockets[i] = c->sockets[--c->nsockets];
		return 0;
	}
	if (i == c->nsockets)
	{
		if (c->nsockets == c->maxsockets)
			return -1;			/* cannot happen: bounded by transfers */
		c->nsockets++;
	}
	c->sockets[i].fd = fd;
	c->sockets[i].what = what;
	return 0;
}

static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	RemoteClient *c = (RemoteClient *) userp;

	if (timeout_ms < 0)
		c->timer_at = LOCKABLE_FOREVER;
	else
		c->timer_at = lockable_clock_now() + (LockableTime) timeout_ms * 1000;
	return 0;
}

/* Abort a transfer when the backend has an interrupt to serve */
static int
progress_cb(void *userp, curl_off_t dltotal, curl_off_t dlnow,
			curl_off_t ultotal, curl_off_t ulnow)
{
	return (QueryCancelPending || ProcDiePending) ? 1 : 0;
}

/*
 * The client
 */

/*
 * Can this libcurl give up on a name resolution that is still running?
 * c-ares can; the threaded resolver can from 7.87 (CURLOPT_QUICK_EXIT);
 * the synchronous one blocks in getaddrinfo().
 */
static bool
resolver_is_bounded(void)
{
	curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

	if (!(v->features & CURL_VERSION_ASYNCHDNS))
		return false;
	if (v->ares_num != 0)
		return true;
	return LIBCURL_VERSION_NUM >= 0x075700 && v->version_num >= 0x075700;
}

static RemoteClient *
client_get(int ntransfers)
{
	static bool resolver_noted = false;
	RemoteClient *c;
	MemoryContext old;
	int			max_connections = lockable_remote_max_connections;

	if (client != NULL && client->max_connections == max_connections)
		return client;

	if (client == NULL)
	{
		if (!curl_initialized)
		{
			if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
				ereport(ERROR,
						(errcode(ERRCODE_SYSTEM_ERROR),
						 errmsg("lockable: could not initialize libcurl")));
			curl_initialized = true;
		}
		/* built whole before it is published: an error leaves no half */
		old = MemoryContextSwitchTo(TopMemoryContext);
		c = palloc0(sizeof(RemoteClient));
		c->ntransfers = ntransfers;
		c->transfers = palloc0(sizeof(RemoteTransfer) * c->ntransfers);
		/* a transfer may hold a socket, or two while it connects */
		c->maxsockets = c->ntransfers * 2 + 8;
		c->sockets = palloc0(sizeof(RemoteSocket) * c->maxsockets);
		c->timer_at = LOCKABLE_FOREVER;
		MemoryContextSwitchTo(old);
		c->multi = curl_multi_init();
		if (c->multi == NULL)
		{
			pfree(c->sockets);
			pfree(c->transfers);
			pfree(c);
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("lockable: could not create a libcurl multi handle")));
		}
		client = c;

		/* once per worker start: the log says what to expect */
		if (lockable_am_bgworker() && !resolver_noted && !resolver_is_bounded())
		{
			resolver_noted = true;
			ereport(LOG,
					(errmsg("lockable: libcurl %s cannot give up on a host name lookup",
							curl_version_info(CURLVERSION_NOW)->version),
					 errdetail("A slow DNS answer delays remote requests beyond lockable.remote_timeout and cancellation."),
					 errhint("Use libcurl 7.87 or later, or one built with c-ares, or give lockable.remote_url an IP address or a name in /etc/hosts.")));
		}

		curl_multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
		curl_multi_setopt(client->multi, CURLMOPT_SOCKETDATA, client);
		curl_multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
		curl_multi_setopt(client->multi, CURLMOPT_TIMERDATA, client);
	}
	curl_multi_setopt(client->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
					  (long) max_connections);
	curl_multi_setopt(client->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
					  (long) max_connections);
	curl_multi_setopt(client->multi, CURLMOPT_MAXCONNECTS,
					  (long) max_connections);
	client->max_connections = max_connections;
	return client;
}

/*
 * The URL of t's request, palloc'd:
 * {lockable.remote_url}/{op}/{name percent-encoded as one path segment}.
 */
static char *
transfer_url(RemoteTransfer *t)
{
	char	   *escaped;
	StringInfoData url;
	int			base_len;

	escaped = curl_easy_escape(t->easy, t->req.name, t->req.len);
	if (escaped == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("lockable: could not percent-encode a lease name")));
	initStringInfo(&url);
	base_len = strlen(lockable_remote_url);
	while (base_len > 0 && lockable_remote_url[base_len - 1] == '/')
		base_len--;
	appendBinaryStringInfo(&url, lockable_remote_url, base_len);
	appendStringInfo(&url, "/%s/%s", lockable_http_op_name(t->req.op), escaped);
	curl_free(escaped);
	return url.data;
}

/* Start a request for t->req on the multi handle */
static void
transfer_start(RemoteClient *c, RemoteTransfer *t, bool backend)
{
	const char *token = remote_token();
	char	   *url;
	long		timeout_ms;
	MemoryContext old;

	if (t->easy == NULL)
	{
		t->easy = curl_easy_init();
		if (t->easy == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("lockable: could not create a libcurl handle")));
		old = MemoryContextSwitchTo(TopMemoryContext);
		initStringInfo(&t->body);
		MemoryContextSwitchTo(old);
	}
	else
		curl_easy_reset(t->easy);
	resetStringInfo(&t->body);
	t->body_too_big = false;
	t->body_no_memory = false;
	t->errbuf[0] = '\0';
	t->done = false;
	t->result = CURLE_OK;
	t->status = 0;

	url = transfer_url(t);
	timeout_ms = (long) (lockable_remote_timeout_usec() / 1000);

	curl_easy_setopt(t->easy, CURLOPT_URL, url);
	curl_easy_setopt(t->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	/* the connect timeout covers name resolution too */
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075700
	/*
	 * The threaded resolver runs getaddrinfo() in a thread.  When a
	 * transfer ends before it returns (timeout, cancel), libcurl would wait
	 * for the thread, that is for the system resolver to give up, with no
	 * bound and no way to interrupt it; with QUICK_EXIT (7.87) it leaves
	 * the thread to finish on its own.
	 */
	curl_easy_setopt(t->easy, CURLOPT_QUICK_EXIT, 1L);
#endif
	curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS,
					 (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(t->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(t->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(t->easy, CURLOPT_USERAGENT, "lockable/1.1");
	curl_easy_setopt(t->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	if (token != NULL && token[0] != '\0')
	{
		curl_easy_setopt(t->easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		curl_easy_setopt(t->easy, CURLOPT_USERNAME, token);
		curl_easy_setopt(t->easy, CURLOPT_PASSWORD, "");
	}
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
	if (backend)
	{
		curl_easy_setopt(t->easy, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(t->easy, CURLOPT_XFERINFOFUNCTION, progress_cb);
	}
	pfree(url);

	if (curl_multi_add_handle(c->multi, t->easy) != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("lockable: could not start a request to the lock service")));
	t->in_use = true;
	c->inflight++;
}

static void
transfer_finish(RemoteClient *c, RemoteTransfer *t)
{
	if (t->in_use)
	{
		curl_multi_remove_handle(c->multi, t->easy);
		t->in_use = false;
		c->inflight--;
	}
}

/*
 * JSON answers: {"response": true} or {"response": false}, other keys
 * ignored.  Anything else is an error.
 */
typedef struct AnswerState
{
	int			depth;
	bool		is_object;
	bool		at_response;
	int			response;		/* -1 not seen (or not a boolean), 0, 1 */
} AnswerState;

static LOCKABLE_JSON_CB_RETURN
answer_object_start(void *state)
{
	AnswerState *s = state;

	if (s->depth == 0)
		s->is_object = true;
	s->depth++;
	LOCKABLE_JSON_CB_OK;
}

static LOCKABLE_JSON_CB_RETURN
answer_end(void *state)
{
	((AnswerState *) state)->depth--;
	LOCKABLE_JSON_CB_OK;
}

static LOCKABLE_JSON_CB_RETURN
answer_array_start(void *state)
{
	((AnswerState *) state)->depth++;
	LOCKABLE_JSON_CB_OK;
}

static LOCKABLE_JSON_CB_RETURN
answer_field_start(void *state, char *fname, bool isnull)
{
	AnswerState *s = state;

	s->at_response = (s->depth == 1 && fname != NULL &&
					  strcmp(fname, "response") == 0);
	if (s->at_response)
		s->response = -1;
	LOCKABLE_JSON_CB_OK;
}

static LOCKABLE_JSON_CB_RETURN
answer_scalar(void *state, char *token, JsonTokenType tokentype)
{
	AnswerState *s = state;

	if (s->depth == 1 && s->at_response)
	{
		if (tokentype == JSON_TOKEN_TRUE)
			s->response = 1;
		else if (tokentype == JSON_TOKEN_FALSE)
			s->response = 0;
		s->at_response = false;
	}
	LOCKABLE_JSON_CB_OK;
}

/* -1 if body is not the expected answer, else 0 or 1 */
static int
parse_answer(StringInfo body)
{
	JsonSemAction sem;
	AnswerState state;
	JsonParseErrorType err;
	JsonLexContext lexbuf;
	JsonLexContext *lex;

	if (body->len == 0 ||
		pg_verify_mbstr(PG_UTF8, body->data, body->len, true) == false)
		return -1;
	memset(&state, 0, sizeof(state));
	state.response = -1;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &state;
	sem.object_start = answer_object_start;
	sem.object_end = answer_end;
	sem.array_start = answer_array_start;
	sem.array_end = answer_end;
	sem.object_field_start = answer_field_start;
	sem.scalar = answer_scalar;
	lex = lockable_json_lex_cstring(&lexbuf, body->data, body->len);
	err = pg_parse_json(lex, &sem);
	lockable_json_lex_free(lex);
	if (err != JSON_SUCCESS || !state.is_object)
		return -1;
	return state.response;
}

/*
 * Turn a finished transfer into its request's outcome (and error and
 * sqlstate).  The message never contains the URL or the token.
 */
static void
transfer_outcome(RemoteClient *c, RemoteTransfer *t)
{
	LockableHttpRequest *r = &t->req;
	long		status;
	long		connects = 0;

	/* connections this request had to open, for lockable_stats */
	r->connects = 0;
	if (curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK &&
		connects > 0)
		r->connects = (int) connects;

	r->outcome = LOCKABLE_REMOTE_FAILED;
	r->status = 0;
	r->sqlstate = t->body_too_big ? ERRCODE_PROTOCOL_VIOLATION :
		t->body_no_memory ? ERRCODE_OUT_OF_MEMORY :
		ERRCODE_CONNECTION_FAILURE;
	if (t->result != CURLE_OK)
	{
		if (t->body_too_big)
			snprintf(r->error, sizeof(r->error),
					 "the answer is longer than %d bytes", REMOTE_MAX_BODY);
		else if (t->body_no_memory)
			snprintf(r->error, sizeof(r->error),
					 "out of memory for the answer");
		else if (t->result == CURLE_OPERATION_TIMEDOUT)
			snprintf(r->error, sizeof(r->error),
					 "no answer within lockable.remote_timeout (%s)",
					 t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->result));
		else
			snprintf(r->error, sizeof(r->error), "%s",
					 t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->result));
		return;
	}
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
	status = t->status;
	r->status = status;
	r->sqlstate = status == 401 || status == 403 ?
		ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION :
		(status < 200 || status > 299) ? ERRCODE_EXTERNAL_ROUTINE_EXCEPTION :
		ERRCODE_PROTOCOL_VIOLATION;
	if (status < 200 || status > 299)
	{
		snprintf(r->error, sizeof(r->error), "HTTP status %ld%s", status,
				 status == 401 ? " (the account token was refused)" :
				 (status >= 300 && status < 400) ? " (redirects are not followed)" : "");
		return;
	}
	switch (parse_answer(&t->body))
	{
		case 1:
			r->outcome = LOCKABLE_REMOTE_TRUE;
			break;
		case 0:
			r->outcome = LOCKABLE_REMOTE_FALSE;
			break;
		default:
			snprintf(r->error, sizeof(r->error),
					 "the answer is not {\"response\": true|false} (HTTP status %ld, %d bytes)",
					 status, t->body.len);
			break;
	}
}

/* Collect transfers curl has finished */
static void
collect_done(RemoteClient *c)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(c->multi, &left)) != NULL)
	{
		RemoteTransfer *t = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
		if (t == NULL)
			continue;
		t->result = msg->data.result;
		t->done = true;
	}
}

/*
 * Wait up to timeout_ms (-1: no limit) for curl's sockets, curl's timer or
 * the latch, and let curl act on what happened.  Returns true if the latch
 * was set (it is not reset here).
 */
static bool
client_wait(RemoteClient *c, long timeout_ms, uint32 wait_event_info)
{
	WaitEventSet *set;
	WaitEvent  *events;
	int			nevents = c->nsockets + 2;
	int			n;
	int			running;
	bool		latch_set = false;
	bool		timer_due;
	LockableTime now = lockable_clock_now();

	if (c->timer_at != LOCKABLE_FOREVER)
	{
		long		timer_ms = c->timer_at <= now ? 0 :
			(long) Min((c->timer_at - now + 999) / 1000, (int64) INT_MAX);

		if (timeout_ms < 0 || timer_ms < timeout_ms)
			timeout_ms = timer_ms;
	}

	/*
	 * The set holds an epoll descriptor.  Free it on every path: in the
	 * worker no resource owner would (CurrentResourceOwner is NULL there),
	 * and before 17 none does.
	 */
	events = palloc(sizeof(WaitEvent) * nevents);
	set = lockable_create_wait_event_set(nevents);
	PG_TRY();
	{
		AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		for (int i = 0; i < c->nsockets; i++)
		{
			uint32		ev = 0;

			if (c->sockets[i].what & CURL_POLL_IN)
				ev |= WL_SOCKET_READABLE;
			if (c->sockets[i].what & CURL_POLL_OUT)
				ev |= WL_SOCKET_WRITEABLE;
			if (ev != 0)
				AddWaitEventToSet(set, ev, c->sockets[i].fd, NULL, NULL);
		}
		n = WaitEventSetWait(set, timeout_ms, events, nevents, wait_event_info);
	}
	PG_FINALLY();
	{
		FreeWaitEventSet(set);
	}
	PG_END_TRY();

	for (int i = 0; i < n; i++)
	{
		int			flags = 0;

		if (events[i].events & WL_LATCH_SET)
		{
			latch_set = true;
			continue;
		}
		if (events[i].events & WL_SOCKET_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events[i].events & WL_SOCKET_WRITEABLE)
			flags |= CURL_CSELECT_OUT;
		if (flags != 0)
			curl_multi_socket_action(c->multi, events[i].fd, flags, &running);
	}
	pfree(events);

	timer_due = c->timer_at != LOCKABLE_FOREVER &&
		c->timer_at <= lockable_clock_now();
	if (timer_due)
	{
		c->timer_at = LOCKABLE_FOREVER;
		curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	collect_done(c);
	return latch_set;
}

/* a backend waiting for the remote service's answer */
static uint32
remote_wait_event(void)
{
	static uint32 wait_event = 0;

	return lockable_wait_event("LockableRemote", &wait_event);
}

/*
 * The backend's side
 */

/*
 * lockable_http_call
 *		Send one request and wait for the answer, answering interrupts at
 *		once (an error then abandons the request).  Fills in r: outcome and
 *		sent_at, and for a failure error, sqlstate and status.
 */
void
lockable_http_call(LockableHttpRequest *r)
{
	RemoteClient *c;
	RemoteTransfer *t;

	lockable_remote_check_configured();
	c = client_get(1);
	t = &c->transfers[0];		/* a backend has one request at a time */
	Assert(!t->in_use);
	t->req = *r;
	t->req.error[0] = '\0';

	PG_TRY();
	{
		t->req.sent_at = lockable_clock_now();
		transfer_start(c, t, true);
		while (!t->done)
		{
			if (client_wait(c, -1, remote_wait_event()))
			{
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
			}
			/* curl stopped because of an interrupt: serve it */
			if (t->done && t->result == CURLE_ABORTED_BY_CALLBACK)
				CHECK_FOR_INTERRUPTS();
		}
		transfer_outcome(c, t);
	}
	PG_FINALLY();
	{
		transfer_finish(c, t);
	}
	PG_END_TRY();

	*r = t->req;
}

/*
 * The worker's side
 */

/*
 * lockable_http_capacity
 *		How many more requests the worker should start now: 0 until at
 *		least half the allowed requests in flight have been answered, so
 *		that a pass over the remote leases claims many at a time instead of
 *		a few after every answer.
 */
int
lockable_http_capacity(void)
{
	int			limit;
	int			room;
	RemoteClient *c;

	if (lockable_remote_url == NULL || lockable_remote_url[0] == '\0')
		return 0;
	c = client_get(REMOTE_WORKER_TRANSFERS);
	limit = Min(c->ntransfers,
				REMOTE_INFLIGHT_PER_CONNECTION * lockable_remote_max_connections);
	room = Max(limit - c->inflight, 0);
	if (c->inflight > 0 && room < limit / 2)
		return 0;
	return room;
}

/*
 * lockable_http_start
 *		Start n requests (copied; their answers come back from
 *		lockable_http_take_done).  The caller has asked
 *		lockable_http_capacity for room.
 */
void
lockable_http_start(const LockableHttpRequest *reqs, int n)
{
	RemoteClient *c = client_get(REMOTE_WORKER_TRANSFERS);
	int			next = 0;

	for (int i = 0; i < n; i++)
	{
		while (next < c->ntransfers && c->transfers[next].in_use)
			next++;
		if (next == c->ntransfers)
			elog(ERROR, "lockable: no free remote transfer slot");
		c->transfers[next].req = reqs[i];
		c->transfers[next].req.sent_at = lockable_clock_now();
		transfer_start(c, &c->transfers[next], false);
	}
	/* let curl start the new transfers */
	if (n > 0)
	{
		int			running;

		curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		collect_done(c);
	}
}

/*
 * lockable_http_busy
 *		Are requests in flight?
 */
bool
lockable_http_busy(void)
{
	return client != NULL && client->inflight > 0;
}

/*
 * lockable_http_wait
 *		The worker's sleep while requests are in flight: wait for curl's
 *		sockets and the latch together for up to timeout_ms, and let curl
 *		act on what happened; the finished transfers are then taken with
 *		lockable_http_take_done.  Returns true if the latch was set (and
 *		resets it first).
 */
bool
lockable_http_wait(long timeout_ms)
{
	static uint32 wait_event = 0;
	RemoteClient *c = client;
	bool		latch_set;

	Assert(c != NULL);
	latch_set = client_wait(c, timeout_ms,
							lockable_wait_event("LockableWorkerRemote",
												&wait_event));
	if (latch_set)
		ResetLatch(MyLatch);	/* before the answers: keep later wake-ups */
	return latch_set;
}

/*
 * lockable_http_take_done
 *		Copy up to max finished requests, with their outcomes, into out and
 *		forget them.  Returns how many.
 */
int
lockable_http_take_done(LockableHttpRequest *out, int max)
{
	RemoteClient *c = client;
	int			n = 0;

	if (c == NULL)
		return 0;
	for (int i = 0; i < c->ntransfers && n < max; i++)
	{
		RemoteTransfer *t = &c->transfers[i];

		if (!t->in_use || !t->done)
			continue;
		transfer_outcome(c, t);
		transfer_finish(c, t);
		out[n++] = t->req;
	}
	return n;
}

/*
 * lockable_http_reset
 *		After an error escaped the worker's use of the client (libcurl, the
 *		wait for its sockets, memory): give up every request in flight, as
 *		failed, copying up to max of them into out, and throw the client
 *		away, connections included, so that the next request starts on a
 *		fresh multi handle.  Returns how many were given up.
 */
int
lockable_http_reset(const char *error, LockableHttpRequest *out, int max)
{
	RemoteClient *c = client;
	int			n = 0;

	if (c == NULL)
		return 0;
	client = NULL;
	for (int i = 0; i < c->ntransfers; i++)
	{
		RemoteTransfer *t = &c->transfers[i];

		if (t->in_use)
		{
			curl_multi_remove_handle(c->multi, t->easy);
			t->in_use = false;
			t->req.outcome = LOCKABLE_REMOTE_FAILED;
			t->req.sqlstate = ERRCODE_CONNECTION_FAILURE;
			t->req.connects = 0;
			snprintf(t->req.error, sizeof(t->req.error),
					 "given up after an error: %s", error);
			if (n < max)
				out[n++] = t->req;
		}
		if (t->easy != NULL)
			curl_easy_cleanup(t->easy);
		if (t->body.data != NULL)
			pfree(t->body.data);
	}
	curl_multi_cleanup(c->multi);
	pfree(c->transfers);
	pfree(c->sockets);
	pfree(c);
	return n;
}
