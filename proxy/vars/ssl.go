package vars

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"strconv"
)

// Handshake is what the client's TLS handshake said beyond
// tls.ConnectionState, kept by the connection (package client's
// HandshakeConn) for the $ssl_ variables below.
type Handshake struct {
	Ciphers []uint16      // $ssl_ciphers: the client's cipher suites, in its order
	Curves  []tls.CurveID // $ssl_curves: the client's groups, in its order
	// SessionID is $ssl_session_id: the session's identifier, kept in its
	// tickets, so a resumed session has the one of the handshake that
	// made it; nil without resumption (tickets and cache off).
	SessionID []byte
}

// appendSSLHandshake appends $ssl_ciphers, $ssl_curves, $ssl_curve and
// $ssl_session_id; nothing on a plain connection.
func appendSSLHandshake(dst []byte, k kind, x Exchange) []byte {
	t := x.TLS()
	if t == nil {
		return dst
	}
	h := x.Conn().SSLHandshake
	switch k {
	case kSSLCurve:
		if t.CurveID != 0 {
			dst = append(dst, curveName(t.CurveID)...)
		}
	case kSSLCurves:
		if h != nil {
			for i, c := range h.Curves {
				if i > 0 {
					dst = append(dst, ':')
				}
				dst = append(dst, curveName(c)...)
			}
		}
	case kSSLCiphers:
		if h != nil {
			for i, c := range h.Ciphers {
				if i > 0 {
					dst = append(dst, ':')
				}
				if n := cipherName(c); len(n) > 2 && n[:2] != "0x" {
					dst = append(dst, n...)
				} else { // nginx: an unknown suite as 0x and 4 hex digits
					dst = append(dst, "0x"...)
					dst = hex.AppendEncode(dst, []byte{byte(c >> 8), byte(c)})
				}
			}
		}
	case kSSLSessionID:
		if h != nil {
			dst = hex.AppendEncode(dst, h.SessionID)
		}
	}
	return dst
}

// curveName is OpenSSL's name of a group, as nginx prints $ssl_curve(s);
// an unknown one is 0x and 4 hex digits.
func curveName(c tls.CurveID) string {
	switch c {
	case tls.X25519:
		return "X25519"
	case tls.CurveP256:
		return "prime256v1"
	case tls.CurveP384:
		return "secp384r1"
	case tls.CurveP521:
		return "secp521r1"
	case tls.X25519MLKEM768:
		return "X25519MLKEM768"
	case 0x001e:
		return "X448"
	case 0x0100, 0x0101, 0x0102, 0x0103, 0x0104:
		return "ffdhe" + strconv.Itoa([]int{2048, 3072, 4096, 6144, 8192}[c-0x0100])
	}
	b := []byte("0x")
	return string(hex.AppendEncode(b, []byte{byte(c >> 8), byte(c)}))
}

// appendDNLegacy is a name as OpenSSL's X509_NAME_oneline prints it
// (nginx's $ssl_client_s_dn_legacy and _i_dn_legacy): "/" before each
// RDN, first to last, "+" inside one.
func appendDNLegacy(dst, raw []byte, n pkix.Name) []byte {
	var seq pkix.RDNSequence
	if _, err := asn1.Unmarshal(raw, &seq); err != nil {
		seq = n.ToRDNSequence()
	}
	for _, rdn := range seq {
		for j, a := range rdn {
			if j == 0 {
				dst = append(dst, '/')
			} else {
				dst = append(dst, '+')
			}
			name, known := dnNames[a.Type.String()]
			if !known {
				name = a.Type.String()
			}
			dst = append(append(dst, name...), '=')
			if s, ok := a.Value.(string); ok {
				for i := 0; i < len(s); i++ {
					if c := s[i]; c < 0x20 || c > 0x7e {
						dst = append(dst, `\x`...)
						dst = hex.AppendEncode(dst, []byte{c})
						continue
					}
					dst = append(dst, s[i])
				}
			}
		}
	}
	return dst
}
