# lockable: PGXS build.  `make && make install`, then `make installcheck`
# (as a user that may run initdb: each suite starts its own temporary server).

MODULE_big = lockable
OBJS = \
	src/clock.o \
	src/horizon.o \
	src/http.o \
	src/lease_api.o \
	src/lease_ops.o \
	src/lease_store.o \
	src/lease_sweep.o \
	src/lease_table.o \
	src/lease_wait.o \
	src/lockable.o \
	src/persist.o \
	src/remote_lease.o \
	src/settings.o \
	src/shared.o \
	src/worker.o

EXTENSION = lockable
DATA = lockable--1.0.sql lockable--1.0--1.1.sql lockable--1.1--1.2.sql lockable--1.2--1.3.sql
PGFILEDESC = "lockable - leases with time-to-live and fencing tokens"

# libcurl for remote mode (http.c)
PG_CPPFLAGS = $(shell pkg-config --cflags libcurl 2>/dev/null)
# the version in the module's magic block (18+) is the control file's
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(srcdir)/lockable.control)
PG_CPPFLAGS += -DLOCKABLE_VERSION='"$(EXTVERSION)"'
SHLIB_LINK = $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)

REGRESS = lockable_api lockable_errors lockable_view lockable_fencing lockable_any lockable_remote lockable_capacity lockable_waits lockable_counting lockable_upgrade lockable_counting_review
REGRESS_OPTS = --temp-instance=tmp_check_regress --temp-config=$(srcdir)/lockable.conf
ISOLATION = contention expiry arrival_order timeouts acquire_any counting shared
ISOLATION_OPTS = --temp-instance=tmp_check_iso --temp-config=$(srcdir)/lockable.conf
TAP_TESTS = 1

EXTRA_CLEAN = tmp_check_regress tmp_check_iso output_iso results regression.diffs regression.out

# lockable-run (tools/lockable-run.c and the tools/run_*.c it calls), a
# libpq client: PGXS builds one PROGRAM or one MODULE_big per Makefile (both
# use OBJS), so it is built by its own rules below and installed into bindir
# as a built "script".
SCRIPTS_built = lockable-run
LOCKABLE_RUN_OBJS = \
	tools/lockable-run.o \
	tools/run_client.o \
	tools/run_common.o \
	tools/run_options.o \
	tools/run_signals.o \
	tools/run_supervise.o
EXTRA_CLEAN += $(LOCKABLE_RUN_OBJS)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: every object must be rebuilt when the
# shared structures change, or processes disagree on their layout.
$(OBJS): $(wildcard $(srcdir)/src/*.h)

# Replace the installed library by rename (see scripts/install-shlib.sh), so
# that installing over a running server does not crash it.
INSTALL_SHLIB = $(INSTALL_SHLIB_ENV) $(srcdir)/scripts/install-shlib.sh $(INSTALL_SHLIB_OPTS) $(INSTALL_STRIP_FLAG)

# lockable-run: only libc and libpq, no server headers, so its objects have
# a rule of their own rather than PGXS's (whose CPPFLAGS point at them).
# After the PGXS include, so that the default goal stays "all" (which builds
# it).
lockable-run: $(LOCKABLE_RUN_OBJS)
	$(CC) $(CFLAGS) -o $@ $(LOCKABLE_RUN_OBJS) $(LDFLAGS) $(libpq)

$(LOCKABLE_RUN_OBJS): tools/%.o: $(srcdir)/tools/%.c $(srcdir)/tools/lockable_run.h
	@$(MKDIR_P) tools
	$(CC) $(CFLAGS) -I$(includedir) -c -o $@ $<

# its manual page, next to PostgreSQL's own
install: install-lockable-run-man
uninstall: uninstall-lockable-run-man
.PHONY: install-lockable-run-man uninstall-lockable-run-man
install-lockable-run-man:
	$(MKDIR_P) '$(DESTDIR)$(mandir)/man1'
	$(INSTALL_DATA) $(srcdir)/tools/lockable-run.1 '$(DESTDIR)$(mandir)/man1/lockable-run.1'
uninstall-lockable-run-man:
	rm -f '$(DESTDIR)$(mandir)/man1/lockable-run.1'
