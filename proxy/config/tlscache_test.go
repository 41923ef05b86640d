package config

import "testing"

func TestParseSessionCache(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want int
		bad  bool
	}{
		{[]string{"none"}, 0, false},
		{[]string{"off"}, 0, false},
		{[]string{"shared:SSL:10m"}, 40000, false},
		{[]string{"shared:le_nginx_SSL:1m"}, 4000, false},
		{[]string{"builtin"}, 20480, false},
		{[]string{"builtin:1000", "shared:SSL:1m"}, 4000, false},
		{[]string{"shared:SSL"}, 0, true},
		{[]string{"shared:SSL:1k"}, 0, true},
		{[]string{"builtin:x"}, 0, true},
		{[]string{"off", "builtin"}, 0, true},
		{[]string{"memcached"}, 0, true},
	} {
		n, err := parseSessionCache(c.in)
		if (err != nil) != c.bad || n != c.want {
			t.Errorf("%q: %d, %v; want %d (error %v)", c.in, n, err, c.want, c.bad)
		}
	}
}
