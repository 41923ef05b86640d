package opensslerr

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
)

// Go's handshake errors become OpenSSL's reason, in nginx's "(SSL: ...)".
func TestText(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "remote error", Err: errors.New("tls: unknown certificate authority")}, "SSL: error:0A000418:SSL routines::tlsv1 alert unknown ca:SSL alert number 48"},
		{errors.New("tls: client offered only unsupported versions: [302]"), "SSL: error:0A000102:SSL routines::unsupported protocol"},
		{errors.New("tls: no cipher suite supported by both client and server"), "SSL: error:0A0000C1:SSL routines::no shared cipher"},
		{tls.RecordHeaderError{Msg: "tls: first record does not look like a TLS handshake"}, "SSL: error:0A00010B:SSL routines::wrong version number"},
		{errors.New("tls: something new"), "SSL: something new"},
	} {
		if got := Text(tc.err); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.err, got, tc.want)
		}
	}
}
