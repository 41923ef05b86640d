package proxy

import (
	"fmt"
	"strings"
)

// varKind is an nginx variable usable in proxy_set_header values.
type varKind uint8

const (
	varLiteral               varKind = iota
	varHost                          // $host: Host without port, else server_name
	varHTTPHost                      // $http_host
	varRemoteAddr                    // $remote_addr
	varRemotePort                    // $remote_port
	varProxyAddXForwardedFor         // $proxy_add_x_forwarded_for
	varScheme                        // $scheme
	varProxyHost                     // $proxy_host: the proxy_pass host as written
	varRequestURI                    // $request_uri
	varURI                           // $uri
	varArgs                          // $args
	varServerName                    // $server_name
	varServerPort                    // $server_port
	varRequestMethod                 // $request_method
	varHTTPHeader                    // $http_NAME
	varHTTPS                         // $https: "on" on a TLS listener, else empty
)

var varNames = map[string]varKind{
	"host": varHost, "http_host": varHTTPHost, "remote_addr": varRemoteAddr, "remote_port": varRemotePort,
	"proxy_add_x_forwarded_for": varProxyAddXForwardedFor, "scheme": varScheme, "proxy_host": varProxyHost,
	"request_uri": varRequestURI, "uri": varURI, "args": varArgs, "query_string": varArgs,
	"server_name": varServerName, "server_port": varServerPort, "request_method": varRequestMethod,
	"https": varHTTPS,
}

// part is one piece of a compiled value: a literal, or a variable.
type part struct {
	kind varKind
	lit  string // the literal, or the header name for $http_NAME (with '-')
}

// compileValue splits "text $var ${var}text" into parts once, at load time,
// so that requests only append. Unknown variables are an error, as in nginx
// (`unknown "foo" variable`).
func compileValue(v string) ([]part, error) {
	var parts []part
	for len(v) > 0 {
		i := strings.IndexByte(v, '$')
		if i < 0 {
			parts = append(parts, part{lit: v})
			break
		}
		if i > 0 {
			parts = append(parts, part{lit: v[:i]})
		}
		v = v[i+1:]
		var name string
		if strings.HasPrefix(v, "{") {
			j := strings.IndexByte(v, '}')
			if j < 0 {
				return nil, fmt.Errorf("the closing bracket in %q variable is missing", v)
			}
			name, v = v[1:j], v[j+1:]
		} else {
			j := 0
			for j < len(v) && (v[j] == '_' || v[j] >= 'a' && v[j] <= 'z' || v[j] >= 'A' && v[j] <= 'Z' || v[j] >= '0' && v[j] <= '9') {
				j++
			}
			name, v = v[:j], v[j:]
		}
		if name == "" {
			return nil, fmt.Errorf("invalid variable name in %q", v)
		}
		if k, ok := varNames[name]; ok {
			parts = append(parts, part{kind: k})
			continue
		}
		if h, ok := strings.CutPrefix(name, "http_"); ok {
			parts = append(parts, part{kind: varHTTPHeader, lit: strings.ReplaceAll(h, "_", "-")})
			continue
		}
		return nil, fmt.Errorf("unknown %q variable", name)
	}
	return parts, nil
}
