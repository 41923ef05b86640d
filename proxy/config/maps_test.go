package config

import (
	"reflect"
	"strings"
	"testing"

	"spillway/proxy/vars"
)

func TestMapBlocks(t *testing.T) {
	c := mustLoad(t, `
http:
  map:
    - map: $http_upgrade $connection_upgrade
      default: upgrade
      values: ['"" close']
    - map: $http_host $backend
      hostnames: on
      volatile: on
      values:
        - default   app
        - '*.Example.com  wild'
        - ['~^(?i)API\.', "$1api"]
        - '~*^www\.(.+)$ "site $1"'
  servers:
    - listen: 127.0.0.1:8080
      access_log: {path: logs/a.log, format: '$connection_upgrade $backend $request_length'}
      locations:
        - path: /
          proxy_pass: http://127.0.0.1:9000
          proxy_set_header: {Connection: $connection_upgrade, Upgrade: $http_upgrade}
`)
	want := []vars.MapDef{
		{Source: "$http_upgrade", Variable: "connection_upgrade", Default: "upgrade", Entries: []vars.MapEntry{{Key: "", Value: "close"}}},
		{Source: "$http_host", Variable: "backend", Default: "app", Hostnames: true, Volatile: true, Entries: []vars.MapEntry{
			{Key: "*.Example.com", Value: "wild"}, {Key: `~^(?i)API\.`, Value: "$1api"}, {Key: `~*^www\.(.+)$`, Value: "site $1"}}},
	}
	if !reflect.DeepEqual(c.Maps, want) {
		t.Errorf("maps:\n got %+v\nwant %+v", c.Maps, want)
	}
}

// An unknown variable is refused wherever it is written, at its line.
func TestUnknownVariables(t *testing.T) {
	_, err := load(t, `
http:
  access_log: logs/a.log '$remote_addr $nope_one'
  map:
    - map: $nope_two $mapped
      values: ['a $nope_three']
  proxy_set_header:
    - Host $host
    - X-Bad $nope_four
  servers:
    - listen: 127.0.0.1:8080
      locations:
        - path: /
          proxy_pass: http://127.0.0.1:9000
          proxy_set_header: {X-Mapped: $mapped, X-Bad: "${nope_five}"}
        - path: /php
          fastcgi_pass: 127.0.0.1:9001
          fastcgi_param:
            - SERVER_SOFTWARE nginx/$nginx_version
            - PATH_INFO $fastcgi_path_info
            - X $nope_six if_not_empty
`)
	var got []string
	for _, e := range allErrors(t, err) {
		got = append(got, e.Error())
	}
	want := []string{
		`log_format: unknown "nope_one" variable (http.access_log) in proxy.yaml:3`,
		`unknown "nope_two" variable (http.map[0]) in proxy.yaml:5`,
		`unknown "nope_four" variable`,
		`proxy_set_header X-Bad: unknown "nope_four" variable (http.proxy_set_header[1]) in proxy.yaml:9`,
		`proxy_set_header X-Bad: unknown "nope_five" variable (http.servers[0].locations[0].proxy_set_header.X-Bad) in proxy.yaml:15`,
		`fastcgi_param X: unknown "nope_six" variable (http.servers[0].locations[1].fastcgi_param[2]) in proxy.yaml:21`,
	}
	joined := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("missing %q in:\n%s", w, joined)
		}
	}
	if strings.Contains(joined, "nginx_version") || strings.Contains(joined, "fastcgi_path_info") || strings.Contains(joined, `"mapped"`) {
		t.Errorf("a known variable refused:\n%s", joined)
	}
}

func TestMapErrors(t *testing.T) {
	for text, want := range map[string]string{
		`[{map: $uri}]`:                                    `want "$source $variable"`,
		`[{map: $uri mapped}]`:                             `starts with "$"`,
		`[{values: []}]`:                                   `needs "map" as well`,
		`[{map: $uri $m, values: ['a b c']}]`:              `invalid number of the map parameters`,
		`[{map: $uri $m, values: ['~( x']}]`:               `invalid regular expression "~("`,
		`[{map: $uri $host}]`:                              `the duplicate "host" variable`,
		`[{map: $uri $m, values: [default a, default b]}]`: `duplicate default map parameter`,
		`{map: $uri $m}`:                                   `expected a list`,
	} {
		_, err := load(t, "http:\n  map: "+text+"\n  servers: [{listen: 127.0.0.1:80, locations: [{path: /, proxy_pass: http://127.0.0.1:9}]}]\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", text, err, want)
		}
	}
}

func TestNginxWords(t *testing.T) {
	for in, want := range map[string][]string{
		`"" close`:       {"", "close"},
		`'a b' "c\"d"`:   {"a b", `c"d`},
		`~^/a\.b$   x`:   {`~^/a\.b$`, "x"},
		"\tkey\t value ": {"key", "value"},
		`\~tilde lit`:    {`\~tilde`, "lit"},
	} {
		got, err := nginxWords(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	if _, err := nginxWords(`"open`); err == nil {
		t.Error("an open quote passed")
	}
}
