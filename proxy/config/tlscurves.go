package config

import (
	"crypto/tls"
	"fmt"
	"strings"
)

// ssl_ecdh_curve: OpenSSL's curve names (as SSL_CTX_set1_curves_list takes
// them, ":"-separated) mapped onto Go's key exchange groups.

// goCurves are the OpenSSL names of the groups Go's crypto/tls has.
var goCurves = map[string]tls.CurveID{
	"X25519": tls.X25519, "x25519": tls.X25519,
	"P-256": tls.CurveP256, "prime256v1": tls.CurveP256, "secp256r1": tls.CurveP256,
	"P-384": tls.CurveP384, "secp384r1": tls.CurveP384,
	"P-521": tls.CurveP521, "secp521r1": tls.CurveP521,
}

// otherCurves are names OpenSSL 3.0 takes for TLS groups Go does not have.
var otherCurves = map[string]bool{
	"X448": true, "x448": true, "secp224r1": true, "P-224": true, "secp256k1": true,
	"secp192r1": true, "prime192v1": true, "P-192": true,
	"brainpoolP256r1": true, "brainpoolP384r1": true, "brainpoolP512r1": true,
	"brainpoolP256r1tls13": true, "brainpoolP384r1tls13": true, "brainpoolP512r1tls13": true,
	"ffdhe2048": true, "ffdhe3072": true, "ffdhe4096": true, "ffdhe6144": true, "ffdhe8192": true,
}

// GoCurves turns an ssl_ecdh_curve value into Go's groups, in order, and
// the names Go lacks. "auto" (nginx's default) is nil: Go's defaults. It
// fails, as nginx does, on a name OpenSSL does not know, and when no group
// Go has remains.
func GoCurves(v string) (ids []tls.CurveID, dropped []string, err error) {
	if v == "auto" {
		return nil, nil, nil
	}
	for _, n := range strings.Split(v, ":") {
		if id, ok := goCurves[n]; ok {
			ids = append(ids, id)
		} else if otherCurves[n] {
			dropped = append(dropped, n)
		} else {
			return nil, nil, fmt.Errorf(`SSL_CTX_set1_curves_list("%s") failed (SSL: unknown group %q)`, v, n)
		}
	}
	if len(ids) == 0 {
		return nil, dropped, fmt.Errorf(`"ssl_ecdh_curve" "%s" names no group Go's TLS implements (X25519, prime256v1, secp384r1, secp521r1)`, v)
	}
	return ids, dropped, nil
}
