#!/usr/bin/env bash
# Writes a self-signed certificate and key for doorman into DIR (cert.pem,
# key.pem), readable by doorman's uid 10025, unless DIR already has both.
# Owns: those two files only. Used by the `tls-init` service of
# docker/docker-compose.yml.
#
# usage: make-cert.sh DIR     env: TLS_HOSTNAME (the certificate's name)
set -euo pipefail

dir=${1:?usage: make-cert.sh DIR}
name=${TLS_HOSTNAME:?TLS_HOSTNAME must be doorman hostname}

if [ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ]; then
  echo "make-cert: $dir already has cert.pem and key.pem; leaving them"
  exit 0
fi
# A P-256 key and a certificate valid for ten years, named $name.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -days 3650 -subj "/CN=$name" -addext "subjectAltName=DNS:$name" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem"
# doorman runs as 10025:10025 and must read both; nobody else needs the key.
chown 10025:10025 "$dir/key.pem" "$dir/cert.pem"
chmod 0400 "$dir/key.pem"
chmod 0444 "$dir/cert.pem"
echo "make-cert: wrote a self-signed certificate for $name to $dir"
