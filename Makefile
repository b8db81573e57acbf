# lockable: PGXS build.  `make && make install`, then `make installcheck`
# (as a user that may run initdb: each suite starts its own temporary server).

MODULE_big = lockable
OBJS = \
	src/clock.o \
	src/lease_api.o \
	src/lease_table.o \
	src/lockable.o \
	src/persist.o \
	src/worker.o

EXTENSION = lockable
DATA = lockable--1.0.sql
PGFILEDESC = "lockable - leases with time-to-live and fencing tokens"

REGRESS = lockable_api lockable_errors lockable_view lockable_fencing lockable_any
REGRESS_OPTS = --temp-instance=tmp_check_regress --temp-config=$(srcdir)/lockable.conf
ISOLATION = contention expiry arrival_order timeouts acquire_any
ISOLATION_OPTS = --temp-instance=tmp_check_iso --temp-config=$(srcdir)/lockable.conf
TAP_TESTS = 1

EXTRA_CLEAN = tmp_check_regress tmp_check_iso output_iso results regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: every object must be rebuilt when the
# shared structures change, or processes disagree on their layout.
$(OBJS): $(srcdir)/src/lockable.h

# Replace the installed library by rename (see scripts/install-shlib.sh), so
# that installing over a running server does not crash it.
INSTALL_SHLIB = $(INSTALL_SHLIB_ENV) $(srcdir)/scripts/install-shlib.sh $(INSTALL_SHLIB_OPTS) $(INSTALL_STRIP_FLAG)
