package nginxconf

import (
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"spillway/proxy/accesslog"
	"spillway/proxy/config"
)

// handler converts one directive in one context.
type handler func(c *conv, lv *level, d *Directive) error

// handlers lists, per nginx context, the directives spillway implements.
// Anything else is reported: as ignored when listed in ignored, else as
// unsupported. Keys are nginx's directive names, which are proxy.yaml's.
var handlers = map[string]map[string]handler{}

// blockDirectives are the handled directives that open a block.
var blockDirectives = map[string]bool{"location": true, "if": true}

// Where directives may be written, in nginx's and in spillway's terms.
const (
	inLocations = "http server location" // spillway's locationDirectives
	inServers   = "http server"          // spillway's serverDirectives
)

func init() {
	add := func(ctxs, name string, h handler) {
		for _, ctx := range strings.Fields(ctxs) {
			if handlers[ctx] == nil {
				handlers[ctx] = map[string]handler{}
			}
			handlers[ctx][name] = h
		}
	}

	add("main "+inLocations, "error_log", errorLog)
	add("main", "pid", pidFile)
	add("main", "worker_shutdown_timeout", single(timeValue))

	add("http", "log_format", func(*conv, *level, *Directive) error { return nil }) // read by conv.http
	add(inLocations, "access_log", accessLog)
	add(inServers, "client_header_timeout", single(timeValue))
	add(inServers, "client_header_buffer_size", single(sizeValue))
	add(inServers, "large_client_header_buffers", buffers)
	add(inLocations, "keepalive_timeout", keepaliveTimeout)
	add(inLocations, "keepalive_requests", single(numberValue))
	add(inLocations, "keepalive_time", single(timeValue))
	add(inLocations, "keepalive_disable", keepaliveDisable)
	add(inServers, "underscores_in_headers", single(flagValue))
	add(inServers, "merge_slashes", single(flagValue))
	add(inServers, "http2", single(flagValue)) // nginx 1.25's "http2 on"
	add(inServers, "http2_max_concurrent_streams", single(numberValue))
	add(inServers, "http2_idle_timeout", single(timeValue)) // obsolete in nginx too: keepalive_timeout
	for _, n := range []string{"http2_recv_buffer_size", "http2_body_preread_size", "http2_chunk_size"} {
		add(inServers, n, single(sizeValue))
	}
	for _, n := range []string{"http3", "quic_retry", "quic_gso", "ssl_early_data"} { // nginx 1.25's HTTP/3
		add(inServers, n, single(flagValue))
	}
	add(inServers, "http3_max_concurrent_streams", single(numberValue))
	add(inServers, "http3_stream_buffer_size", single(sizeValue))

	add("server", "listen", listen)
	add("server", "server_name", serverName)
	add("server", "location", location)
	add("location", "location", nestedLocation)

	add("location", "proxy_pass", proxyPass)
	add("location", "stub_status", stubStatus)
	add("location", "health_check", healthCheck)
	add("location", "internal", internal)
	add("server location", "return", returnDirective) // rewrite.go
	add("server location", "rewrite", rewriteDirective)
	add("server location", "break", breakDirective)
	add("server location", "set", setDirective)
	add("server location", "if", ifDirective)
	for _, n := range []string{"return", "rewrite", "break", "set", "if"} {
		add("http", n, notAllowedHere) // nginx -t refuses them there
	}
	for _, n := range []string{"absolute_redirect", "server_name_in_redirect", "port_in_redirect", "rewrite_log", "uninitialized_variable_warn"} {
		add(inLocations, n, single(flagValue))
	}

	// The directives proxy_, fastcgi_ and uwsgi_ share (buffers, timeouts,
	// retries, response headers: proxy/config's modules.go), under each
	// prefix.
	for _, d := range config.ModuleDirectives() {
		h := moduleHandlers[d.Kind]
		if h == nil {
			panic("nginxconf: no handler for " + d.Name + "'s kind " + d.Kind)
		}
		add(inLocations, d.Name, h)
	}
	add(inLocations, "proxy_set_header", proxySetHeader)
	add(inLocations, "proxy_http_version", single(proxyHTTPVersionValue))
	add(inLocations, "proxy_method", proxyMethod)
	add(inLocations, "proxy_set_body", proxyMethod) // one value with variables, as proxy_method
	add(inLocations, "proxy_force_ranges", single(flagValue))
	add(inLocations, "max_ranges", single(numberValue))
	add(inLocations, "if_modified_since", single(ifModifiedSinceValue))
	for _, n := range []string{"client_body_timeout", "send_timeout"} {
		add(inLocations, n, single(timeValue))
	}
	for _, n := range []string{"client_max_body_size", "client_body_buffer_size"} {
		add(inLocations, n, single(sizeValue))
	}
	add(inLocations, "client_body_temp_path", pathValue(3))
	add(inLocations, "limit_rate", sizeOrVariables)
	add(inLocations, "limit_rate_after", sizeOrVariables)
	add(inLocations, "proxy_redirect", headerRewrites) // upheaders.go
	add(inLocations, "proxy_cookie_domain", headerRewrites)
	add(inLocations, "proxy_cookie_path", headerRewrites)
	add(inLocations, "proxy_cookie_flags", cookieFlags)
	add(inLocations, "set_real_ip_from", realIPFrom) // upheaders.go
	add(inLocations, "real_ip_header", single(anyValue))
	add(inLocations, "real_ip_recursive", single(flagValue))
	add(inLocations, "chunked_transfer_encoding", chunkedTransferEncoding)
	add(inLocations, "resolver", resolverDirective)
	add(inLocations, "resolver_timeout", single(timeValue))
	add(inLocations, "allow", accessRule)
	add(inLocations, "deny", accessRule)
	add(inLocations, "satisfy", single(satisfyValue))
	add("http", "limit_req_zone", limitZone)
	add(inLocations, "limit_req", limit)
	add(inLocations, "limit_req_status", single(limitReqStatusValue))
	add(inLocations, "limit_req_log_level", single(limitReqLogLevelValue))
	add(inLocations, "limit_req_dry_run", single(flagValue))
	add("http", "limit_conn_zone", limitZone)
	add(inLocations, "limit_conn", limit)
	add(inLocations, "limit_conn_status", single(limitReqStatusValue))
	add(inLocations, "limit_conn_log_level", single(limitReqLogLevelValue))
	add(inLocations, "limit_conn_dry_run", single(flagValue))
	add(inLocations, "auth_basic", authBasic)
	add(inLocations, "auth_basic_user_file", authBasicUserFile)
	add(inLocations, "auth_request", authRequest)
	add(inLocations, "auth_request_set", authRequestSet)

	// TLS (ngx_http_ssl_module, and proxy_ssl_* of ngx_http_proxy_module).
	add(inServers, "ssl_certificate", certificates)
	add(inServers, "ssl_certificate_key", certificates)
	add(inServers, "ssl_protocols", sslProtocols)
	add(inServers, "ssl_ciphers", sslCiphers)
	add(inServers, "ssl_ecdh_curve", sslECDHCurve)
	add(inServers, "ssl_session_cache", sslSessionCache)
	add(inServers, "ssl_session_timeout", single(timeValue))
	add(inServers, "ssl_session_tickets", single(flagValue))
	add(inServers, "ssl_verify_client", single(verifyClientValue)) // client certificates and OCSP stapling (tls_client.go)
	add(inServers, "ssl_client_certificate", confPath)
	add(inServers, "ssl_trusted_certificate", confPath)
	add(inServers, "ssl_verify_depth", single(numberValue))
	add(inServers, "ssl_crl", confPath)
	add(inServers, "ssl_password_file", confPath) // encrypted ssl_certificate_key files
	add(inServers, "ssl_reject_handshake", single(flagValue))
	add(inServers, "ssl_session_ticket_key", certificates) // a list of files, like ssl_certificate
	add(inServers, "ssl_conf_command", sslConfCommand)     // OpenSSL's SSL_CONF_cmd: refused or ignored (ssl.go)
	for _, n := range []string{"proxy_ssl_conf_command", "grpc_ssl_conf_command", "uwsgi_ssl_conf_command"} {
		add(inLocations, n, sslConfCommand)
	}
	add(inServers, "ssl_stapling", single(flagValue))
	add(inServers, "ssl_stapling_file", confPath)
	add(inServers, "ssl_stapling_verify", single(flagValue))
	add(inServers, "ssl_stapling_responder", single(anyValue))
	add(inLocations, "proxy_ssl_verify", single(flagValue))
	add(inLocations, "proxy_ssl_verify_depth", single(numberValue))
	add(inLocations, "grpc_ssl_verify_depth", single(numberValue))
	add(inLocations, "proxy_ssl_crl", confPath)
	add(inLocations, "grpc_ssl_crl", confPath)
	add(inLocations, "proxy_ssl_trusted_certificate", confPath)
	add(inLocations, "proxy_ssl_name", single(anyValue))
	add(inLocations, "proxy_ssl_server_name", single(flagValue))
	add(inLocations, "proxy_ssl_session_reuse", single(flagValue))
	add(inLocations, "proxy_ssl_certificate", confPath) // a client certificate (tls_upstream.go)
	add(inLocations, "proxy_ssl_certificate_key", confPath)
	add(inLocations, "proxy_ssl_password_file", confPath)
	add(inLocations, "proxy_ssl_protocols", sslProtocols)
	add(inLocations, "proxy_ssl_ciphers", sslCiphers)

	// FastCGI (ngx_http_fastcgi_module), root for $document_root, and
	// lingering close.
	add("location", "fastcgi_pass", fastcgiPass)
	add("location", "fastcgi_split_path_info", single(anyValue))
	add(inLocations, "fastcgi_param", param)
	add(inLocations, "fastcgi_index", single(anyValue))
	add(inLocations, "fastcgi_keep_conn", single(flagValue))
	for _, n := range []string{"lingering_time", "lingering_timeout"} {
		add(inLocations, n, single(timeValue))
	}
	add(inLocations, "root", single(anyValue))
	add(inLocations, "lingering_close", single(lingeringValue))

	// uwsgi (ngx_http_uwsgi_module): what only uwsgi has.
	add("location", "uwsgi_pass", uwsgiPass)
	// gRPC (ngx_http_grpc_module): grpc_pass, grpc_set_header and
	// grpc_ssl_*; its shared set comes with ModuleDirectives above.
	add("location", "grpc_pass", grpcPass)
	add(inLocations, "grpc_set_header", grpcSetHeader)
	for _, n := range []string{"grpc_ssl_verify", "grpc_ssl_server_name", "grpc_ssl_session_reuse"} {
		add(inLocations, n, single(flagValue))
	}
	for _, n := range []string{"grpc_ssl_trusted_certificate", "grpc_ssl_certificate", "grpc_ssl_certificate_key", "grpc_ssl_password_file"} {
		add(inLocations, n, confPath)
	}
	add(inLocations, "grpc_ssl_protocols", sslProtocols)
	add(inLocations, "grpc_ssl_ciphers", sslCiphers)
	add(inLocations, "grpc_ssl_name", single(anyValue))
	add(inLocations, "uwsgi_param", param)
	for _, n := range []string{"uwsgi_modifier1", "uwsgi_modifier2"} {
		add(inLocations, n, single(numberValue))
	}

	add("upstream", "server", upstreamServer)
	add("upstream", "keepalive", single(positiveValue))
	add("upstream", "keepalive_timeout", single(timeValue))
	add("upstream", "keepalive_requests", single(numberValue))
	add("upstream", "keepalive_time", single(timeValue))
	add("upstream", "least_conn", leastConn)
	add("upstream", "hash", balanceMethod)
	add("upstream", "ip_hash", balanceMethod)
	add("upstream", "random", balanceMethod)
	add("upstream", "keepalive_timeout_learn", single(flagValue))
	add("upstream", "zone", zoneDirective)
	add("upstream", "resolver", resolverDirective)         // nginx 1.27.3: for servers with resolve
	add("upstream", "resolver_timeout", single(timeValue)) // likewise
	add("upstream", "sticky", stickyDirective)
	add("upstream", "least_time", leastTime)
}

// moduleHandlers convert the shared upstream-module directives by the kind
// of their value (config.ModuleDirective.Kind).
var moduleHandlers = map[string]handler{
	"time":           single(timeValue),
	"size":           single(sizeValue),
	"size_value":     sizeOrVariables,
	"flag":           single(flagValue),
	"number":         single(numberValue),
	"buffers":        buffers,
	"path":           pathValue(3),
	"next_upstream":  nextUpstream,
	"header_names":   headerName,    // upheaders.go
	"ignore_headers": ignoreHeaders, // upheaders.go
}

// ignoredWhy is a directive nginx needs or allows that makes no difference
// to spillway's behaviour.
type ignoredWhy struct {
	ctxs   string // where; "" = anywhere
	reason string
}

var ignored = map[string]ignoredWhy{
	"user":                 {"main", "spillway runs as the user that starts it"},
	"worker_processes":     {"main", "spillway is one process; Go schedules its goroutines on every CPU"},
	"worker_cpu_affinity":  {"main", "spillway is one process"},
	"worker_priority":      {"main", "spillway is one process; use nice"},
	"worker_rlimit_nofile": {"main", "Go raises the soft open-files limit to the hard limit at start"},
	"worker_rlimit_core":   {"main", "spillway is one process"},
	"master_process":       {"main", "spillway is one process"},
	"daemon":               {"main", "spillway runs in the foreground, like daemon off"},
	"pcre_jit":             {"main", "regexes are Go's RE2"},
	"timer_resolution":     {"main", "Go's timers"},
	"lock_file":            {"main", "spillway is one process"},
	"load_module":          {"main", "a module's directives are reported one by one"},
	"events":               {"main", "Go's runtime runs the event loop (epoll) and has no worker_connections limit"},

	"sendfile":                       {"", "spillway sends temp-file parts of responses with sendfile anyway"},
	"tcp_nopush":                     {"", "spillway writes a response's buffers with one writev"},
	"tcp_nodelay":                    {"", "Go sets TCP_NODELAY on every connection"},
	"server_tokens":                  {"", "spillway's Server header and error pages never show a version"},
	"types_hash_max_size":            {"", "hash table sizing"},
	"types_hash_bucket_size":         {"", "hash table sizing"},
	"server_names_hash_max_size":     {"", "hash table sizing"},
	"server_names_hash_bucket_size":  {"", "hash table sizing"},
	"variables_hash_max_size":        {"", "hash table sizing"},
	"variables_hash_bucket_size":     {"", "hash table sizing"},
	"proxy_headers_hash_max_size":    {"", "hash table sizing"},
	"proxy_headers_hash_bucket_size": {"", "hash table sizing"},
	"map_hash_max_size":              {"", "hash table sizing"},
	"map_hash_bucket_size":           {"", "hash table sizing"},
	"open_file_cache":                {"", "a cache for static files"},
	"open_file_cache_valid":          {"", "a cache for static files"},
	"open_file_cache_min_uses":       {"", "a cache for static files"},
	"open_file_cache_errors":         {"", "a cache for static files"},
	"proxy_cache_path":               {"http", "it only declares a cache zone: spillway does not cache, and each proxy_cache that would use the zone is reported on its own"},
	"ssl_prefer_server_ciphers":      {"", "Go's TLS server orders the cipher suites itself"},
	"ssl_dhparam":                    {"", "Go offers no DHE cipher suites, so there are no DH parameters to load"},
	"ssl_buffer_size":                {"", "Go's TLS sizes its records itself: small at first, then full 16k records once a response flows, which is what nginx's setting trades between"},
	"ssl_ocsp_responder":             {"", "it only serves ssl_ocsp, which spillway refuses (\"ssl_ocsp off\" is accepted)"},
	"ssl_ocsp_cache":                 {"", "it only serves ssl_ocsp, which spillway refuses (\"ssl_ocsp off\" is accepted)"},
	"ssl_certificate_compression":    {"", "Go's TLS does not compress certificates (RFC 8879): handshakes send them whole, which costs bytes, not safety"},
}

// unsupportedWhy explains some unsupported directives people often have.
var unsupportedWhy = map[string]string{
	"fastcgi_pass":    "spillway proxies HTTP only",
	"scgi_pass":       "spillway proxies HTTP only",
	"stream":          "spillway proxies HTTP only",
	"mail":            "spillway proxies HTTP only",
	"ssl_certificate": "spillway has no TLS",
	"proxy_cache":     "spillway does not cache",
}

// refusedWhy lists the directives of nginx's modules that guard requests
// (access, auth_basic, limit_req, limit_conn, referer,
// secure_link, the core module's satisfy and internal, the
// rewrite module's if and return, and the common
// third-party guards: auth_jwt, Lua, njs, ModSecurity, naxsi...) and that
// spillway does not enforce: each refuses the file, since dropping it would
// answer requests that nginx refuses. The text says what would happen.
var refusedWhy = map[string]refusal{
	"auth_jwt":                 {why: "no token would be checked", off: true},
	"auth_jwt_key_file":        {why: "no token would be checked"},
	"auth_jwt_key_request":     {why: "no token would be checked"},
	"auth_jwt_require":         {why: "no token would be checked"},
	"auth_digest":              {why: "no password would be asked", off: true},
	"auth_digest_user_file":    {why: "no password would be asked"},
	"auth_pam":                 {why: "no password would be asked", off: true},
	"auth_ldap":                {why: "no password would be asked", off: true},
	"auth_gss":                 {why: "no credentials would be asked", off: true},
	"valid_referers":           {why: "requests with any Referer would be allowed"},
	"secure_link":              {why: "links would not be checked"},
	"secure_link_md5":          {why: "links would not be checked"},
	"secure_link_secret":       {why: "links would not be checked"},
	"access_by_lua":            {why: "the Lua code that guards requests would not run"},
	"access_by_lua_block":      {why: "the Lua code that guards requests would not run"},
	"access_by_lua_file":       {why: "the Lua code that guards requests would not run"},
	"rewrite_by_lua":           {why: "the Lua code that guards requests would not run"},
	"rewrite_by_lua_block":     {why: "the Lua code that guards requests would not run"},
	"rewrite_by_lua_file":      {why: "the Lua code that guards requests would not run"},
	"js_access":                {why: "the njs handler that guards requests would not run"},
	"perl_access":              {why: "the Perl handler that guards requests would not run"},
	"modsecurity":              {why: "no request would be inspected", off: true},
	"modsecurity_rules":        {why: "no request would be inspected"},
	"modsecurity_rules_file":   {why: "no request would be inspected"},
	"modsecurity_rules_remote": {why: "no request would be inspected"},
	"SecRulesEnabled":          {why: "no request would be inspected"},
	"testcookie":               {why: "no client would be challenged", off: true},
	"disable_symlinks":         {why: "symbolic links in the paths of served files would be followed", off: true},
	// TLS checks Go's crypto/tls or spillway lacks (docs/config.md, "TLS
	// directives spillway refuses").
	"ssl_ocsp":               {why: "client certificates would not be checked with OCSP, so a revoked one would be accepted", off: true},
	"uwsgi_ssl_crl":          {why: "upstream certificates would not be checked against the CRL, so a revoked one would be accepted"},
	"uwsgi_ssl_verify_depth": {why: "upstream certificate chains would be accepted at any depth"},
}

// refusal says why a directive is refused; off means "NAME off" turns the
// guard off and is only ignored.
type refusal struct {
	why string
	off bool
}

// refuse reports a guarding directive spillway does not enforce.
func refuse(c *conv, lv *level, d *Directive, r refusal) error {
	if r.off && len(d.Args) == 1 && strings.EqualFold(d.Args[0], "off") {
		c.warn(d, Ignored, "ignored directive \"%s off\" in %s: spillway enforces no %s, so there is nothing to turn off", d.Name, lv.ctx, d.Name)
		return nil
	}
	c.warn(d, Refused, "\"%s\" directive in %s is not enforced by spillway (%s)", d.Name, lv.ctx, r.why)
	return nil
}

func invalidArgs(d *Directive) error {
	return errAt(d, "invalid number of arguments in \"%s\" directive", d.Name)
}

func duplicate(lv *level, d *Directive) error {
	if lv.m.has(d.Name) {
		return errAt(d, "\"%s\" directive is duplicate", d.Name)
	}
	return nil
}

// A value checker returns the value to write, or nginx's error.
type valueCheck func(d *Directive, v string) (string, error)

// single converts a directive with one argument that nginx allows once
// per level.
func single(check valueCheck) handler {
	return func(c *conv, lv *level, d *Directive) error {
		if len(d.Args) != 1 {
			return invalidArgs(d)
		}
		if err := duplicate(lv, d); err != nil {
			return err
		}
		v, err := check(d, d.Args[0])
		if err != nil {
			return err
		}
		lv.m.set(d.Name, str(v))
		return nil
	}
}

func timeValue(d *Directive, v string) (string, error) {
	if _, err := config.ParseDuration(v); err != nil {
		return "", errAt(d, "\"%s\" directive invalid value", d.Name)
	}
	return v, nil
}

func sizeValue(d *Directive, v string) (string, error) {
	if _, err := config.ParseSize(v); err != nil {
		return "", errAt(d, "\"%s\" directive invalid value", d.Name)
	}
	return v, nil
}

func flagValue(d *Directive, v string) (string, error) {
	switch strings.ToLower(v) {
	case "on":
		return "on", nil
	case "off":
		return "off", nil
	}
	return "", errAt(d, `invalid value "%s" in "%s" directive, it must be "on" or "off"`, v, d.Name)
}

func ifModifiedSinceValue(d *Directive, v string) (string, error) {
	switch strings.ToLower(v) {
	case "off", "exact", "before":
		return strings.ToLower(v), nil
	}
	return "", errAt(d, `invalid value "%s" in "%s" directive`, v, d.Name)
}

func numberValue(d *Directive, v string) (string, error) {
	if n, err := strconv.Atoi(v); err != nil || n < 0 {
		return "", errAt(d, "\"%s\" directive invalid number", d.Name)
	}
	return v, nil
}

func positiveValue(d *Directive, v string) (string, error) {
	if n, err := strconv.Atoi(v); err != nil || n < 1 {
		return "", errAt(d, "invalid value \"%s\" in \"%s\" directive", v, d.Name)
	}
	return v, nil
}

func anyValue(d *Directive, v string) (string, error) { return v, nil }

func verifyClientValue(d *Directive, v string) (string, error) {
	switch v {
	case "on", "off", "optional", "optional_no_ca":
		return v, nil
	}
	return "", errAt(d, "invalid value \"%s\" in \"%s\" directive, it must be \"on\", \"off\", \"optional\" or \"optional_no_ca\"", v, d.Name)
}

func satisfyValue(d *Directive, v string) (string, error) {
	switch strings.ToLower(v) {
	case "all", "any":
		return strings.ToLower(v), nil
	}
	return "", errAt(d, "invalid value \"%s\" in \"%s\" directive, it must be \"all\" or \"any\"", v, d.Name)
}

// limitZone collects limit_req_zone or limit_conn_zone into http's list.
// A key with a variable spillway does not know cannot be computed: refused.
func limitZone(c *conv, lv *level, d *Directive) error {
	var key, what string
	var err error
	if d.Name == "limit_req_zone" {
		var z config.LimitReqZone
		z, err = config.ParseLimitReqZone(d.Args)
		key, what = z.Key, "requests"
	} else {
		var z config.LimitConnZone
		z, err = config.ParseLimitConnZone(d.Args)
		key, what = z.Key, "connections"
	}
	if err != nil {
		return errAt(d, "%v", err)
	}
	if v := c.unknownVariable(strings.ReplaceAll(key, "$binary_remote_addr", "")); v != "" {
		c.warn(d, Refused, "\"%s\" directive in http is not enforced by spillway (it has no \"$%s\" variable for the key: %s would not be limited)", d.Name, v, what)
		return nil
	}
	lv.appendLine(d)
	return nil
}

// limit collects limit_req or limit_conn into the level's list (a level
// with any replaces the inherited list, as in nginx).
func limit(c *conv, lv *level, d *Directive) error {
	var err error
	if d.Name == "limit_req" {
		_, err = config.ParseLimitReq(d.Args)
	} else {
		_, err = config.ParseLimitConn(d.Args)
	}
	if err != nil {
		return errAt(d, "%v", err)
	}
	lv.appendLine(d)
	return nil
}

func limitReqStatusValue(d *Directive, v string) (string, error) {
	if n, err := strconv.Atoi(v); err != nil || n < 400 || n > 599 {
		return "", errAt(d, "value must be between 400 and 599")
	}
	return v, nil
}

func limitReqLogLevelValue(d *Directive, v string) (string, error) {
	switch v {
	case "info", "notice", "warn", "error":
		return v, nil
	}
	return "", errAt(d, "invalid value \"%s\"", v)
}

func lingeringValue(d *Directive, v string) (string, error) {
	switch strings.ToLower(v) {
	case "on", "off", "always":
		return strings.ToLower(v), nil
	}
	return "", errAt(d, "invalid value \"%s\"", v)
}

func httpVersionValue(d *Directive, v string) (string, error) {
	if v != "1.0" && v != "1.1" {
		return "", errAt(d, "invalid value \"%s\"", v)
	}
	return v, nil
}

// proxyHTTPVersionValue is proxy_http_version's: httpVersionValue's and
// nginx 1.29's 2 (HTTP/2 to the upstream).
func proxyHTTPVersionValue(d *Directive, v string) (string, error) {
	if v == "2" {
		return v, nil
	}
	return httpVersionValue(d, v)
}

// buffers converts "number size" (proxy_buffers, large_client_header_buffers).
func buffers(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 2 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	n, err := strconv.Atoi(d.Args[0])
	if _, serr := config.ParseSize(d.Args[1]); err != nil || n < 1 || serr != nil {
		return errAt(d, "\"%s\" directive invalid value", d.Name)
	}
	lv.m.set(d.Name, str(d.Args[0]+" "+d.Args[1]))
	return nil
}

// pathValue converts a path directive; nginx's temp paths take up to
// maxLevels directory levels, which spillway has no use for: its temp files
// are unlinked as soon as they are created.
// pidFile is "pid". A proxy.yaml that convert writes (Options.OwnPID)
// never takes nginx's pid file: nginx's own start, its init script and
// logrotate's "nginx -s reopen" go by that file and would signal spillway,
// or find it taken. The file's pid becomes spillway.pid in the same
// directory (so "spillway -s reload" has one); a "pid" given with -g (read
// as from the "command line") is spillway's own and is kept.
func pidFile(c *conv, lv *level, d *Directive) error {
	if err := pathValue(0)(c, lv, d); err != nil || d.File == "command line" || !c.opts.OwnPID {
		return err
	}
	p := c.withPrefix(d.Args[0])
	if filepath.Base(p) == "spillway.pid" {
		return nil
	}
	own := filepath.Join(filepath.Dir(p), "spillway.pid")
	lv.m.set("pid", str(own))
	c.warn(d, Ignored, "ignored directive \"pid\" in main: spillway does not take nginx's pid file, it writes %s", own)
	return nil
}

func pathValue(maxLevels int) handler {
	return func(c *conv, lv *level, d *Directive) error {
		if len(d.Args) < 1 || len(d.Args) > 1+maxLevels {
			return invalidArgs(d)
		}
		if err := duplicate(lv, d); err != nil {
			return err
		}
		if len(d.Args) > 1 {
			c.warn(d, Ignored, "ignored parameters \"%s\" of \"%s\" in %s: spillway's temp files are unlinked at once, there is no tree of them to spread",
				strings.Join(d.Args[1:], " "), d.Name, lv.ctx)
		}
		lv.m.set(d.Name, str(c.withPrefix(d.Args[0])))
		return nil
	}
}

func errorLog(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 {
		return invalidArgs(d)
	}
	path := d.Args[0]
	if strings.HasPrefix(path, "syslog:") || strings.HasPrefix(path, "memory:") {
		c.warn(d, Unsupported, "unsupported error log \"%s\" in %s: spillway writes to a file or stderr", path, lv.ctx)
		return nil
	}
	m := newMap()
	m.n.Style = yaml.FlowStyle
	m.set("path", str(c.withPrefix(path)))
	if len(d.Args) > 1 {
		if _, err := config.ParseLevel(d.Args[1]); err != nil {
			return errAt(d, "invalid log level \"%s\"", d.Args[1])
		}
		m.set("level", str(d.Args[1]))
		for _, a := range d.Args[2:] {
			c.warn(d, Unsupported, "unsupported parameter \"%s\" of \"error_log\" in %s", a, lv.ctx)
		}
	}
	// Several error_log lines: a list, each file with its own level.
	switch prev := lv.m.get("error_log"); {
	case prev == nil:
		lv.m.set("error_log", m.n)
	case prev.Kind == yaml.SequenceNode:
		prev.Content = append(prev.Content, m.n)
	default:
		lv.m.set("error_log", &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{prev, m.n}})
	}
	return nil
}

// logFormat reads a log_format: its strings are concatenated, as nginx does.
func (c *conv) logFormat(d *Directive) error {
	if len(d.Args) < 2 {
		return invalidArgs(d)
	}
	name, parts := d.Args[0], d.Args[1:]
	if name == "combined" || c.formats[name] != nil {
		return errAt(d, "duplicate \"log_format\" name \"%s\"", name)
	}
	escape := "default"
	if e, ok := strings.CutPrefix(parts[0], "escape="); ok {
		if e != "default" && e != "json" && e != "none" {
			return errAt(d, "unknown log format escaping \"%s\"", e)
		}
		escape = e
		parts = parts[1:]
		if len(parts) == 0 {
			return invalidArgs(d)
		}
	}
	f := &logFormat{format: strings.Join(parts, ""), escape: escape}
	_, f.err = accesslog.CompileEscape(f.format, escape, c.varMaps)
	c.formats[name] = f
	return nil
}

func accessLog(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 {
		return invalidArgs(d)
	}
	path := d.Args[0]
	if path == "off" {
		if len(d.Args) != 1 {
			return invalidArgs(d)
		}
		addAccessLog(lv, str("off"))
		return nil
	}
	if strings.HasPrefix(path, "syslog:") || strings.Contains(path, "$") {
		c.warn(d, Unsupported, "unsupported access log \"%s\" in %s: spillway writes to a file named without variables", path, lv.ctx)
		return nil
	}
	format := "combined"
	if len(d.Args) > 1 {
		format = d.Args[1]
	}
	if format != "combined" {
		f := c.formats[format]
		if f == nil {
			return errAt(d, "unknown log format \"%s\"", format)
		}
		if f.err != nil {
			c.warn(d, Unsupported, "unsupported log_format \"%s\" in %s: %v; access_log not converted", format, lv.ctx, f.err)
			return nil
		}
		format = f.format
	}
	m := newMap()
	m.set("path", str(c.withPrefix(path)))
	m.set("format", str(format))
	if f := c.formats[d.Args[min(1, len(d.Args)-1)]]; len(d.Args) > 1 && f != nil && f.escape != "default" {
		m.set("escape", str(f.escape))
	}
	for _, a := range d.Args[min(2, len(d.Args)):] {
		name, val, _ := strings.Cut(a, "=")
		switch name {
		case "buffer":
			if _, err := config.ParseSize(val); err != nil {
				return errAt(d, "invalid buffer size \"%s\"", val)
			}
			m.set("buffer", str(val))
		case "flush":
			if _, err := config.ParseDuration(val); err != nil {
				return errAt(d, "invalid flush time \"%s\"", val)
			}
			m.set("flush", str(val))
		case "if":
			if val == "" {
				return errAt(d, "invalid parameter \"%s\"", a)
			}
			m.set("if", str(val))
		default:
			c.warn(d, Unsupported, "unsupported parameter \"%s\" of \"access_log\" in %s", a, lv.ctx)
		}
	}
	addAccessLog(lv, m.n)
	return nil
}

// addAccessLog adds one access_log to its level: several access_log lines
// make a list, each log with its own format and if=, as in nginx.
func addAccessLog(lv *level, n *yaml.Node) {
	switch prev := lv.m.get("access_log"); {
	case prev == nil:
		lv.m.set("access_log", n)
	case prev.Kind == yaml.SequenceNode:
		prev.Content = append(prev.Content, n)
	default:
		lv.m.set("access_log", &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{prev, n}})
	}
}

// keepaliveTimeout is the client side's "keepalive_timeout timeout
// [header_timeout]": the header timeout is the "Keep-Alive: timeout=N"
// line of kept answers.
func keepaliveTimeout(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 || len(d.Args) > 2 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	for _, a := range d.Args {
		if _, err := timeValue(d, a); err != nil {
			return err
		}
	}
	lv.m.set(d.Name, str(strings.Join(d.Args, " ")))
	return nil
}

// keepaliveDisable is "keepalive_disable none | browser ...": msie6 or
// safari, or none.
func keepaliveDisable(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	for _, a := range d.Args {
		if a != "none" && a != "msie6" && a != "safari" {
			return errAt(d, "invalid value \"%s\"", a)
		}
	}
	lv.m.set(d.Name, str(strings.Join(d.Args, " ")))
	return nil
}

// setHeaderRefused refuses a proxy_set_header (grpc_set_header) whose
// value has a variable spillway does not know: dropping it would let the
// client's own header of that name through to the upstream (nginx
// replaces it), so the file fails closed.
func setHeaderRefused(c *conv, lv *level, d *Directive) bool {
	v := c.unknownVariable(d.Args[1])
	if v != "" {
		c.warn(d, Refused, "\"%s\" directive in %s is not enforced by spillway (it has no \"$%s\" variable: the client's own \"%s\" header would reach the upstream)", d.Name, lv.ctx, v, d.Args[0])
	}
	return v != ""
}

func proxySetHeader(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 2 {
		return invalidArgs(d)
	}
	if setHeaderRefused(c, lv, d) {
		return nil
	}
	if lv.headerVal == nil {
		lv.headerVal = lv.m.set("proxy_set_header", &yaml.Node{})
	}
	lv.headers = append(lv.headers, header{d.Args[0], d.Args[1]})
	return nil
}

func nextUpstream(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	for _, w := range d.Args {
		if _, err := config.ParseNextUpstream([]string{w}); err != nil {
			return errAt(d, "invalid value \"%s\"", w)
		}
	}
	lv.m.set(d.Name, str(strings.Join(d.Args, " ")))
	return nil
}

func listen(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 {
		return invalidArgs(d)
	}
	addr := d.Args[0]
	if strings.HasPrefix(addr, "unix:") {
		c.warn(d, Unsupported, "unsupported listen address \"%s\" in server: spillway listens on TCP only", addr)
		return nil
	}
	isDefault, ssl, h2, pp, quic, reuseport := false, false, false, false, false, false
	for _, p := range d.Args[1:] {
		name, _, _ := strings.Cut(p, "=")
		switch name {
		case "default_server", "default":
			isDefault = true
		case "ssl":
			ssl = true
		case "proxy_protocol":
			pp = true
		case "quic":
			quic = true // HTTP/3 on the UDP port (nginx 1.25)
		case "reuseport":
			reuseport = true // a QUIC socket has it; on TCP, not supported (below)
		case "http2":
			h2 = true
		default:
			c.warn(d, Unsupported, "unsupported parameter \"%s\" of \"listen\" in server", p)
		}
	}
	if reuseport && !quic {
		c.warn(d, Unsupported, "unsupported parameter \"reuseport\" of \"listen\" in server")
	}
	addrs, err := portRange(d, addr)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		lv.listens = append(lv.listens, listenAddr{addr: a, ssl: ssl, h2: h2, quic: quic, def: isDefault && !quic, proxyProtocol: pp && !quic, d: d})
	}
	return nil
}

// portRange expands a listen address with a port range ("127.0.0.1:8000-8003",
// "[::1]:8000-8003", "8000-8003") into one address per port, as nginx
// listens on each, with nginx -t's errors; an address without one is
// returned as it is.
func portRange(d *Directive, addr string) ([]string, error) {
	host, port := "", addr
	switch {
	case strings.HasPrefix(addr, "["):
		if i := strings.Index(addr, "]:"); i >= 0 {
			host, port = addr[:i+2], addr[i+2:]
		}
	case strings.Contains(addr, ":"):
		i := strings.LastIndexByte(addr, ':')
		host, port = addr[:i+1], addr[i+1:]
	}
	lo, hi, ok := strings.Cut(port, "-")
	if !ok {
		return []string{addr}, nil
	}
	num := func(s string) int {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 65535 || strings.TrimLeft(s, "0123456789") != "" {
			return 0
		}
		return n
	}
	from, to := num(lo), num(hi)
	if from == 0 || to == 0 {
		return nil, errAt(d, "invalid port in \"%s\" of the \"listen\" directive", addr)
	}
	if to < from {
		return nil, errAt(d, "invalid port range in \"%s\" of the \"listen\" directive", addr)
	}
	out := make([]string, 0, to-from+1)
	for p := from; p <= to; p++ {
		out = append(out, host+strconv.Itoa(p))
	}
	return out, nil
}

func serverName(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 {
		return invalidArgs(d)
	}
	for _, n := range d.Args {
		switch {
		case strings.HasPrefix(n, "~"):
			if _, err := config.ServerNameRegex(n[1:]); err != nil {
				c.warn(d, Refused, "server name \"%s\" cannot be converted: its regex is not valid in Go's RE2 syntax (%v), so its requests would reach another server", n, err)
				continue
			}
			lv.names = append(lv.names, n)
		case strings.Contains(n, "$"):
			c.warn(d, Unsupported, "unsupported server name \"%s\" in server: variables are not supported", n)
		default:
			// "*.example.com", "www.example.*", ".example.com" (both
			// example.com and its subdomains) and "" (requests without
			// Host) are spillway's too.
			lv.names = append(lv.names, n)
		}
	}
	return nil
}

func location(c *conv, lv *level, d *Directive) error {
	n, err := c.location(d, lv)
	if err != nil {
		return err
	}
	if n != nil {
		lv.locations.Content = append(lv.locations.Content, n)
	}
	return nil
}

func proxyPass(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	u := d.Args[0]
	lower := strings.ToLower(u)
	switch {
	case strings.Contains(u, "$"):
		// evaluated per request: an upstream block, an address, or a
		// name for the resolver (proxy/passvars.go)
		lv.proxies = true
		lv.m.set("proxy_pass", str(u))
		return nil
	case !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://"):
		return errAt(d, "invalid URL prefix in \"%s\"", u)
	}
	scheme, rest, _ := strings.Cut(u, "://")
	scheme = strings.ToLower(scheme)
	host, uri := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		host, uri = rest[:i], rest[i:]
	}
	if path, ok := strings.CutPrefix(rest, "unix:"); ok {
		// http://unix:/run/app.sock[:/uri]: a unix-domain socket.
		path, uri, _ = strings.Cut(path, ":")
		if path == "" {
			return errAt(d, "no path in the unix domain socket in upstream \"%s\"", rest)
		}
		host = "unix:" + path
		if uri != "" {
			uri = ":" + uri
		}
	}
	if uri != "" && lv.regex {
		return errAt(d, `"proxy_pass" cannot have URI part in location given by regular expression, or inside named location, or inside "if" statement, or inside "limit_except" block`)
	}
	if c.upstreams[strings.ToLower(host)] == nil && !strings.HasPrefix(host, "unix:") {
		if _, _, err := net.SplitHostPort(host); err != nil {
			// nginx's default port; spillway wants it written
			host += map[string]string{"http": ":80", "https": ":443"}[scheme]
		}
	}
	lv.proxies, lv.proxyTarget = true, host
	lv.m.set("proxy_pass", str(scheme+"://"+host+uri))
	return nil
}

// passArg is what fastcgi_pass, uwsgi_pass and grpc_pass check first: one
// argument, once per level. A value with variables is set as written, to be
// evaluated per request as proxy_pass's, and done is true.
func passArg(lv *level, d *Directive) (a string, done bool, err error) {
	if len(d.Args) != 1 {
		return "", false, invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return "", false, err
	}
	a = d.Args[0]
	if strings.Contains(a, "$") {
		lv.proxies = true
		lv.m.set(d.Name, str(a))
		return a, true, nil
	}
	return a, false, nil
}

// fastcgiPass: "address" or an upstream name, without a scheme.
func fastcgiPass(c *conv, lv *level, d *Directive) error {
	a, done, err := passArg(lv, d)
	if err != nil {
		return err
	}
	c.fastcgi = true
	if done {
		return nil
	}
	if a == "unix:" {
		return errAt(d, "no path in the unix domain socket in upstream \"%s\"", a)
	}
	lv.proxies, lv.proxyTarget = true, a
	lv.m.set("fastcgi_pass", str(a))
	return nil
}

// uwsgiPass: an address (host:port, unix:/path), an upstream name, or
// either with nginx's uwsgi:// scheme.
func uwsgiPass(c *conv, lv *level, d *Directive) error {
	a, done, err := passArg(lv, d)
	if done || err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(a, "suwsgi://"):
		// Refused, not dropped: without its uwsgi_pass the location would
		// serve its root's files where nginx talks to the application.
		c.warn(d, Refused, "\"uwsgi_pass %s\" in %s is not enforced by spillway (it speaks uwsgi without TLS: the location's requests would not reach the application)", a, lv.ctx)
		return nil
	case a == "unix:" || a == "uwsgi://unix:":
		return errAt(d, "no path in the unix domain socket in upstream \"%s\"", strings.TrimPrefix(a, "uwsgi://"))
	}
	a = strings.TrimPrefix(a, "uwsgi://")
	lv.proxies, lv.proxyTarget = true, a
	lv.m.set("uwsgi_pass", str(a))
	return nil
}

// grpcPass: grpc://, grpcs:// or no scheme, then host:port or an
// upstream name.
func grpcPass(c *conv, lv *level, d *Directive) error {
	a, done, err := passArg(lv, d)
	if done || err != nil {
		return err
	}
	lv.proxies, lv.proxyTarget = true, strings.TrimPrefix(strings.TrimPrefix(a, "grpcs://"), "grpc://")
	lv.m.set("grpc_pass", str(a))
	return nil
}

// grpcSetHeader collects "grpc_set_header NAME VALUE" as "NAME VALUE"
// entries, refusing an unknown variable as proxySetHeader does.
func grpcSetHeader(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 2 {
		return invalidArgs(d)
	}
	if setHeaderRefused(c, lv, d) {
		return nil
	}
	list := lv.m.get(d.Name)
	if list == nil {
		list = lv.m.set(d.Name, &yaml.Node{Kind: yaml.SequenceNode})
	}
	list.Content = append(list.Content, str(d.Args[0]+" "+d.Args[1]))
	return nil
}

// param collects "fastcgi_param NAME VALUE [if_not_empty]" (and
// uwsgi_param's) like proxy_set_header: a level that sets any replaces the
// inherited list.
func param(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 2 || len(d.Args) > 3 || len(d.Args) == 3 && d.Args[2] != "if_not_empty" {
		if len(d.Args) == 3 {
			return errAt(d, "invalid parameter \"%s\"", d.Args[2])
		}
		return invalidArgs(d)
	}
	list := lv.m.get(d.Name)
	if list == nil {
		list = lv.m.set(d.Name, &yaml.Node{Kind: yaml.SequenceNode})
	}
	e := d.Args[0] + " " + d.Args[1]
	if len(d.Args) == 3 {
		e += " if_not_empty"
	}
	list.Content = append(list.Content, str(e))
	return nil
}

// accessRule collects allow and deny, in file order, into the level's
// access list: their order matters, and a level with any of them replaces
// the inherited list, as in nginx.
func accessRule(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 1 {
		return invalidArgs(d)
	}
	r, err := config.ParseAccessRule(d.Name, d.Args[0])
	if err != nil {
		return errAt(d, "invalid parameter \"%s\"", d.Args[0])
	}
	if r.Net.IsValid() && r.Net.String() != d.Args[0] && strings.Contains(d.Args[0], "/") {
		c.warn(d, Ignored, "ignored low address bits of %s in %s: they are meaningless, spillway uses %s as nginx does", d.Args[0], lv.ctx, r.Net)
	}
	if lv.accessVal == nil {
		lv.accessVal = lv.m.set("access", &yaml.Node{Kind: yaml.SequenceNode})
	}
	lv.accessVal.Content = append(lv.accessVal.Content, str(d.Name+" "+d.Args[0]))
	return nil
}

// authBasic is "auth_basic realm|off". spillway sends the realm as
// written: a variable in it is not expanded.
func authBasic(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	if strings.Contains(d.Args[0], "$") {
		c.warn(d, Unsupported, "unsupported variable in \"auth_basic\" in %s: the realm \"%s\" is sent as written", lv.ctx, d.Args[0])
	}
	lv.m.set(d.Name, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: d.Args[0]})
	return nil
}

// authBasicUserFile is the htpasswd file, relative to the configuration's
// directory as nginx reads it. A file named with variables is the
// request's: kept as written (spillway reads a relative result from the
// conf prefix, as nginx), unless it names a variable spillway does not
// know, which refuses the file rather than let everyone in.
func authBasicUserFile(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	if strings.Contains(d.Args[0], "$") {
		if name := c.unknownVariable(d.Args[0]); name != "" {
			c.warn(d, Refused, "\"auth_basic_user_file\" directive in %s is not enforced by spillway (it does not know the variable \"%s\": no password would be asked)", lv.ctx, name)
			return nil
		}
		lv.m.set(d.Name, str(d.Args[0]))
		return nil
	}
	lv.m.set(d.Name, str(c.withConfPrefix(d.Args[0])))
	return nil
}

// authRequest is "auth_request uri|off". nginx takes the URI as written
// (no variables) and routes the subrequest like a client's request.
func authRequest(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	lv.m.set(d.Name, str(d.Args[0]))
	return nil
}

// authRequestSet is "auth_request_set $variable value": one entry of the
// level's list (a level with any replaces the inherited list, as nginx).
// A value with a variable spillway lacks refuses the file: the variable
// often carries who the user is to the application.
func authRequestSet(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 2 {
		return invalidArgs(d)
	}
	if !strings.HasPrefix(d.Args[0], "$") {
		return &Error{Msg: `invalid variable name "` + d.Args[0] + `"`, File: d.File, Line: d.Line}
	}
	if v := c.unknownVariable(d.Args[1]); v != "" {
		c.warn(d, Refused, "\"auth_request_set\" directive in %s is not enforced by spillway (it has no \"$%s\" variable: \"%s\" would be empty)", lv.ctx, v, d.Args[0])
		return nil
	}
	n := lv.m.get(d.Name)
	if n == nil {
		n = lv.m.set(d.Name, &yaml.Node{Kind: yaml.SequenceNode})
	}
	n.Content = append(n.Content, str(d.Args[0]+" "+d.Args[1]))
	return nil
}

// certificates collects ssl_certificate / ssl_certificate_key: nginx allows
// several (an ECDSA and an RSA pair); the n-th key goes with the n-th
// certificate. Relative paths start at the configuration's directory.
func certificates(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 1 {
		return invalidArgs(d)
	}
	p := d.Args[0]
	if strings.HasPrefix(p, "data:") || strings.Contains(p, "$") && d.Name == "ssl_session_ticket_key" {
		c.warn(d, Unsupported, "unsupported %s \"%s\" in %s: a file path without variables is needed", d.Name, p, lv.ctx)
		return nil
	}
	p = c.withConfPrefix(p)
	for i := 0; i+1 < len(lv.m.n.Content); i += 2 {
		if lv.m.n.Content[i].Value == d.Name {
			v := lv.m.n.Content[i+1]
			if v.Kind == yaml.ScalarNode {
				lv.m.n.Content[i+1] = &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle, Content: []*yaml.Node{v}}
				v = lv.m.n.Content[i+1]
			}
			v.Content = append(v.Content, str(p))
			return nil
		}
	}
	lv.m.set(d.Name, str(p))
	return nil
}

// confPath is a single file path that nginx reads relative to the
// configuration's directory (proxy_ssl_trusted_certificate).
func confPath(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	lv.m.set(d.Name, str(c.withConfPrefix(d.Args[0])))
	return nil
}

// sslProtocols keeps the versions Go's TLS offers.
func sslProtocols(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	var keep []string
	for _, a := range d.Args {
		switch a {
		case "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3":
			keep = append(keep, a)
		case "SSLv2", "SSLv3":
			c.warn(d, Unsupported, "unsupported parameter \"%s\" of \"%s\" in %s: Go's TLS has no %s", a, d.Name, lv.ctx, a)
		default:
			return errAt(d, "invalid value \"%s\" in \"%s\" directive", a, d.Name)
		}
	}
	if len(keep) > 0 {
		lv.m.set(d.Name, str(strings.Join(keep, " ")))
	}
	return nil
}

func stubStatus(c *conv, lv *level, d *Directive) error {
	if len(d.Args) > 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	lv.proxies = true
	lv.m.set("stub_status", str("on"))
	return nil
}

// internal: the location answers every client 404, as nginx does; internal
// redirects and auth_request's subrequests reach it.
func internal(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 0 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	lv.internal = true
	lv.m.set("internal", str("on"))
	return nil
}

func healthCheck(c *conv, lv *level, d *Directive) error {
	if lv.healthCheck != nil {
		c.warn(d, Unsupported, "unsupported directive \"health_check\" in location: spillway runs one check per upstream group, the one at %s is converted", where(lv.healthCheck))
		return nil
	}
	lv.healthCheck = d
	return nil
}

// proxyMethod converts proxy_method (one method) and proxy_set_body (the
// body): one value, variables allowed.
// sizeOrVariables converts limit_rate, limit_rate_after and *_limit_rate:
// a size, or a value with variables (nginx 1.17.0; *_limit_rate 1.27.0),
// read as a size per request.
func sizeOrVariables(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	v := d.Args[0]
	if strings.Contains(v, "$") {
		if name := c.unknownVariable(v); name != "" {
			return errAt(d, "unknown \"%s\" variable", name)
		}
	} else if _, err := config.ParseSize(v); err != nil {
		return errAt(d, "\"%s\" directive invalid value", d.Name)
	}
	lv.m.set(d.Name, str(v))
	return nil
}

func proxyMethod(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 1 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	if name := c.unknownVariable(d.Args[0]); name != "" {
		return errAt(d, "unknown \"%s\" variable", name)
	}
	lv.m.set(d.Name, str(d.Args[0]))
	return nil
}

func upstreamServer(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 {
		return invalidArgs(d)
	}
	addr := d.Args[0]
	if addr == "unix:" {
		return errAt(d, "no path in the unix domain socket in upstream \"%s\"", addr)
	}
	m := newMap()
	m.n.Style = yaml.FlowStyle
	m.set("address", str(addr))
	for _, p := range d.Args[1:] {
		name, val, hasVal := strings.Cut(p, "=")
		bad := false
		switch name {
		case "weight":
			n, err := strconv.Atoi(val)
			bad = err != nil || n < 1
		case "max_fails", "max_conns":
			n, err := strconv.Atoi(val)
			bad = err != nil || n < 0
		case "fail_timeout":
			_, err := config.ParseDuration(val)
			bad = err != nil
		case "backup", "down":
			bad, val = hasVal, "on"
			if name == "backup" && !bad && lv.up.method != "" && lv.up.method != "least_conn" && lv.up.method != "least_time" {
				return errAt(d, "balancing method does not support parameter \"backup\"")
			}
		case "slow_start":
			c.warn(d, Unsupported, "unsupported parameter \"%s\" of \"server\" in upstream", p)
			continue
		case "resolve":
			bad, val = hasVal, "on"
		case "service":
			bad = !hasVal
		case "route":
			bad = !hasVal || val == "" // the sticky cookie's value for the server
		case "drain":
			bad, val = hasVal, "on" // NGINX Plus's: only sticky requests reach it
		default:
			bad = true
		}
		if bad {
			return errAt(d, "invalid parameter \"%s\"", p)
		}
		v := str(val)
		if name == "route" || name == "service" {
			v.Tag = "!!str" // route=0 is a name, not a number
		}
		m.set(name, v)
	}
	lv.up.servers.Content = append(lv.up.servers.Content, m.n)
	return nil
}

// zoneDirective converts zone NAME [SIZE]: servers with resolve need it,
// as in nginx; spillway's group state is one process's anyway.
func zoneDirective(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 || len(d.Args) > 2 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	addWords(lv, d.Name, d.Args)
	return nil
}

// stickyDirective converts NGINX Plus's "sticky cookie NAME [...]",
// "sticky route $VAR ..." and "sticky learn ..." to sticky's words, checked
// by config (sticky.go); any other method refuses the file with nginx
// 1.22's own emerg, as notInNginx.
func stickyDirective(c *conv, lv *level, d *Directive) error {
	if len(d.Args) == 0 || d.Args[0] != "cookie" && d.Args[0] != "route" && d.Args[0] != "learn" {
		return notInNginx(c, lv, d)
	}
	if len(d.Args) < 2 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	args := slices.Clone(d.Args)
	for i, a := range args {
		if strings.HasPrefix(a, "expires=") {
			args[i] = strings.ReplaceAll(a, " ", "") // "expires=1h 3m": one word
		}
	}
	addWords(lv, d.Name, args)
	return nil
}

// notInNginx refuses a balancing directive nginx 1.22 does not have (NGINX
// Plus's sticky and least_time) with nginx's own emerg: ignoring it would
// silently change which server gets a request.
func notInNginx(c *conv, lv *level, d *Directive) error {
	return errAt(d, "unknown directive \"%s\"", d.Name)
}

// leastTime converts NGINX Plus's least_time header|last_byte [inflight],
// a balancing method like the others, checked by config.
func leastTime(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 1 || len(d.Args) > 2 {
		return invalidArgs(d)
	}
	setMethod(lv, "least_time", strings.Join(d.Args, " "))
	return nil
}

func leastConn(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 0 {
		return invalidArgs(d)
	}
	setMethod(lv, "least_conn", "on")
	return nil
}

// setMethod sets the upstream's balancing method, replacing an earlier one
// (nginx warns "load balancing method redefined" and keeps the last).
func setMethod(lv *level, key, val string) {
	for _, k := range []string{"least_conn", "hash", "ip_hash", "random", "least_time"} {
		lv.m.del(k)
	}
	lv.m.set(key, str(val))
	lv.up.method = key
}

// balanceMethod converts hash KEY [consistent], ip_hash and random [two
// [least_conn]] with nginx's checks. They have no backup servers: a
// "backup" after them is nginx's [emerg] (upstreamServer); backup servers
// before them nginx accepts and uses only when the method gives up, which
// spillway's configuration refuses, so they are dropped with a warning.
func balanceMethod(c *conv, lv *level, d *Directive) error {
	val := "on"
	switch d.Name {
	case "hash":
		if len(d.Args) < 1 || len(d.Args) > 2 {
			return invalidArgs(d)
		}
		if len(d.Args) == 2 && d.Args[1] != "consistent" {
			return errAt(d, "invalid parameter \"%s\"", d.Args[1])
		}
		if v := c.unknownVariable(d.Args[0]); v != "" {
			c.warn(d, Unsupported, "unsupported directive \"hash\" in upstream: spillway has no \"$%s\" variable for the key, the group balances round-robin", v)
			return nil
		}
		val = strings.Join(d.Args, " ")
	case "ip_hash":
		if len(d.Args) != 0 {
			return invalidArgs(d)
		}
	case "random":
		switch {
		case len(d.Args) == 0:
		case len(d.Args) <= 2 && d.Args[0] == "two" && (len(d.Args) == 1 || d.Args[1] == "least_conn"):
			val = strings.Join(d.Args, " ")
		case len(d.Args) > 2:
			return invalidArgs(d)
		default:
			return errAt(d, "invalid parameter \"%s\"", d.Args[len(d.Args)-1])
		}
	}
	kept := lv.up.servers.Content[:0]
	for _, s := range lv.up.servers.Content {
		if b := (&ymap{n: s}).get("backup"); b != nil && b.Value == "on" {
			c.warn(d, Unsupported, "unsupported parameter \"backup\" of \"server\" in upstream before \"%s\": the backup server %s is dropped", d.Name, (&ymap{n: s}).get("address").Value)
			continue
		}
		kept = append(kept, s)
	}
	lv.up.servers.Content = kept
	setMethod(lv, d.Name, val)
	return nil
}

// resolverDirective converts resolver: its addresses and parameters as
// written, checked by config (resolver.go).
func resolverDirective(c *conv, lv *level, d *Directive) error {
	if len(d.Args) == 0 {
		return invalidArgs(d)
	}
	if err := duplicate(lv, d); err != nil {
		return err
	}
	addWords(lv, d.Name, d.Args)
	return nil
}

// chunkedTransferEncoding: "on" is nginx's default and what spillway does
// (a response of unknown length to an HTTP/1.1 client is chunked); "off"
// (close the connection to end such a response) is not implemented.
func chunkedTransferEncoding(c *conv, lv *level, d *Directive) error {
	if len(d.Args) != 1 {
		return invalidArgs(d)
	}
	switch d.Args[0] {
	case "on":
		c.warn(d, Ignored, "ignored directive \"chunked_transfer_encoding on\" in %s: it is nginx's default, and spillway's behaviour", lv.ctx)
	case "off":
		c.warn(d, Unsupported, "unsupported directive \"chunked_transfer_encoding off\" in %s: spillway always chunks a response of unknown length to an HTTP/1.1 client", lv.ctx)
	default:
		return errAt(d, "invalid value \"%s\" in \"%s\" directive, it must be \"on\" or \"off\"", d.Args[0], d.Name)
	}
	return nil
}
