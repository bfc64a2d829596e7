# normalize: PGXS build. The version comes from normalize.control alone.
EXTENSION    = normalize
EXTVERSION   = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\(.*\)'/\1/p" normalize.control)
MODULE_big   = normalize

CORE_SRCS    = $(sort $(wildcard src/core/*.cpp))
GLUE_SRCS    = $(sort $(wildcard src/glue/*.cpp))
OBJS         = $(CORE_SRCS:.cpp=.o) $(GLUE_SRCS:.cpp=.o)

INSTALL_SRCS = $(sort $(wildcard sql/install/*.sql))
# Each upgrade script is built from its directory in sql/upgrade and the
# install files it replays, in the order listed. (A released version's own
# install script is in its release; test/upgrade.sh rebuilds 0.1.0's from git.)
UPGRADE_0_1_0 = sql/upgrade/0.1.0--0.2.0/10_set_aside.sql sql/upgrade/0.1.0--0.2.0/15_dropped.sql \
                sql/install/13_rule_discovery.sql \
                sql/install/14_reconcile_ids.sql \
                sql/upgrade/0.1.0--0.2.0/20_views_back.sql \
                sql/install/41_feature_views.sql sql/install/43_features_at.sql \
                sql/upgrade/0.1.0--0.2.0/30_training_views_back.sql \
                sql/install/70_quality.sql sql/install/71_report_html.sql sql/install/80_pipeline.sql \
                sql/install/90_results_dump.sql
DATA_built   = sql/$(EXTENSION)--$(EXTVERSION).sql sql/$(EXTENSION)--0.1.0--0.2.0.sql

# pg_regress inputs are listed, never globbed, so an install script is
# never run as a test.
REGRESS      = generators generator_errors profiles ks_test boundary reconcile demo_source repair history features training quality
REGRESS_OPTS = --load-extension=$(EXTENSION)

PG_CONFIG   ?= pg_config
WERROR      ?=
# Server headers as system headers: their warnings are not ours to fix.
PG_CPPFLAGS += -isystem $(shell $(PG_CONFIG) --includedir-server)
PG_CXXFLAGS += -std=c++17 -Wall -Wextra -fvisibility=hidden -fvisibility-inlines-hidden $(WERROR)
SHLIB_LINK  += -lstdc++
# No LLVM bitcode for C++ sources: the JIT inlines C, and clang would need
# the C++ flags as well.
override with_llvm := no

EXTRA_CLEAN  = test/unit/run_unit_tests test/unit/*.o bench/results

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/$(EXTENSION)--$(EXTVERSION).sql: $(INSTALL_SRCS) normalize.control
	cat $(INSTALL_SRCS) > $@

# A replayed file may redefine functions 0.1.0 has (rule_candidates,
# reconcile_ids, feature_view_sql): the upgrade replaces them. (Postgres refuses to replace
# a function that is not already a member of the extension.)
sql/$(EXTENSION)--0.1.0--0.2.0.sql: $(UPGRADE_0_1_0)
	cat $(UPGRADE_0_1_0) | sed 's/^CREATE FUNCTION /CREATE OR REPLACE FUNCTION /' > $@

# PGXS does not track header dependencies; a changed header rebuilds all.
$(OBJS): $(wildcard src/core/*.hpp src/glue/*.hpp)

# C++ unit tests of the core: no server, no Postgres headers. They link the
# same core objects the extension is built from.
UNIT_SRCS = $(sort $(wildcard test/unit/*.cpp))
UNIT_OBJS = $(UNIT_SRCS:.cpp=.o)

test/unit/%.o: test/unit/%.cpp $(wildcard test/unit/*.hpp src/core/*.hpp)
	$(CXX) -std=c++17 -O2 -g -Wall -Wextra $(WERROR) -Isrc -c -o $@ $<

test/unit/run_unit_tests: $(UNIT_OBJS) $(CORE_SRCS:.cpp=.o)
	$(CXX) -o $@ $^ -lgtest -lgtest_main -pthread

unittest: test/unit/run_unit_tests
	test/unit/run_unit_tests

.PHONY: unittest
