package nginxconf

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"spillway/proxy/config"
)

// error_page and recursive_error_pages convert to proxy.yaml's keys of the
// same names (proxy/config/errorpage.go; *_intercept_errors are the shared
// upstream-module directives of directives.go): error_page becomes a list of
// nginx's argument lines, one per directive, so that a level that writes any
// replaces the inherited list as in nginx.

func init() {
	for _, ctx := range strings.Fields(inLocations) {
		if handlers[ctx] == nil {
			handlers[ctx] = map[string]handler{}
		}
		handlers[ctx]["error_page"] = errorPage
		handlers[ctx]["recursive_error_pages"] = single(flagValue)
	}
}

// errorPage appends one error_page to its level's list, with nginx's
// checks of the codes and of "=".
func errorPage(c *conv, lv *level, d *Directive) error {
	if len(d.Args) < 2 {
		return invalidArgs(d)
	}
	line := strings.Join(d.Args, " ")
	if _, err := config.ParseErrorPage(line); err != nil {
		return errAt(d, "%v", err)
	}
	if v := c.unknownVariable(d.Args[len(d.Args)-1]); v != "" {
		c.warn(d, Unsupported, "unsupported error_page \"%s\" in %s: spillway has no \"$%s\" variable, so the page is not used", line, lv.ctx, v)
		return nil
	}
	list := lv.m.get("error_page")
	if list == nil {
		list = lv.m.set("error_page", &yaml.Node{Kind: yaml.SequenceNode})
	}
	list.Content = append(list.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: line})
	return nil
}
