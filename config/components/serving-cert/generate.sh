#!/usr/bin/env bash
# Writes a serving certificate for ferrite-apiserver into this directory: ca.crt/ca.key (a CA
# of its own, kept and reused on later runs) and tls.crt/tls.key (valid for the Service's DNS
# names, signed by that CA). kustomization.yaml beside this script turns them into Secret
# ferrite-apiserver-cert and the APIServices' caBundle. Re-run before the certificate expires
# and apply again: the Secret's name changes with its content, which rolls the Deployment.
#
# ca.key never leaves this directory: keep it safe (or delete it and let the next run make a
# new CA). Needs openssl. Environment: NAMESPACE (ferrite-system), SERVICE (ferrite-apiserver),
# DAYS (365), OUT (this directory).
set -euo pipefail
DIR="${OUT:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
NAMESPACE="${NAMESPACE:-ferrite-system}"
SERVICE="${SERVICE:-ferrite-apiserver}"
DAYS="${DAYS:-365}"
umask 077
mkdir -p "$DIR"
cd "$DIR"

if [[ ! -s ca.key || ! -s ca.crt ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 3650 \
    -keyout ca.key -out ca.crt -subj "/CN=ferrite-apiserver-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  echo "generate.sh: new CA in $DIR/ca.crt"
fi

cat > serving.cnf <<CNF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = ${SERVICE}.${NAMESPACE}.svc
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:${SERVICE}.${NAMESPACE}.svc,DNS:${SERVICE}.${NAMESPACE}.svc.cluster.local,DNS:${SERVICE}.${NAMESPACE},DNS:${SERVICE}
CNF
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
  -keyout tls.key -out serving.csr -config serving.cnf 2>/dev/null
openssl x509 -req -in serving.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days "$DAYS" \
  -extfile serving.cnf -extensions ext -out tls.crt 2>/dev/null
rm -f serving.csr serving.cnf ca.srl
chmod 0644 ca.crt tls.crt
echo "generate.sh: $DIR/tls.crt for ${SERVICE}.${NAMESPACE}.svc, valid $DAYS days"
