package difftest

import (
	"fmt"
	"strings"
)

// docIntro is the hand-written part of docs/differential.md; the tables
// after it are generated from Scenarios and dropRules (Markdown).
const docIntro = `# Differential tests against real nginx

` + "`go test ./proxy/internal/difftest/`" + ` runs every scenario below twice, at the same time: once
through real nginx (a child process with a generated ` + "`nginx.conf`" + `, one master and one
worker, error log at ` + "`info`" + `) and once through spillway (in-process, from a generated
` + "`proxy.yaml`" + `), each in front of its own fresh ` + "`spillway upstream`" + ` origins (package
` + "`bench/upstreamsim`" + `). Both configurations come from one scenario description
(` + "`proxy/internal/difftest/scenarios.go`" + `): the same directives, with nginx's names, at the http
level, the same upstream group ` + "`app`" + ` and server parameters, ` + "`proxy_connect_timeout`" + `,
` + "`proxy_read_timeout`" + ` and ` + "`proxy_send_timeout`" + ` at 1s unless the scenario sets them.

The same requests (raw HTTP/1.1 on a new connection each) go to both, one after the other,
and the test compares:

| aspect | what is compared |
|---|---|
| ` + "`status`" + ` | the final status, ` + "`HTTP/0.9`" + ` for bytes without a status line, ` + "`none`" + ` for no answer |
| ` + "`body`" + ` | the body bytes received (chunked framing removed; the error page footer ` + "`nginx/1.22.1`" + ` / ` + "`spillway`" + ` normalised) |
| ` + "`end`" + ` | how the response ended: complete (and whether the connection stays open), or cut by EOF, reset or timeout |
| ` + "`auth`" + ` | the ` + "`WWW-Authenticate`" + ` header |
| ` + "`header`" + ` | the response headers a scenario names (add_header, expires): each one's values in order, an ` + "`Expires`" + ` date as its distance from ` + "`Date`" + ` in minutes |
| ` + "`hits`" + ` | the requests each upstream server received, by method and request target (path and query byte for byte, as the proxy sent them) |
| ` + "`conns`" + ` | the TCP connections each upstream server accepted (keepalive scenarios only) |
| ` + "`log`" + ` | the error-log lines in order, after removing timestamps and pid#tid, with ` + "`*N`" + ` for connection numbers, ` + "`U0`" + `, ` + "`U1`" + `, ... and ` + "`PROXY`" + ` for addresses, ` + "`<dir>`" + ` and ` + "`<N>`" + ` for temp-file paths; a scenario's own ` + "`error_log`" + ` files (http or location level) too, each line prefixed with the file's name |
| ` + "`access`" + ` | the access-log lines, as ` + "`$status \"$request\"`" + ` (both sides log with that format): every request answered or given up on, those the HTTP parser refused included, with nginx's rendering of a bad request line; the ` + "`sent-`" + ` scenarios (` + "`Sizes`" + `) add ` + "`$bytes_sent $body_bytes_sent`" + `, each compared as its distance from the head and body bytes that request's client received (the ` + "`Server`" + ` header and the pages' footer name each proxy, so the raw figures differ by that much) |

A scenario either expects no difference, or documents exactly which aspects differ and why;
the test fails when the observed difference is another one, and also when a documented
difference has disappeared. A *deliberate* difference is spillway's choice (README, "Where
spillway differs from nginx, on purpose"); a *bug* is a known spillway (or fasthttp)
shortcoming recorded so the table stays honest. A *racy* aspect is one where nginx itself
gives different answers from run to run: it is compared and reported, never failed.

Run it:

    go test -race ./proxy/internal/difftest/                      # skips without nginx
    SPILLWAY_REQUIRE_NGINX=1 go test ./proxy/internal/difftest/   # CI: no nginx is a failure
    go test -v -run TestDifferential ./proxy/internal/difftest/   # prints "N/M identical, K documented differences"
    DIFFTEST_VERBOSE=1 go test -v -run 'TestDifferential/scenarios/behaviour/reset$' ./proxy/internal/difftest/   # both logs
    DIFFTEST_UPDATE_DOC=1 go test -run TestDocInSync ./proxy/internal/difftest/   # regenerate this file

nginx needs only its core http, proxy and upstream modules (Debian's ` + "`nginx-light`" + ` is enough).

` + "`TestWebSocketDifferential`" + ` runs WebSocket sessions (coder/websocket's client against an
echo origin of the same library) through both with nginx's documented set-up
(` + "`proxy_http_version 1.1`" + `, ` + "`proxy_set_header Upgrade $http_upgrade`" + `, ` + "`Connection \"upgrade\"`" + `): messages
small and large, a ping, the close handshake, an idle tunnel ended by ` + "`proxy_read_timeout`" + `, and
a location without the headers (the origin's 426 passes through). The client's transcript, the
access-log lines (` + "`$status \"$request\" $body_bytes_sent`" + `, written when the tunnel closes) and the
error-log lines must be identical.

` + "`TestFail2banBadRequestFilter`" + ` sends every ` + "`bad_request`" + ` scenario's requests (with good ones
between them) through both, with the access logs in nginx's ` + "`combined`" + ` format, and runs
fail2ban's stock ` + "`nginx-bad-request`" + ` filter (` + "`fail2ban-regex`" + `) over each: the matches must be
equal. It skips without ` + "`fail2ban-regex`" + ` (` + "`apt-get install -y fail2ban`" + `) unless
` + "`SPILLWAY_REQUIRE_FAIL2BAN=1`" + `, which CI sets.
` + "`TestFail2banFiltersMatchAsForNginx`" + ` sends failed logins and scanner requests through both and runs
fail2ban's stock ` + "`nginx-http-auth`" + `, ` + "`nginx-limit-req`" + ` and ` + "`nginx-botsearch`" + ` filters
(` + "`fail2ban-regex`" + `) over each side's error and access logs: the match counts must be equal. It
skips without fail2ban unless ` + "`SPILLWAY_REQUIRE_FAIL2BAN=1`" + ` (CI installs it).
`

// Markdown is docs/differential.md.
func Markdown() string {
	var b strings.Builder
	b.WriteString(docIntro)
	ident, diff := 0, 0
	for _, s := range Scenarios {
		if s.Diff == nil {
			ident++
		} else {
			diff++
		}
	}
	fmt.Fprintf(&b, "\n## Result\n\n`%d/%d identical, %d documented differences` (%d deliberate, %d bugs).\n",
		ident, len(Scenarios), diff, countDiff(true), countDiff(false))
	b.WriteString("\n## Global rules\n\nApplied to every scenario; each must still remove at least one line somewhere in the suite.\n\n| rule | side | reason |\n|---|---|---|\n")
	for _, r := range dropRules {
		side := r.Side
		if side == "" {
			side = "both"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.Name, side, cell(r.Reason))
	}
	b.WriteString("\n## Scenarios\n\n| area | scenario | upstreams | directives | requests | result | reason |\n|---|---|---|---|---|---|---|\n")
	for _, s := range Scenarios {
		result, reason := "identical", ""
		if s.Diff != nil {
			kind := "deliberate"
			if s.Diff.Bug {
				kind = "bug"
			}
			var as []string
			for _, a := range s.Diff.Aspects {
				as = append(as, string(a))
			}
			result = kind + ": " + strings.Join(as, ", ")
			reason = s.Diff.Reason
		}
		if len(s.Racy) > 0 {
			var as []string
			for _, a := range s.Racy {
				as = append(as, string(a))
			}
			result += " (racy in nginx: " + strings.Join(as, ", ") + ")"
			reason = strings.TrimPrefix(reason+"; "+s.RacyReason, "; ")
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s | %s |\n", s.Area, s.Name, cell(servers(&s)), cell(directives(&s)), cell(requests(&s)), result, cell(reason))
	}
	b.WriteString(grpcMarkdown())
	return b.String()
}

func countDiff(deliberate bool) int {
	n := 0
	for _, s := range Scenarios {
		if s.Diff != nil && s.Diff.Bug != deliberate {
			n++
		}
	}
	return n
}

func servers(s *Scenario) string {
	var out []string
	for _, sv := range s.Servers {
		var bs []string
		for _, bh := range sv.Behaviors {
			bs = append(bs, bh.String())
		}
		if len(bs) == 0 {
			bs = []string{"ok"}
		}
		one := "`" + strings.Join(bs, ", ") + "`"
		switch sv.Unix {
		case UnixListen:
			one = "unix socket: " + one
		case UnixMissing:
			one = "unix socket: no such file"
		case UnixRefused:
			one = "unix socket: no listener"
		}
		if sv.Params != "" {
			one += " " + sv.Params
		}
		out = append(out, one)
	}
	str := strings.Join(out, "; ")
	if s.Keepalive > 0 {
		str += fmt.Sprintf("; keepalive %d", s.Keepalive)
	}
	return str
}

func directives(s *Scenario) string {
	var out []string
	if s.ProxyPassURI != "" {
		out = append(out, "`proxy_pass http://app"+s.ProxyPassURI+"`")
	}
	for _, d := range s.Directives {
		out = append(out, "`"+d.Name+" "+d.Value+"`")
	}
	if s.ServerRewrite != "" {
		out = append(out, "`server redirect.test { rewrite "+s.ServerRewrite+"; }`")
	}
	if s.ServerReturn != "" {
		out = append(out, "`server redirect.test { return "+s.ServerReturn+"; }`")
	}
	for _, ns := range s.NamedServers {
		out = append(out, "`server { server_name "+strings.ReplaceAll(nginxNames(ns.Names), "|", `\|`)+"; return "+ns.Return+"; }`")
	}
	if len(s.ServerDirectives) > 0 {
		out = append(out, "`server {"+docDirectives(s.ServerDirectives)+" }`")
	}
	for _, l := range s.Locations {
		out = append(out, "`"+docLocation(s, l)+"`")
	}
	return strings.Join(out, " ")
}

// docLocation writes l on one line, its Nested locations inside.
func docLocation(s *Scenario, l Location) string {
	one := "location " + l.Path + " {" + docDirectives(l.Directives)
	for _, n := range s.Nested[l.Path] {
		one += " " + docLocation(s, n)
	}
	return one + " }"
}

// docDirectives writes directives on one line, as nginx reads them (an if
// holds its block).
func docDirectives(ds []Directive) string {
	var one string
	for _, d := range ds {
		end := ";"
		if d.Name == "if" || d.Name == "limit_except" {
			end = ""
		}
		one += " " + strings.TrimSuffix(d.Name+" "+strings.ReplaceAll(d.Value, "|", `\|`), " ") + end // "internal;" has no value
	}
	return one
}

func requests(s *Scenario) string {
	var out []string
	for _, r := range s.Requests {
		var one string
		if r.Leave != "" {
			one = "connects and closes (" + strings.ToUpper(r.Leave) + ") without a byte"
		} else if r.Raw != "" {
			line, _, _ := strings.Cut(r.Raw, "\r\n")
			one = fmt.Sprintf("raw `%s`", clip(line))
		} else {
			m := r.Method
			if m == "" {
				m = "GET"
			}
			one = m + " " + clip(r.Path)
			if r.Body > 0 {
				one += fmt.Sprintf(" (%d B", r.Body)
				if r.Chunked {
					one += " chunked"
				}
				one += ")"
			}
			for _, h := range r.Header {
				name, _, _ := strings.Cut(h, ":")
				one += " +" + name
			}
			if r.SlowRead {
				one += " slow reader"
			}
		}
		if r.Abort != "" {
			one += ", client closes (" + strings.ToUpper(r.Abort) + ") once it reached an upstream"
		}
		if r.ResetAfter > 0 {
			one += fmt.Sprintf(", client resets after the head and %d body bytes", r.ResetAfter)
		}
		if r.Pause > 0 {
			one = fmt.Sprintf("after %v: %s", r.Pause, one)
		}
		out = append(out, one)
	}
	// Collapse repeats: "3 × GET /x".
	var col []string
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && out[j] == out[i] {
			j++
		}
		if j-i > 1 {
			col = append(col, fmt.Sprintf("%d × %s", j-i, out[i]))
		} else {
			col = append(col, out[i])
		}
		i = j
	}
	return strings.Join(col, "; ")
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:20] + fmt.Sprintf("…(%d bytes)", len(s))
	}
	return s
}

// cell escapes a table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
