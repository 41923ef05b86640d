package config

import (
	"crypto/sha256"
	"os"
)

// ssl_session_ticket_key: files of 48 or 80 random bytes ("openssl rand
// 80"), as nginx takes them. nginx's tickets are OpenSSL's (key name, AES,
// HMAC from the file's parts); Go's crypto/tls makes its own from one
// 32-byte key, so each file's content is hashed into that key. Tickets are
// then Go's, not nginx's: spillway instances sharing the files resume each
// other's sessions, nginx and spillway do not.

// loadTicketKeys reads each file of o, in order.
func loadTicketKeys(o *opt[paths], p *problems) [][32]byte {
	var keys [][32]byte
	for _, f := range o.v {
		f = p.confPath(f)
		b, err := os.ReadFile(f)
		if err != nil {
			p.add(o.at(), "cannot open file %q %s", f, fileError(err))
			continue
		}
		if len(b) != 48 && len(b) != 80 {
			p.add(o.at(), "%q must be 48 or 80 bytes", f) // nginx's check
			continue
		}
		keys = append(keys, sha256.Sum256(b))
	}
	return keys
}
