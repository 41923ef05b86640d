package nginxconf

import (
	"strings"

	"spillway/proxy/config"
	"spillway/proxy/vars"
)

// The rewrite module's directives spillway runs (proxy/return.go): return,
// at server and location level. A level with a return answers by itself,
// so a server with one needs no location and a location no proxy_pass.
// The rest of the module (rewrite, if, set, break) is still refused or
// reported unsupported.

// returnDirective converts "return code [text]" and "return URL" with
// nginx's checks (ngx_http_rewrite_return).
func returnDirective(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 || len(d.Args) > 2 {
		return invalidArgs(d)
	}
	v := strings.Join(d.Args, " ")
	r, err := config.ParseReturn(v)
	if err != nil {
		return errAt(d, "%v", err)
	}
	if _, err := vars.CompileCaptures(r.Text, c.varMaps); err != nil {
		c.warn(d, Refused, "\"return\" directive in %s is not enforced by spillway (%v: requests would be answered otherwise)", lv.ctx, err)
		return nil
	}
	if lv.m.has("return") {
		// nginx runs the first; the rest are never reached.
		c.warn(d, Ignored, "ignored directive \"return\" in %s: an earlier return answers every request", lv.ctx)
		return nil
	}
	lv.answers = true
	lv.m.set("return", str(v))
	return nil
}
