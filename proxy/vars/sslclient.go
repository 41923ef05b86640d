package vars

// The client-certificate variables of ngx_http_ssl_module: $ssl_client_*,
// formatted as nginx formats them with OpenSSL.

import (
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"strconv"
	"time"
)

// appendSSLClient appends one $ssl_client_ variable; nothing (not found)
// on a plain connection or, but for $ssl_client_verify, when the client
// sent no certificate.
func appendSSLClient(dst []byte, k kind, x Exchange) []byte {
	t := x.TLS()
	if t == nil {
		return dst
	}
	if k == kSSLClientVerify {
		if v := x.Conn().SSLClientVerify; v != "" {
			return append(dst, v...)
		}
		return append(dst, "NONE"...)
	}
	if len(t.PeerCertificates) == 0 {
		return dst
	}
	c := t.PeerCertificates[0]
	switch k {
	case kSSLClientSDN:
		dst = appendDN(dst, c.RawSubject, c.Subject)
	case kSSLClientIDN:
		dst = appendDN(dst, c.RawIssuer, c.Issuer)
	case kSSLClientSDNLegacy:
		dst = appendDNLegacy(dst, c.RawSubject, c.Subject)
	case kSSLClientIDNLegacy:
		dst = appendDNLegacy(dst, c.RawIssuer, c.Issuer)
	case kSSLClientSerial:
		dst = appendSerial(dst, c)
	case kSSLClientFingerprint:
		sum := sha1.Sum(c.Raw)
		dst = hex.AppendEncode(dst, sum[:])
	case kSSLClientCert: // PEM, every line but the first after a tab, without the last newline
		p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		p = p[:len(p)-1]
		for _, b := range p {
			dst = append(dst, b)
			if b == '\n' {
				dst = append(dst, '\t')
			}
		}
	case kSSLClientRawCert:
		dst = append(dst, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	case kSSLClientEscapedCert:
		dst = appendURIComponent(dst, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	case kSSLClientVStart:
		dst = c.NotBefore.UTC().AppendFormat(dst, asn1TimeLayout)
	case kSSLClientVEnd:
		dst = c.NotAfter.UTC().AppendFormat(dst, asn1TimeLayout)
	case kSSLClientVRemain:
		now := x.Request().Start
		if now.IsZero() {
			now = time.Now()
		}
		days := int64(0)
		if left := c.NotAfter.Unix() - now.Unix(); left >= 86400 {
			days = left / 86400
		}
		dst = strconv.AppendInt(dst, days, 10)
	}
	return dst
}

// asn1TimeLayout is OpenSSL's ASN1_TIME_print: "Dec  7 03:01:52 2026 GMT".
const asn1TimeLayout = "Jan _2 15:04:05 2006 GMT"

// appendSerial is OpenSSL's i2a_ASN1_INTEGER: upper-case hex, two digits a
// byte.
func appendSerial(dst []byte, c *x509.Certificate) []byte {
	n := c.SerialNumber
	if n.Sign() < 0 {
		dst = append(dst, '-')
	}
	b := n.Bytes()
	if len(b) == 0 {
		return append(dst, "00"...)
	}
	const digits = "0123456789ABCDEF"
	for _, v := range b {
		dst = append(dst, digits[v>>4], digits[v&15])
	}
	return dst
}

// dnNames are OpenSSL's short names of the attributes a DN usually has.
var dnNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "street",
	"2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.5": "serialNumber", "2.5.4.17": "postalCode",
	"2.5.4.4": "SN", "2.5.4.42": "GN", "2.5.4.12": "title", "2.5.4.43": "initials",
	"2.5.4.46": "dnQualifier", "2.5.4.65": "pseudonym", "2.5.4.41": "name",
	"1.2.840.113549.1.9.1":       "emailAddress",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// appendDN is a name as OpenSSL prints it with XN_FLAG_RFC2253 (nginx's
// $ssl_client_s_dn since 1.11.6): the last RDN first, "," between them,
// "+" inside one, RFC 2253's escapes, unknown types as OID=#hex.
func appendDN(dst, raw []byte, n pkix.Name) []byte {
	var seq pkix.RDNSequence
	if _, err := asn1.Unmarshal(raw, &seq); err != nil {
		seq = n.ToRDNSequence()
	}
	for i := len(seq) - 1; i >= 0; i-- {
		if i != len(seq)-1 {
			dst = append(dst, ',')
		}
		for j, a := range seq[i] {
			if j > 0 {
				dst = append(dst, '+')
			}
			name, known := dnNames[a.Type.String()]
			s, isStr := a.Value.(string)
			if !known || !isStr {
				if !known {
					name = a.Type.String()
				}
				if !isStr {
					der, _ := asn1.Marshal(a.Value)
					dst = append(append(dst, name...), "=#"...)
					dst = hex.AppendEncode(dst, der)
					continue
				}
			}
			dst = append(append(dst, name...), '=')
			dst = appendRFC2253(dst, s)
		}
	}
	return dst
}

func appendRFC2253(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ',' || c == '+' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';',
			c == '#' && i == 0, c == ' ' && (i == 0 || i == len(s)-1):
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendURIComponent is nginx's ngx_escape_uri(NGX_ESCAPE_URI_COMPONENT)
// as $ssl_client_escaped_cert uses it: all but letters, digits and "-._~"
// as %XX.
func appendURIComponent(dst, s []byte) []byte {
	const digits = "0123456789ABCDEF"
	for _, c := range s {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', digits[c>>4], digits[c&15])
	}
	return dst
}
