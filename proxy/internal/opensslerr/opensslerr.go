// Package opensslerr words crypto/tls errors as OpenSSL 3 does, in nginx's
// "(SSL: error:0A00010B:SSL routines::wrong version number)" form, for the
// error-log lines of both TLS sides: the client front and upstream TLS.
package opensslerr

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Text renders a crypto/tls error as OpenSSL's text in nginx's
// "(SSL: error:0A00010B:SSL routines::wrong version number)" form, for the
// failures OpenSSL has a reason code for; otherwise Go's own text follows
// "SSL: ".
func Text(err error) string {
	if code, text, ok := sslReason(err); ok {
		return fmt.Sprintf("SSL: error:%08X:SSL routines::%s", 0x0A000000|code, text)
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return "SSL: error:0A00010B:SSL routines::wrong version number"
	}
	return "SSL: " + strings.TrimPrefix(err.Error(), "tls: ")
}

// Alert is OpenSSL's text for a received alert, in nginx's form.
func Alert(desc uint8) string {
	return fmt.Sprintf("SSL: error:%08X:SSL routines::%s:SSL alert number %d", 0x0A000000|(1000+uint32(desc)), opensslAlerts[desc], desc)
}

// sslReason maps a crypto/tls error to OpenSSL 3's reason code and text.
func sslReason(err error) (uint32, string, bool) {
	s := err.Error()
	if a, ok := strings.CutPrefix(s, "remote error: tls: "); ok {
		if n, ok := alertNumbers[a]; ok {
			if text, ok := opensslAlerts[n]; ok {
				return 1000 + uint32(n), text + ":SSL alert number " + strconv.Itoa(int(n)), true
			}
		}
		return 0, "", false
	}
	for _, r := range localReasons {
		if strings.Contains(s, r.goText) {
			return r.code, r.text, true
		}
	}
	return 0, "", false
}

// localReasons: crypto/tls's own handshake errors and OpenSSL's reason for
// the same failure (measured against nginx 1.22 with OpenSSL 3.0 where
// marked).
var localReasons = []struct {
	goText string
	code   uint32
	text   string
}{
	{"client offered only unsupported versions", 0x102, "unsupported protocol"}, // measured: openssl s_client -tls1_1
	{"server selected unsupported protocol version", 0x102, "unsupported protocol"},
	{"no cipher suite supported by both client and server", 0xC1, "no shared cipher"}, // measured
	{"no ECDHE curve supported by both client and server", 0x19A, "no shared group"},
	{"peer doesn't support any of the certificate's signature algorithms", 0x76, "no suitable signature algorithm"}, // measured: TLSv1.1 client, ECDSA certificate
	{"client doesn't support any of the certificate's signature algorithms", 0x76, "no suitable signature algorithm"},
	{"unexpected message", 0xF4, "unexpected message"},                                 // measured: a garbage handshake record
	{"first record does not look like a TLS handshake", 0x10B, "wrong version number"}, // measured: https to a plain-HTTP upstream
	{"bad record MAC", 0x119, "decryption failed or bad record mac"},
	{"oversized record received", 0xC6, "packet length too long"},
	{"client requested unsupported application protocols", 0xEB, "no application protocol"},
}

// alertNumbers are crypto/tls's alert texts (alert.go) and their numbers.
var alertNumbers = map[string]uint8{
	"close notify": 0, "unexpected message": 10, "bad record MAC": 20, "decryption failed": 21,
	"record overflow": 22, "decompression failure": 30, "handshake failure": 40, "bad certificate": 42,
	"unsupported certificate": 43, "revoked certificate": 44, "expired certificate": 45,
	"unknown certificate": 46, "illegal parameter": 47, "unknown certificate authority": 48,
	"access denied": 49, "error decoding message": 50, "error decrypting message": 51,
	"export restriction": 60, "protocol version not supported": 70, "insufficient security level": 71,
	"internal error": 80, "inappropriate fallback": 86, "user canceled": 90, "no renegotiation": 100,
	"missing extension": 109, "unsupported extension": 110, "certificate unobtainable": 111,
	"unrecognized name": 112, "bad certificate status response": 113, "bad certificate hash value": 114,
	"unknown PSK identity": 115, "certificate required": 116, "no application protocol": 120,
}

// opensslAlerts are OpenSSL's reason texts for a received alert
// (SSL_AD_REASON_OFFSET + number); measured: 42 and 48.
var opensslAlerts = map[uint8]string{
	10: "sslv3 alert unexpected message", 20: "sslv3 alert bad record mac", 21: "tlsv1 alert decryption failed",
	22: "tlsv1 alert record overflow", 30: "sslv3 alert decompression failure", 40: "sslv3 alert handshake failure",
	42: "sslv3 alert bad certificate", 43: "sslv3 alert unsupported certificate", 44: "sslv3 alert certificate revoked",
	45: "sslv3 alert certificate expired", 46: "sslv3 alert certificate unknown", 47: "sslv3 alert illegal parameter",
	48: "tlsv1 alert unknown ca", 49: "tlsv1 alert access denied", 50: "tlsv1 alert decode error",
	51: "tlsv1 alert decrypt error", 60: "tlsv1 alert export restriction", 70: "tlsv1 alert protocol version",
	71: "tlsv1 alert insufficient security", 80: "tlsv1 alert internal error", 86: "tlsv1 alert inappropriate fallback",
	90: "tlsv1 alert user cancelled", 100: "tlsv1 alert no renegotiation", 109: "tlsv13 alert missing extension",
	110: "tlsv1 unsupported extension", 111: "tlsv1 certificate unobtainable", 112: "tlsv1 unrecognized name",
	113: "tlsv1 bad certificate status response", 114: "tlsv1 bad certificate hash value",
	115: "tlsv1 alert unknown psk identity", 116: "tlsv13 alert certificate required", 120: "tlsv1 alert no application protocol",
}

// KnownAlert reports whether OpenSSL has a reason text for alert desc.
func KnownAlert(desc uint8) bool { return opensslAlerts[desc] != "" }
