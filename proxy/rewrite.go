package proxy

import (
	"bytes"
	"fmt"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/vars"
)

// nginx's rewrite phase for one level (a server's, then the chosen
// location's): its redirecting rewrites in order, the first whose regex
// matches $uri answers with a 301/302, else its return, if any. With
// rewrite_log on each regex tried is logged at notice, as nginx does.

// rewritePhase is one level's rewrites and return.
type rewritePhase struct {
	rewrites []compiledRewrite
	ret      *compiledReturn
	log      bool // rewrite_log
	redirect config.Redirect
}

// compiledRewrite is a config.Rewrite with its replacement compiled: the
// part before its first literal "?" and the arguments after it, whose
// captures nginx escapes differently.
type compiledRewrite struct {
	conf       *config.Rewrite
	path, args *vars.Value // args nil: the replacement has no "?"
}

func compilePhase(rws []config.Rewrite, ret config.Return, log bool, rd config.Redirect, maps *vars.Maps) (*rewritePhase, error) {
	r, err := compileReturn(ret, maps)
	if err != nil {
		return nil, err
	}
	if r == nil && len(rws) == 0 {
		return nil, nil
	}
	ph := &rewritePhase{ret: r, log: log, redirect: rd}
	for i := range rws {
		c := compiledRewrite{conf: &rws[i]}
		path, args, hasArgs := bytes.Cut([]byte(rws[i].Replacement), []byte("?"))
		if c.path, err = vars.CompileCaptures(string(path), maps); err != nil {
			return nil, fmt.Errorf("rewrite %s: %w", rws[i].Source, err)
		}
		if hasArgs {
			if c.args, err = vars.CompileCaptures(string(args), maps); err != nil {
				return nil, fmt.Errorf("rewrite %s: %w", rws[i].Source, err)
			}
		}
		ph.rewrites = append(ph.rewrites, c)
	}
	return ph, nil
}

// runPhase runs ph; it reports whether the request has been answered.
func (x *exchange) runPhase(ph *rewritePhase, inLocation bool) bool {
	if ph == nil {
		return false
	}
	for i := range ph.rewrites {
		rw := &ph.rewrites[i]
		m := config.FindSubmatchIndexPCRE(rw.conf.Regex, x.path)
		if ph.log {
			verb := "matches"
			if m == nil {
				verb = "does not match"
			}
			x.logf(errorlog.Notice, "\""+rw.conf.Source+"\" "+verb+" \""+string(x.path)+"\"", 0, "")
		}
		if m == nil {
			continue
		}
		loc := x.rewriteLocation(rw, m)
		if ph.log {
			x.logf(errorlog.Notice, "rewritten redirect: \""+string(loc)+"\"", 0, "")
		}
		x.page(rw.conf.Code)
		if len(loc) > 0 && loc[0] == '/' {
			loc = x.absoluteLocation(nil, loc, ph.redirect)
		}
		x.ctx.Response.Header.Set("Location", string(loc))
		return true
	}
	if ph.ret != nil {
		x.answerReturn(ph.ret, inLocation)
		return true
	}
	return false
}

// rewriteLocation is a matched rewrite's Location before it is made
// absolute: the replacement with the captures of m, escaped as nginx
// 1.22 does when the request's path had a %XX or a "+" (measured), then
// the request's arguments unless the replacement ended with "?".
func (x *exchange) rewriteLocation(rw *compiledRewrite, m []int) []byte {
	raw := x.ctx.Request.Header.RequestURI()
	if i := bytes.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	quoted := bytes.ContainsAny(raw, "%+")
	src := string(x.path)
	appendPart := func(dst []byte, v *vars.Value, table *[256]bool) []byte {
		if !quoted {
			return v.AppendCaptures(dst, x, src, m)
		}
		return v.AppendCapturesEscaped(dst, x, src, m, func(dst []byte, start int) []byte {
			return escapeTail(dst, start, table)
		})
	}
	loc := appendPart(nil, rw.path, &rewritePathEscape)
	if rw.args != nil {
		loc = appendPart(append(loc, '?'), rw.args, &rewriteArgsEscape)
	}
	if rw.conf.AddArgs && len(x.args) > 0 {
		sep := byte('?')
		if rw.args != nil {
			sep = '&'
		}
		loc = append(append(loc, sep), x.args...)
	}
	return loc
}

// The bytes nginx 1.22 sends as %XX in a rewrite redirect's captures,
// measured: before the replacement's "?", controls, space, non-ASCII and
// " # % < > \ ^ ` { | }; after it also & + ; ?.
var rewritePathEscape, rewriteArgsEscape = func() (p, a [256]bool) {
	for c := 0; c < 256; c++ {
		p[c] = c <= ' ' || c >= 0x7f
	}
	for _, c := range []byte("\"#%<>\\^`{|}") {
		p[c] = true
	}
	a = p
	for _, c := range []byte("&+;?") {
		a[c] = true
	}
	return p, a
}()

// escapeTail escapes dst[start:] in place with table.
func escapeTail(dst []byte, start int, table *[256]bool) []byte {
	const hex = "0123456789ABCDEF"
	val := append([]byte(nil), dst[start:]...)
	dst = dst[:start]
	for _, c := range val {
		if table[c] {
			dst = append(dst, '%', hex[c>>4], hex[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
