package config

import (
	"fmt"
	"regexp"
	"strings"
)

// serverNames is server_name's value: nginx's names, "" (the name of a
// request without Host) kept when written in a list.
type serverNames []string

// serverNamesFrom decodes server_name: a string of names separated by
// spaces, or a list of names, where "" is nginx's empty name.
func serverNamesFrom(in any) (serverNames, error) {
	if s, ok := in.(string); ok {
		if strings.TrimSpace(s) == "" {
			return serverNames{""}, nil
		}
		return strings.Fields(s), nil
	}
	list, ok := in.([]any)
	if !ok || len(list) == 0 {
		if ok {
			return nil, fmt.Errorf("invalid number of arguments (none given)")
		}
		return nil, fmt.Errorf("expected names or a list of names, got %s", kindOf(in))
	}
	out := make(serverNames, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("expected a name, got %s in the list", kindOf(e))
		}
		out = append(out, s)
	}
	return out, nil
}

// ServerNameRegex compiles a regex server_name ("~^(?<sub>.+)\.example\.com$",
// without the "~") as nginx runs it: caseless, on the Host lower-cased.
func ServerNameRegex(name string) (*regexp.Regexp, error) {
	return compilePCRE(name, true)
}

// resolveServerNames lower-cases the names nginx compares lower-cased
// (every one but a regex) and checks the regexes.
func resolveServerNames(names []string, key string, p *problems) []string {
	var out []string
	for _, n := range names {
		if re, ok := strings.CutPrefix(n, "~"); ok {
			if _, err := ServerNameRegex(re); err != nil {
				p.add(key, "server_name %q: %v", n, err)
			}
			out = append(out, n)
			continue
		}
		out = append(out, strings.ToLower(n))
	}
	return out
}
