# relayguard — see README.md.  `make V=1` shows the commands.
PREFIX	?= /usr/local
DESTDIR	?=
SBINDIR	?= $(PREFIX)/sbin
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR	?= $(PREFIX)/lib/systemd/system
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions

CC	?= cc
FUZZ_CC	?= clang
FUZZ_SECONDS ?= 30

# Sanitizers: address, undefined, or both ("address,undefined").  Each
# combination builds into its own directory so the builds never mix.
# (comma is needed by the test below, which is expanded as it is read.)
comma := ,
SANITIZER ?=
ifeq ($(SANITIZER),)
BUILD	?= build
SANFLAGS =
else ifneq ($(strip $(filter-out address undefined,$(subst $(comma), ,$(SANITIZER))) \
	$(if $(strip $(subst $(comma), ,$(SANITIZER))),,none)),)
$(error SANITIZER must be address, undefined or address,undefined, not '$(SANITIZER)')
else
BUILD	?= build-$(subst $(comma),-,$(SANITIZER))
SANFLAGS = -fsanitize=$(SANITIZER) -fno-sanitize-recover=all -fno-omit-frame-pointer
endif

WARN	= -Wall -Wextra -Werror \
	  -Wshadow \
	  -Wpointer-arith \
	  -Wcast-qual \
	  -Wstrict-prototypes \
	  -Wmissing-prototypes \
	  -Wformat=2 \
	  -Wvla
CFLAGS	?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARN) -fstack-protector-strong -D_FORTIFY_SOURCE=2 \
	  -D_GNU_SOURCE -MMD -MP -Ifilters -Icommon $(SANFLAGS) $(CFLAGS) \
	  $(if $(PCAP_SONAME),-DRG_PCAP_SONAME='"$(PCAP_SONAME)"')
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)

# filters/ links libidn2 (internationalised domains as A-labels), so every
# program and test built on it does.
PKGS_FILTERS = libidn2
# relayguard loads libpcap only when a capture needs it (tools/capture.c):
# linked, it and its dependencies cost every run ~7 ms of start-up.  Its
# headers still come from libpcap-dev; the soname is the installed one.
PKGS_TOOL = jansson $(PKGS_FILTERS)
PCAP_SONAME := $(shell objdump -p "$$(pkg-config --variable=libdir libpcap 2>/dev/null)/libpcap.so" 2>/dev/null | awk '/SONAME/ { print $$2 }')
PKGS_DAEMON = $(PKGS_FILTERS) jansson libcurl libpcap sqlite3 libnftnl libmnl libnetfilter_queue libcap libseccomp libsystemd
pc_cflags = $(shell pkg-config --cflags $(1) 2>/dev/null)
pc_libs = $(shell pkg-config --libs $(1) 2>/dev/null)

ifeq ($(V),1)
Q =
quiet = @:
else
Q = @
quiet = @printf '  %-7s %s\n'
endif

FILTERS_SRC = $(wildcard filters/*.c)
COMMON_SRC  = $(wildcard common/*.c)
TOOLS_SRC   = $(wildcard tools/*.c)
DAEMON_SRC  = $(wildcard daemon/*.c)
UNIT_SRC    = $(wildcard tests/unit/test_*.c)

FILTERS_OBJ = $(FILTERS_SRC:%.c=$(BUILD)/%.o)
COMMON_OBJ  = $(COMMON_SRC:%.c=$(BUILD)/%.o)
TOOLS_OBJ   = $(TOOLS_SRC:%.c=$(BUILD)/%.o)
DAEMON_OBJ  = $(DAEMON_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN    = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

LIBFILTERS = $(BUILD)/libfilters.a
LIBCOMMON  = $(BUILD)/libcommon.a
PROGS = $(BUILD)/relayguard $(if $(DAEMON_SRC),$(BUILD)/relayguardd)

.PHONY: all check test unit fuzz fuzz-build bench install uninstall clean deps demo valgrind
all: $(PROGS) $(UNIT_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(quiet) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) $(call pc_cflags,$(PKGS_TOOL) $(PKGS_DAEMON)) -c -o $@ $<

$(LIBFILTERS): $(FILTERS_OBJ)
	$(quiet) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBCOMMON): $(COMMON_OBJ)
	$(quiet) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/relayguard: $(TOOLS_OBJ) $(LIBCOMMON) $(LIBFILTERS)
	$(quiet) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -pthread -o $@ $^ $(call pc_libs,$(PKGS_TOOL))

$(BUILD)/relayguardd: $(DAEMON_OBJ) $(LIBCOMMON) $(LIBFILTERS)
	$(quiet) LD $@
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(call pc_libs,$(PKGS_DAEMON))

# Unit tests link the whole filters library and common/; a test may also
# #include a module's .c to reach its static functions (a daemon module's
# too, hence the daemon's libraries).
$(BUILD)/tests/%: tests/unit/%.c tests/unit/test.h $(LIBCOMMON) $(LIBFILTERS)
	@mkdir -p $(dir $@)
	$(quiet) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(LIBCOMMON) $(LIBFILTERS) \
		$(ALL_LDFLAGS) $(call pc_libs,$(PKGS_TOOL) $(PKGS_DAEMON))

deps:
	@scripts/deps.sh

# make check: install what is missing (as root), build and run every suite
# once normally and once under ASan+UBSan; the last line is the total.
check: deps
	@scripts/check.sh

# The README's main job: relayguard in front of a real open relay, in
# network namespaces (root).  The script builds and cleans up itself.
demo: deps
	@scripts/demo.sh

test: all
	@tests/run.sh $(BUILD)

# Unit tests and replays under valgrind (slower than the sanitizer pass).
valgrind: all
	@scripts/valgrind.sh $(BUILD)

# libFuzzer harnesses.  A harness may #include the source it fuzzes to
# reach static functions; the archive then supplies only the other modules.
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN = $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
FUZZ_FLAGS = -std=gnu11 -g -O1 -D_GNU_SOURCE -Ifilters -Icommon \
	-fno-sanitize-recover=all -fno-omit-frame-pointer
build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(quiet) FUZZCC $@
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -MMD -MP -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<
build-fuzz/libfilters.a: $(FILTERS_SRC:%.c=build-fuzz/obj/%.o)
	$(Q)rm -f $@ && ar rcs $@ $^
build-fuzz/%: tests/fuzz/%.c build-fuzz/libfilters.a
	$(quiet) FUZZLD $@
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -MMD -MP -MF $@.d -MT $@ -fsanitize=fuzzer,address,undefined -o $@ $< \
		build-fuzz/libfilters.a $(call pc_libs,jansson libpcap $(PKGS_FILTERS))
fuzz-build: $(FUZZ_BIN)
fuzz: fuzz-build
	@scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

bench: all
	@bench/replay

# The differential fuzzer's long search (tests/differential, root): random
# seeds for SECONDS seconds against the lab's real servers.
SECONDS ?= 600
.PHONY: differential
differential: all
	@tests/differential/run $(BUILD) --seconds $(SECONDS)

install: $(PROGS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(BUILD)/relayguard $(DESTDIR)$(BINDIR)/relayguard
	$(if $(DAEMON_SRC),install -m 755 $(BUILD)/relayguardd $(DESTDIR)$(SBINDIR)/relayguardd)
	for m in man/*.8; do [ -f "$$m" ] && install -m 644 $$m $(DESTDIR)$(MANDIR)/man8/ || true; done
	for m in man/*.5; do [ -f "$$m" ] && install -m 644 $$m $(DESTDIR)$(MANDIR)/man5/ || true; done
	install -d $(DESTDIR)$(SYSCONFDIR)/relayguard
	[ -f $(DESTDIR)$(SYSCONFDIR)/relayguard/relayguard.conf ] || \
		install -m 644 etc/relayguard.conf $(DESTDIR)$(SYSCONFDIR)/relayguard/relayguard.conf
	install -d $(DESTDIR)$(SYSCONFDIR)/logrotate.d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(COMPLETIONDIR)
	sed -e 's|/usr/bin/relayguard|$(BINDIR)/relayguard|' etc/relayguard.logrotate \
		> $(DESTDIR)$(SYSCONFDIR)/logrotate.d/relayguard
	sed -e 's|/usr/local/bin/|$(BINDIR)/|; s|/usr/local/sbin/|$(SBINDIR)/|' \
		etc/relayguardd.service > $(DESTDIR)$(UNITDIR)/relayguardd.service
	chmod 644 $(DESTDIR)$(SYSCONFDIR)/logrotate.d/relayguard $(DESTDIR)$(UNITDIR)/relayguardd.service
	install -m 644 etc/relayguard.bash-completion $(DESTDIR)$(COMPLETIONDIR)/relayguard
	install -d $(DESTDIR)$(PREFIX)/share/relayguard/grafana
	install -m 644 contrib/grafana/relayguard.json $(DESTDIR)$(PREFIX)/share/relayguard/grafana/relayguard.json

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/relayguard $(DESTDIR)$(SBINDIR)/relayguardd
	rm -f $(DESTDIR)$(SYSCONFDIR)/logrotate.d/relayguard
	rm -f $(DESTDIR)$(UNITDIR)/relayguardd.service $(DESTDIR)$(COMPLETIONDIR)/relayguard
	rm -f $(DESTDIR)$(PREFIX)/share/relayguard/grafana/relayguard.json
	-rmdir $(DESTDIR)$(PREFIX)/share/relayguard/grafana $(DESTDIR)$(PREFIX)/share/relayguard 2>/dev/null
	for m in man/*.8; do rm -f $(DESTDIR)$(MANDIR)/man8/$${m#man/}; done
	for m in man/*.5; do rm -f $(DESTDIR)$(MANDIR)/man5/$${m#man/}; done
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/relayguard (configuration) and /var/lib/relayguard (blocks)"

# make deb: the Debian package, built from a copy of the tracked files in
# $(BUILD)/deb (dpkg-buildpackage writes next to the source tree), then
# lintian.  The .deb ends up in $(BUILD)/deb/.
.PHONY: deb
deb:
	rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/relayguard
	git ls-files -z | xargs -0 cp --parents -t $(BUILD)/deb/relayguard
	cd $(BUILD)/deb/relayguard && dpkg-buildpackage -us -uc -b -j2 >../build.log 2>&1 || \
		{ tail -n 30 ../build.log; exit 1; }
	lintian --fail-on error $(BUILD)/deb/relayguard_*.deb
	@ls $(BUILD)/deb/*.deb

clean:
	rm -rf build build-* 

-include $(shell find $(BUILD) build-fuzz -path '$(BUILD)/deb' -prune -o -name '*.d' -type f -print 2>/dev/null)
