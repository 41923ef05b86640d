package nginxconf

import (
	"strings"

	"spillway/proxy/config"
)

// ssl_ciphers and ssl_ecdh_curve take OpenSSL's names and expressions:
// what Go's crypto/tls lacks is dropped with one warning naming it, and
// only a value that leaves nothing usable fails.

func sslCiphers(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	v := d.Args[0]
	if v != "HIGH:!aNULL:!MD5" { // nginx's default: Go's defaults
		_, dropped, err := config.GoCipherSuites(v)
		if err != nil {
			return errAt(d, "%v", err)
		}
		if len(dropped) > 0 {
			c.warn(d, Ignored, "ignored ciphers of \"%s\" in %s: Go's TLS does not implement %s", d.Name, lv.ctx, strings.Join(dropped, ":"))
		}
	}
	lv.m.set(d.Name, str(v))
	return nil
}

func sslECDHCurve(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	_, dropped, err := config.GoCurves(d.Args[0])
	if err != nil {
		return errAt(d, "%v", err)
	}
	if len(dropped) > 0 {
		c.warn(d, Ignored, "ignored curves of \"ssl_ecdh_curve\" in %s: Go's TLS does not implement %s", lv.ctx, strings.Join(dropped, ":"))
	}
	lv.m.set(d.Name, str(d.Args[0]))
	return nil
}

// sslSessionCache takes nginx's values (off, none, builtin[:size],
// shared:name:size); config checks them.
func sslSessionCache(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	lv.m.set(d.Name, str(strings.Join(d.Args, " ")))
	return nil
}

// sslConfCommand is ssl_conf_command and its proxy_, grpc_ and uwsgi_
// twins: an OpenSSL configuration command, which Go's crypto/tls has no
// way to run. A command that can weaken or change what is checked or
// served (protocols, ciphers, groups, signature algorithms, verification,
// certificates, most Options) refuses the file; the few that only tune
// (NumTickets, RecordPadding, Options of ordering, tickets, compression,
// renegotiation, KTLS) are ignored with a warning.
func sslConfCommand(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 2 {
		return invalidArgs(d)
	}
	if confCommandHarmless(d.Args[0], d.Args[1]) {
		c.warn(d, Ignored, "ignored directive \"%s %s\" in %s: Go's TLS has no OpenSSL configuration commands, and this one only tunes", d.Name, d.Args[0], lv.ctx)
		return nil
	}
	c.warn(d, Refused, "\"%s\" directive in %s is not enforced by spillway (Go's TLS has no OpenSSL configuration commands, and \"%s\" may restrict protocols, ciphers, verification or the certificate)", d.Name, lv.ctx, d.Args[0])
	return nil
}

// confCommandHarmless says whether dropping the OpenSSL command name with
// value v changes no check: it only tunes.
func confCommandHarmless(name, v string) bool {
	switch strings.ToLower(name) {
	case "numtickets", "recordpadding":
		return true
	case "options":
		for _, o := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
			switch strings.ToLower(strings.TrimPrefix(o, "-")) {
			case "serverpreference", "prioritizechacha", "sessionticket", "compression", "norenegotiation", "ktls", "antireplay":
			default:
				return false
			}
		}
		return true
	}
	return false
}
