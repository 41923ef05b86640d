package nginxconf

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"spillway/proxy/config"
	"spillway/proxy/vars"
)

// The rewrite module's directives spillway runs (proxy/return.go,
// proxy/rewrite.go): return, and rewrite when it redirects, at server and
// location level, and rewrite_log. A level with a return (or a redirect
// of every URI, "rewrite ^ ..."), answers by itself, so a server with one
// needs no location and a location no proxy_pass. The rest of the module
// (if, set, break, rewrite inside the server) is still refused or
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
	if lv.returned || lv.broken {
		// nginx runs the first; the rest are never reached.
		c.warn(d, Ignored, "ignored directive \"return\" in %s: %s", lv.ctx, unreached(lv))
		return nil
	}
	lv.answers, lv.returned = true, true
	lv.m.set("return", str(v))
	return nil
}

// rewriteDirective converts a rewrite that redirects; one that rewrites
// inside the server is reported unsupported, as before.
func rewriteDirective(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 2 || len(d.Args) > 3 {
		return invalidArgs(d)
	}
	if lv.returned || lv.broken {
		c.warn(d, Ignored, "ignored directive \"rewrite\" in %s: %s", lv.ctx, unreached(lv))
		return nil
	}
	for _, a := range d.Args {
		if strings.ContainsAny(a, " \t\r\n") {
			c.warn(d, Unsupported, "unsupported rewrite in %s: an argument with a space", lv.ctx)
			return nil
		}
	}
	v := strings.Join(d.Args, " ")
	r, err := config.ParseRewrite(v)
	if err == nil {
		_, err = vars.CompileCaptures(r.Replacement, c.varMaps)
	}
	if err != nil {
		c.warn(d, Unsupported, "unsupported rewrite in %s: %v", lv.ctx, err)
		return nil
	}
	if lv.rewriteVal == nil {
		lv.rewriteVal = lv.m.set("rewrite", &yaml.Node{Kind: yaml.SequenceNode})
	}
	lv.rewriteVal.Content = append(lv.rewriteVal.Content, str(v))
	if everyURI[r.Source] {
		lv.answers = true
	}
	return nil
}

// everyURI are the regexes of "redirect everything" rewrites: $uri
// always starts with "/" (and ".*" stops at a decoded newline, which
// hardly any client sends).
var everyURI = map[string]bool{"^": true, "^/": true, "^(.*)$": true, "^(.*)": true, "^/(.*)$": true, "^/(.*)": true,
	"(.*)": true, ".*": true, "^.*$": true, "^.*": true, "^/.*": true, "^/.*$": true}

// breakDirective: nginx stops the level's rewrite directives there, so
// the rewrites and return after it are never reached (and not converted).
func breakDirective(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 0 {
		return invalidArgs(d)
	}
	lv.broken = true
	return nil
}

func unreached(lv *level) string {
	if lv.returned {
		return "an earlier return answers every request"
	}
	return "an earlier break stops the rewrite directives"
}

// notAllowedHere is nginx's error for a rewrite directive in http.
func notAllowedHere(c *conv, lv *level, d *Directive) error {
	return errAt(d, "\"%s\" directive is not allowed here", d.Name)
}
