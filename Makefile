# Installs c77_secure_db: the daemon and its CLI, the systemd unit, the sysusers.d entry, the
# sample configuration (never over an existing one) and the extensions.
#
#   make install [PREFIX=/usr/local] [DESTDIR=/staging]
#   make uninstall [PREFIX=/usr/local] [DESTDIR=/staging]    keeps configuration and state
#
# BINARIES names the folder with already built binaries (default: a release build made here).

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
UNITDIR ?= /etc/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
CONFDIR ?= /etc/c77-secure-db
BINARIES ?= $(shell swift build -c release --show-bin-path 2>/dev/null)

.PHONY: install uninstall release

release:
	@[ -n "$(filter command line,$(origin BINARIES))" ] || swift build -c release --product c77-secure-dbd
	@[ -n "$(filter command line,$(origin BINARIES))" ] || swift build -c release --product c77-secure-dbctl

install: release
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(CONFDIR)
	install -m 755 $(BINARIES)/c77-secure-dbd $(BINARIES)/c77-secure-dbctl $(DESTDIR)$(BINDIR)/
	sed 's|/usr/local/bin/|$(BINDIR)/|g; s|/etc/c77-secure-db/|$(CONFDIR)/|g' systemd/c77-secure-dbd.service > $(DESTDIR)$(UNITDIR)/c77-secure-dbd.service
	chmod 644 $(DESTDIR)$(UNITDIR)/c77-secure-dbd.service
	install -m 644 systemd/c77-secure-db.sysusers $(DESTDIR)$(SYSUSERSDIR)/c77-secure-db.conf
	[ -e $(DESTDIR)$(CONFDIR)/c77-secure-dbd.ini ] || install -m 640 etc/c77-secure-db/c77-secure-dbd.ini $(DESTDIR)$(CONFDIR)/
	$(MAKE) -s -C extension install DESTDIR=$(DESTDIR)
	@if [ -z "$(DESTDIR)" ]; then \
	    if command -v systemd-sysusers >/dev/null; then systemd-sysusers $(SYSUSERSDIR)/c77-secure-db.conf; \
	    elif ! getent passwd c77-secure-db >/dev/null; then useradd --system --home-dir /var/lib/c77-secure-db --shell /usr/sbin/nologin c77-secure-db; fi; \
	    command -v systemctl >/dev/null && systemctl daemon-reload 2>/dev/null || true; \
	fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/c77-secure-dbd $(DESTDIR)$(BINDIR)/c77-secure-dbctl
	rm -f $(DESTDIR)$(UNITDIR)/c77-secure-dbd.service $(DESTDIR)$(SYSUSERSDIR)/c77-secure-db.conf
	$(MAKE) -s -C extension uninstall DESTDIR=$(DESTDIR)
