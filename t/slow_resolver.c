/*
 * slow_resolver.c
 *	  For t/040_remote.pl: an LD_PRELOAD shim that makes one host name
 *	  resolve slowly, so that name resolution against a slow DNS server can
 *	  be tested on loopback, with no DNS server at all.
 *
 * getaddrinfo() of the host named by LOCKABLE_TEST_SLOW_HOST sleeps
 * LOCKABLE_TEST_SLOW_SECONDS seconds, then resolves 127.0.0.1; every other
 * name goes to the C library's getaddrinfo() unchanged.  libcurl's
 * threaded resolver calls it from its resolver thread, as it would call
 * the real one.
 *
 *	cc -shared -fPIC -o slow_resolver.so slow_resolver.c -ldl
 *
 * Copyright (c) 2026, the lockable authors
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*getaddrinfo_fn) (const char *, const char *,
							   const struct addrinfo *, struct addrinfo **);

int
getaddrinfo(const char *node, const char *service,
			const struct addrinfo *hints, struct addrinfo **res)
{
	getaddrinfo_fn real = (getaddrinfo_fn) dlsym(RTLD_NEXT, "getaddrinfo");
	const char *slow = getenv("LOCKABLE_TEST_SLOW_HOST");
	const char *seconds = getenv("LOCKABLE_TEST_SLOW_SECONDS");

	if (node != NULL && slow != NULL && strcmp(node, slow) == 0)
	{
		sleep(seconds != NULL ? (unsigned) atoi(seconds) : 60);
		node = "127.0.0.1";
	}
	return real(node, service, hints, res);
}
