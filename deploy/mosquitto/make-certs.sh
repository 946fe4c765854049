#!/bin/sh
# Certificates for the broker's TLS listeners and for schools that use
# client-certificate login (CN = school id, which Mosquitto takes as the
# username with use_identity_as_username, so the registry's ACL applies).
#
#   make-certs.sh DIR ca                         # DIR/ca.crt, DIR/ca.key (keep ca.key offline)
#   make-certs.sh DIR server NAME [IP...]        # DIR/server.crt, server.key for mqtt NAME
#   make-certs.sh DIR client SCHOOL_ID...        # DIR/clients/ID.crt, ID.key per school
#   make-certs.sh DIR clients REGISTRY.csv       # one client cert per registry row
#   make-certs.sh DIR revoke SCHOOL_ID...        # revoke DIR/clients/ID.crt, rewrite DIR/crl.pem
#   make-certs.sh DIR crl                        # rewrite DIR/crl.pem (e.g. for a CA made before)
#
# Keys are ECDSA P-256; certificates last DAYS (default 825) days. The CRL
# (crl.pem, which the broker's certificate listener requires) lasts CRL_DAYS
# (default 4 x DAYS): rewrite it before then, or every school is refused.
# revoke and crl need ca.key: run them where it is kept, copy crl.pem to the
# broker and reload it (a restart also drops an open connection). The
# revocation database is DIR/ca-db/.
set -eu
[ $# -ge 2 ] || { sed -n '2,18p' "$0"; exit 2; }
DIR=$1; WHAT=$2; shift 2
DAYS=${DAYS:-825}
CRL_DAYS=${CRL_DAYS:-$((DAYS * 4))}
umask 077
mkdir -p "$DIR"

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

sign() {  # sign KEY CRT SUBJECT EXTFILE
    openssl req -new -key "$1" -subj "$3" -out "$2.csr"
    openssl x509 -req -in "$2.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial \
        -days "$DAYS" -sha256 -extfile "$4" -out "$2" 2>/dev/null
    rm -f "$2.csr" "$4"
    chmod 0644 "$2"
}

client() {
    checkid "$1"
    mkdir -p "$DIR/clients"
    newkey "$DIR/clients/$1.key"
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n' \
        > "$DIR/clients/$1.ext"
    sign "$DIR/clients/$1.key" "$DIR/clients/$1.crt" "/O=schoolnet-audit/CN=$1" "$DIR/clients/$1.ext"
}

cadb() {  # the openssl ca set-up that revocation and the CRL need
    [ -f "$DIR/ca.key" ] || { echo "no $DIR/ca.key: run this where the CA key is kept" >&2; exit 2; }
    mkdir -p "$DIR/ca-db"
    [ -f "$DIR/ca-db/index.txt" ] || : > "$DIR/ca-db/index.txt"
    [ -f "$DIR/ca-db/crlnumber" ] || echo 1000 > "$DIR/ca-db/crlnumber"
    cat > "$DIR/ca-db/openssl.cnf" <<EOF
[ ca ]
default_ca = schoolnet
[ schoolnet ]
database = $DIR/ca-db/index.txt
crlnumber = $DIR/ca-db/crlnumber
certificate = $DIR/ca.crt
private_key = $DIR/ca.key
default_md = sha256
default_crl_days = $CRL_DAYS
EOF
}

gencrl() {
    cadb
    openssl ca -batch -config "$DIR/ca-db/openssl.cnf" -gencrl -out "$DIR/crl.pem.new" 2>/dev/null
    chmod 0644 "$DIR/crl.pem.new"  # public, like ca.crt; the broker only reads it
    mv "$DIR/crl.pem.new" "$DIR/crl.pem"
}

checkid() {
    case $1 in
        *[!A-Za-z0-9_.-]*|""|.*) echo "bad school id: $1" >&2; exit 2 ;;
    esac
}

revoke() {
    checkid "$1"
    crt=$DIR/clients/$1.crt
    [ -f "$crt" ] || { echo "no certificate for school $1 ($crt)" >&2; exit 2; }
    serial=$(openssl x509 -in "$crt" -noout -serial | cut -d= -f2)
    if grep -q "^R.*	$serial	" "$DIR/ca-db/index.txt"; then
        echo "school $1: certificate $serial was already revoked"
    else
        openssl ca -batch -config "$DIR/ca-db/openssl.cnf" -revoke "$crt" 2>/dev/null
        echo "school $1: certificate $serial revoked"
    fi
}

case $WHAT in
    ca)
        newkey "$DIR/ca.key"
        openssl req -x509 -new -key "$DIR/ca.key" -subj "/O=schoolnet-audit/CN=schoolnet-audit CA" \
            -days $((DAYS * 4)) -sha256 -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$DIR/ca.crt"
        chmod 0644 "$DIR/ca.crt"
        rm -rf "$DIR/ca-db"  # a new CA starts with nothing revoked
        gencrl ;;
    server)
        name=$1; shift
        san="DNS:$name"
        for ip in "$@"; do san="$san,IP:$ip"; done
        newkey "$DIR/server.key"
        printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
            "$san" > "$DIR/server.ext"
        sign "$DIR/server.key" "$DIR/server.crt" "/O=schoolnet-audit/CN=$name" "$DIR/server.ext" ;;
    client)
        for id in "$@"; do client "$id"; done ;;
    clients)
        # First column of every row after the header is the school id.
        tail -n +2 "$1" | cut -d, -f1 | tr -d '\r' | while read -r id; do
            [ -n "$id" ] && client "$id"
        done ;;
    revoke)
        [ $# -ge 1 ] || { echo "revoke: which school id?" >&2; exit 2; }
        cadb
        for id in "$@"; do revoke "$id"; done
        gencrl
        echo "wrote $DIR/crl.pem: copy it to the broker, then systemctl reload mosquitto (restart to also drop an open connection)" ;;
    crl)
        gencrl ;;
    *) echo "unknown: $WHAT" >&2; exit 2 ;;
esac
