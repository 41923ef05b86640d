package difftest

import b "spillway/bench/upstreamsim"

// server_name (ngx_http_find_virtual_server, proxy/site.go vhostFor): the
// servers of one address are chosen by the request's Host as nginx does:
// exact name, longest leading wildcard, longest trailing wildcard, first
// regex in file order (its captures are variables), else the default
// server (localhost, which proxies).
func init() { Scenarios = append(Scenarios, serverNameScenarios...) }

// hostReq is a GET / with that Host header ("" for none, HTTP/1.0).
func hostReq(host string) Request {
	if host == "" {
		return raw("GET / HTTP/1.0\r\n\r\n")
	}
	return raw("GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
}

var serverNameScenarios = []Scenario{
	{Area: "locations", Name: "server-name-order", Servers: []Server{srv(b.OK())},
		NamedServers: []NamedServer{
			{[]string{`~^(?<sub>[a-z]+)\.example\.com$`}, `200 "regex $server_name $sub\n"`},
			{[]string{"www.example.*"}, `200 "tail $server_name\n"`},
			{[]string{"*.example.com"}, `200 "head $server_name\n"`},
			{[]string{"www.example.com", "web.example.com"}, `200 "exact $server_name\n"`},
			{[]string{"*.a.example.com"}, `200 "longer head $server_name\n"`},
			{[]string{".dot.example.com"}, `200 "dot $server_name\n"`},
			{[]string{`~^(www)\.(.+)\.test$`}, `200 "numbered $1 $2\n"`},
			{[]string{""}, `200 "empty\n"`},
		},
		Requests: reqs(hostReq("www.example.com"), hostReq("WEB.EXAMPLE.COM"), hostReq("foo.example.com"),
			hostReq("x.a.example.com"), hostReq("www.example.net"), hostReq("dot.example.com"), hostReq("a.dot.example.com"),
			hostReq("www.site.test"), hostReq("www.example.com:8080"), hostReq(""), hostReq("other.test"))},
}
