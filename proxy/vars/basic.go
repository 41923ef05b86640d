package vars

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// BasicCredentials is ngx_http_auth_basic_user: "Basic " (any case), then
// spaces, then base64 (nginx's decoder: standard alphabet, what follows the
// first "=" ignored) of "user:password" with a non-empty user: auth_basic's
// check and $remote_user.
func BasicCredentials(h []byte) (user, pass []byte, ok bool) {
	const scheme = "basic "
	if len(h) < len(scheme) || !strings.EqualFold(string(h[:len(scheme)]), scheme) {
		return nil, nil, false
	}
	enc := bytes.TrimLeft(h[len(scheme):], " ")
	if i := bytes.IndexByte(enc, '='); i >= 0 {
		enc = enc[:i]
	}
	if len(enc) == 0 || len(enc)%4 == 1 {
		return nil, nil, false
	}
	dec := make([]byte, base64.RawStdEncoding.DecodedLen(len(enc)))
	n, err := base64.RawStdEncoding.Decode(dec, enc)
	if err != nil {
		return nil, nil, false
	}
	dec = dec[:n]
	i := bytes.IndexByte(dec, ':')
	if i <= 0 {
		return nil, nil, false
	}
	return dec[:i], dec[i+1:], true
}
