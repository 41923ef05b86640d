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
