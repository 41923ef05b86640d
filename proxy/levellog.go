package proxy

import (
	"fmt"
	"slices"
	"strconv"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
)

// nginx's error_log at the http, server and location levels. A request's
// lines go to the log of the location that handles it at that moment (a
// rewrite or try_files that moves it to another location moves its lines
// too), or of its server before a location is chosen; a connection's
// lines before a request names a server go to the log of the default
// server of its address (nginx's ngx_set_connection_log). An
// auth_request subrequest writes to its main request's log, as nginx's
// subrequests do. The lines of the process (startup, reload, signals,
// health checks) stay on the main error_log, p.elog.

// levelLog is one distinct error_log list of a site's http, server and
// location levels: its Log over files shared through Proxy.logs, set when
// the site acquires its logs (logSet.acquireErrorLogs).
type levelLog struct {
	conf []config.ErrorLog
	log  *errorlog.Log
}

// levelLog returns the site's levelLog for logs, one per distinct list;
// nil when logs is nil or is the main error_log, whose Log is p.elog.
func (s *site) levelLog(logs []config.ErrorLog) *levelLog {
	if logs == nil || slices.Equal(logs, s.cfg.AllErrorLogs()) {
		return nil
	}
	k := fmt.Sprint(logs)
	if ll := s.levelLogs[k]; ll != nil {
		return ll
	}
	if s.levelLogs == nil {
		s.levelLogs = map[string]*levelLog{}
	}
	ll := &levelLog{conf: logs}
	s.levelLogs[k] = ll
	return ll
}

// errorLog is the error log of a server and location: the location's
// error_log, else the server's, else the main one. loc may be nil (no
// location chosen yet, or none matched), vh too (no site).
func (p *Proxy) errorLog(vh *vhost, loc *location) *errorlog.Log {
	switch {
	case loc != nil && loc.elog != nil && loc.elog.log != nil:
		return loc.elog.log
	case loc != nil:
		return p.elog // the location writes to the main log, whatever its server does
	case vh != nil && vh.elog != nil && vh.elog.log != nil:
		return vh.elog.log
	}
	return p.elog
}

// listenLog is the error log of a connection to s's listen address addr
// before a request names a server: its default server's (nginx's
// listening log, ngx_http_add_listening's clcf->error_log).
func (p *Proxy) listenLog(s *site, addr string) *errorlog.Log {
	if s != nil {
		if vhs := s.listeners[addr]; len(vhs) > 0 {
			return p.errorLog(vhs[0], nil)
		}
	}
	return p.elog
}

// sniLog is the error log of a TLS connection to s's address addr whose
// client named a server (SNI) before its handshake failed: that server's,
// as nginx's ngx_http_ssl_servername switches the connection's log to the
// server it found (the "server:" field stays the listen address).
func (p *Proxy) sniLog(s *site, addr, name string) *errorlog.Log {
	if s != nil {
		if vhs := s.listeners[addr]; len(vhs) > 0 {
			return p.errorLog(vhostFor(vhs, []byte(name)), nil)
		}
	}
	return p.elog
}

// log is the error log x's lines go to now: its location's, else its
// server's (errorLog); a subrequest's are its main request's.
func (x *exchange) log() *errorlog.Log {
	for x.parent != nil {
		x = x.parent
	}
	return x.p.errorLog(x.vh, x.loc)
}

// logLocationDebug writes the [debug] line nginx's find-config phase
// writes right after it switched the connection's log to the location's
// (ngx_http_update_location_config): "http cl:LENGTH max:LIMIT", the
// request's Content-Length (-1 without one) and client_max_body_size.
// Like every nginx debug line it has no request fields. It is spillway's
// only request line at debug: a location's "error_log ... debug" shows
// which requests it handled.
func (x *exchange) logLocationDebug() {
	if x.loc == nil || x.parent != nil {
		return
	}
	log := x.log()
	if !log.Enabled(errorlog.Debug) {
		return
	}
	cl := int64(-1)
	if v := x.ctx.Request.Header.Peek("Content-Length"); len(v) > 0 {
		if n := x.ctx.Request.Header.ContentLength(); n >= 0 {
			cl = int64(n)
		}
	}
	log.Write(&errorlog.Entry{Level: errorlog.Debug, Conn: x.conn,
		Msg: "http cl:" + strconv.FormatInt(cl, 10) + " max:" + strconv.FormatInt(x.loc.conf.ClientMaxBodySize, 10)})
}

// acquireErrorLogs opens (or shares) the files of every levelLog of s and
// builds its Log. On failure nothing is held. ls.mu is held.
func (ls *logSet) acquireErrorLogs(s *site) error {
	keys := make([]string, 0, len(s.levelLogs))
	for k := range s.levelLogs {
		keys = append(keys, k)
	}
	slices.Sort(keys) // open in a fixed order: the first failure is the same every time
	var got []*errorlog.File
	for _, k := range keys {
		ll := s.levelLogs[k]
		outs := make([]errorlog.Output, 0, len(ll.conf))
		for _, c := range ll.conf {
			f, err := ls.efiles.Acquire(c.Path)
			if err != nil {
				for _, f := range got {
					ls.efiles.Release(f)
				}
				return fmt.Errorf("error_log %s: %w", c.Path, err)
			}
			got = append(got, f)
			outs = append(outs, errorlog.Output{File: f, Level: c.Level})
		}
		ll.log = errorlog.Compose(outs, errorlog.Options{})
	}
	s.errFiles = got
	return nil
}

// releaseErrorLogs drops s's hold on its error-log files. ls.mu is held.
func (ls *logSet) releaseErrorLogs(s *site) {
	for _, f := range s.errFiles {
		ls.efiles.Release(f)
	}
	s.errFiles = nil
}
