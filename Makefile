# normalize: PGXS build. The version comes from normalize.control alone.
EXTENSION    = normalize
EXTVERSION   = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\(.*\)'/\1/p" normalize.control)
MODULE_big   = normalize

CORE_SRCS    = $(sort $(wildcard src/core/*.cpp))
GLUE_SRCS    = $(sort $(wildcard src/glue/*.cpp))
OBJS         = $(CORE_SRCS:.cpp=.o) $(GLUE_SRCS:.cpp=.o)

INSTALL_SRCS = $(sort $(wildcard sql/install/*.sql))
# Released scripts are frozen files, installed as they are and never
# rebuilt (0.1.0's install script is kept so that an upgrade from it can be
# tested on every server version). Only the version in development is built:
# its install script from sql/install, its upgrade from the previous release
# from its own parts in sql/upgrade/<from>--<to>.
PREVIOUS     = 0.2.0
RELEASED     = sql/$(EXTENSION)--0.1.0.sql sql/$(EXTENSION)--0.2.0.sql \
               sql/$(EXTENSION)--0.1.0--0.2.0.sql
UPGRADE_SRCS = $(sort $(wildcard sql/upgrade/$(PREVIOUS)--$(EXTVERSION)/*.sql))
DATA         = $(RELEASED)
DATA_built   = sql/$(EXTENSION)--$(EXTVERSION).sql sql/$(EXTENSION)--$(PREVIOUS)--$(EXTVERSION).sql

# pg_regress inputs are listed, never globbed, so an install script is
# never run as a test.
REGRESS      = generators generator_errors profiles ks_test boundary reconcile keys rule_choice time_zones categories placeholders demo_source repair history features training quality pipeline optional_entities
REGRESS_OPTS = --load-extension=$(EXTENSION)

PG_CONFIG   ?= pg_config
WERROR      ?=
# Server headers as system headers: their warnings are not ours to fix.
PG_CPPFLAGS += -isystem $(shell $(PG_CONFIG) --includedir-server)
PG_CXXFLAGS += -std=c++17 -Wall -Wextra -fvisibility=hidden -fvisibility-inlines-hidden $(WERROR)
SHLIB_LINK  += -lstdc++ -Wl,--version-script=$(CURDIR)/src/exports.map
# No LLVM bitcode for C++ sources: the JIT inlines C, and clang would need
# the C++ flags as well.
override with_llvm := no

EXTRA_CLEAN  = test/unit/run_unit_tests test/unit/*.o bench/results

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/$(EXTENSION)--$(EXTVERSION).sql: $(INSTALL_SRCS) normalize.control
	cat $(INSTALL_SRCS) > $@

sql/$(EXTENSION)--$(PREVIOUS)--$(EXTVERSION).sql: $(UPGRADE_SRCS) normalize.control
	cat $(UPGRADE_SRCS) > $@

# PGXS does not track header dependencies; a changed header rebuilds all.
$(OBJS): $(wildcard src/core/*.hpp src/glue/*.hpp)
$(shlib): src/exports.map

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

# For test/packaging.sh: every script `make install` ships.
print-shipped:
	@echo $(DATA) $(DATA_built)
.PHONY: print-shipped

# For scripts/test.sh: the pg_regress tests, to check that each reported.
print-regress:
	@echo $(REGRESS)
.PHONY: print-regress
