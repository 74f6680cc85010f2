# vr — Makefile (GNU make). See README.
#   make            build the programs
#   make run        install what is missing, build, start the pipeline (bin/vr-run)
#   make check      install what is missing, build, run the test suite (t/)
#   make bench      measure vr beside the references (t/bench/), reports only
#   make fuzz       fuzz vr-accept's request → job path with libFuzzer
#   make SANITIZE=1 build with AddressSanitizer and UBSan (CI's second run)
#   make install    into $(DESTDIR)$(PREFIX)

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc/vr
CC ?= cc
CFLAGS ?= -O2 -g
override CFLAGS := -std=c17 -Wall -Wextra -Werror -D_GNU_SOURCE \
	-DVR_CONF_DEFAULT='"$(SYSCONFDIR)/vr.conf"' $(CFLAGS)
ifeq ($(SANITIZE),1)
override CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
override LDFLAGS += -fsanitize=address,undefined
endif

# pkg-config for every library; lib/pkgconfig has the .pc files Debian lacks.
# (GNU make 4.3 does not pass exported variables to $(shell): set it inline.)
PKG_CONFIG = PKG_CONFIG_PATH=$(CURDIR)/lib/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH)) pkg-config
PKGS_ALL = libjq libbsd-overlay http-parser libcurl libcrypto nettle \
	libavformat libavcodec libavfilter libavutil libswscale libswresample
override CFLAGS += $(shell $(PKG_CONFIG) --cflags $(PKGS_ALL)) -Ilib
pkglibs = $(shell $(PKG_CONFIG) --libs $(1))
LIBS_CORE = $(call pkglibs,libjq libbsd-overlay)
LIBS_HTTP = $(call pkglibs,http-parser)
LIBS_CURL = $(call pkglibs,libcurl)
LIBS_CRYPTO = $(call pkglibs,libcrypto)
# nettle: HMAC, base64, constant-time compares where start-up counts
# (libcrypto's 21,000 relocations cost vr-accept ~0.8 ms per exec)
LIBS_NETTLE = $(call pkglibs,nettle)
LIBS_AV = $(call pkglibs,libavformat libavcodec libavfilter libavutil libswscale libswresample)
override LDFLAGS += -Wl,--as-needed

# libvr, by concern (lib/*.h say what each owns)
CORE_OBJ = lib/log.o lib/conf.o lib/id.o lib/clock.o lib/job.o lib/spool.o lib/tally.o \
	lib/watch.o lib/util.o
# webhook notifications in the spool (outbox/, sent/): core + libjq + sign
NOTIFY_OBJ = lib/notify.o lib/upload.o
# templates and their parametrization (libjq); signed output URLs (libcrypto)
TMPL_OBJ = lib/template.o
SIGN_OBJ = lib/sign.o
# outbound connections behind the address guard; asset fetching (link with
# $(LIBS_CURL) $(LIBS_CRYPTO))
FETCH_OBJ = lib/guard.o lib/fetch.o

PROGRAMS_ALL = bin/vr-sweep bin/vr-keygen bin/vr-accept bin/vr-validate \
	bin/vr-render bin/vr-upload bin/vr-notify
PROGRAMS = $(filter $(basename $(wildcard bin/vr-*.c)),$(PROGRAMS_ALL))

all: $(PROGRAMS)

# --- vr-sweep: expire, requeue, prune
bin/vr-sweep: bin/vr-sweep.o $(CORE_OBJ) $(NOTIFY_OBJ) $(SIGN_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE) $(LIBS_NETTLE)

# --- test drivers (not installed)
TEST_PROGRAMS = t/spoolctl
t/spoolctl: t/spoolctl.o $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE)
BENCH_PROGRAMS = t/bench/spoolbench
t/bench/spoolbench: t/bench/spoolbench.o $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE)

# (each program's block: its objects, then its libraries)

# --- vr-render: render queued jobs (libav*, fontconfig and FreeType for text)
RENDER_OBJ = lib/render/graph.o lib/render/source.o lib/render/encode.o \
	lib/render/run.o lib/render/text.o lib/render/job.o lib/render/daemon.o \
	lib/render/parallel.o
LIBS_FONT = $(call pkglibs,fontconfig freetype2)
lib/render/text.o: override CFLAGS += $(shell pkg-config --cflags fontconfig freetype2)
$(RENDER_OBJ) bin/vr-render.o: lib/render/render.h lib/render/internal.h
bin/vr-render: bin/vr-render.o $(RENDER_OBJ) $(TMPL_OBJ) $(SIGN_OBJ) $(NOTIFY_OBJ) $(CORE_OBJ) \
		lib/fxnotify.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE) $(LIBS_AV) $(LIBS_NETTLE) $(LIBS_FONT) -lm

# --- vr-upload: deliver outputs to S3, HTTP, FTP, SFTP (libcurl multi)
UPLOAD_OBJ = lib/upload.o lib/s3.o lib/deliver.o lib/guard.o
bin/vr-upload: bin/vr-upload.o $(UPLOAD_OBJ) $(CORE_OBJ) $(NOTIFY_OBJ) $(SIGN_OBJ) \
		lib/fxnotify.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE) $(LIBS_CURL) $(LIBS_CRYPTO) $(LIBS_NETTLE)

TEST_PROGRAMS += t/uploadctl
t/uploadctl: t/uploadctl.o lib/upload.o $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE)

# --- vr-keygen: make an API key
bin/vr-keygen: bin/vr-keygen.o lib/keys.o $(CORE_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE) $(call pkglibs,libmd) $(LIBS_NETTLE)

# --- vr-accept: one HTTP connection on stdin/stdout (both APIs, outputs)
ACCEPT_OBJ = lib/http.o lib/keys.o lib/api/route.o lib/api/common.o \
	lib/api/submit.o lib/api/plainly.o lib/api/plainly-request.o \
	lib/api/projects.o lib/api/files.o lib/api/fx.o \
	lib/api/fx-serve.o
# xinetd execs vr-accept per connection: the small libraries are linked
# statically (Debian ships their .a), halving its start-up (0.86 → 0.46 ms
# over an empty main; 1.44M → 0.71M instructions); libjq has no .a.
LIBS_ACCEPT = $(call pkglibs,libjq) -Wl,-Bstatic \
	$(shell $(PKG_CONFIG) --static --libs libbsd-overlay libmd http-parser nettle) \
	-Wl,-Bdynamic
bin/vr-accept: bin/vr-accept.o $(ACCEPT_OBJ) $(CORE_OBJ) $(NOTIFY_OBJ) lib/sign.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_ACCEPT)

# --- vr-notify: deliver webhooks from outbox/ (libcurl multi, guard, HMAC)
bin/vr-notify: bin/vr-notify.o $(CORE_OBJ) $(NOTIFY_OBJ) $(SIGN_OBJ) \
		lib/guard.o lib/keys.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE) $(call pkglibs,libmd) \
		$(LIBS_CURL) $(LIBS_CRYPTO) $(LIBS_NETTLE)

# --- vr-validate: pending/ → invalid/, throttled/, queued/ (templates,
# assets fetched and probed, upload tasks, the concurrency quota)
bin/vr-validate: bin/vr-validate.o $(CORE_OBJ) $(TMPL_OBJ) $(FETCH_OBJ) \
		lib/probe.o $(NOTIFY_OBJ) $(SIGN_OBJ) lib/keys.o lib/upload.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_CORE) $(call pkglibs,libmd) \
		$(LIBS_CURL) $(LIBS_CRYPTO) $(LIBS_NETTLE) $(LIBS_AV)

# vr-accept's request → job path under libFuzzer (make fuzz FUZZ_SECONDS=600)
FUZZ_SECONDS ?= 600
t/fuzz/fuzz-accept: t/fuzz/fuzz-accept.c $(ACCEPT_OBJ:.o=.c) lib/log.c lib/conf.c \
		lib/id.c lib/clock.c lib/job.c lib/spool.c lib/watch.c lib/util.c lib/notify.c lib/upload.c lib/sign.c
	clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
		$(shell $(PKG_CONFIG) --cflags $(PKGS_ALL)) -Ilib -o $@ $^ \
		$(LIBS_CORE) $(call pkglibs,libmd) $(LIBS_HTTP) $(LIBS_NETTLE)
$(ACCEPT_OBJ) bin/vr-accept.o: $(wildcard lib/api/*.h)
fuzz: t/fuzz/fuzz-accept
	t/fuzz/run $(FUZZ_SECONDS)
.PHONY: fuzz


%.o: %.c $(wildcard lib/*.h)
	$(CC) $(CFLAGS) -c -o $@ $<

deps:
	@etc/install-deps

spool-dirs:
	@for d in tmp pending invalid throttled queued in-progress uploading done \
		failed cancelled outbox sent out assets lease; do \
		mkdir -p spool/$$d; done

run: deps all spool-dirs
	bin/vr-run

check: deps all $(TEST_PROGRAMS) spool-dirs
	t/run

bench: deps all $(TEST_PROGRAMS) $(BENCH_PROGRAMS)
	t/bench/run

lint:
	mandoc -Tlint -Wwarning doc/*.[1-8]

clean:
	rm -f bin/*.o lib/*.o lib/*/*.o t/*.o $(PROGRAMS_ALL) $(TEST_PROGRAMS) $(BENCH_PROGRAMS) t/fuzz/fuzz-accept

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man5 \
		$(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(SYSCONFDIR)
	install -m 755 $(PROGRAMS) bin/vr-run $(DESTDIR)$(PREFIX)/bin
	install -m 644 doc/*.5 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 644 doc/*.8 $(DESTDIR)$(PREFIX)/share/man/man8

.PHONY: all deps spool-dirs run check bench lint clean install
