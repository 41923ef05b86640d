package upstreamsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A scenario file starts many upstreams at once (spillway upstream -f):
//
//	upstreams:
//	  - name: flaky
//	    listen: 127.0.0.1:9001
//	    behaviors: "fail_ratio 0.5 reset, idle_rst 5s"
//	  - listen: 127.0.0.1:9002
//	    behaviors:
//	      - reset path=/reset
//	      - slow_header 2s path=/slow
//	  - listen: 127.0.0.1:9003
//	    behaviors: refuse
type scenarioFile struct {
	Upstreams []scenarioUpstream `yaml:"upstreams"`
}

type scenarioUpstream struct {
	Name      string       `yaml:"name"`
	Listen    string       `yaml:"listen"`
	Behaviors behaviorSpec `yaml:"behaviors"`
}

// behaviorSpec is either one string in ParseBehaviors syntax or a list of
// entries.
type behaviorSpec []string

func (s *behaviorSpec) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = behaviorSpec{n.Value}
		return nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		*s = list
		return nil
	}
	return fmt.Errorf("line %d: behaviors must be a string or a list of strings", n.Line)
}

// LoadScenario reads a scenario file.
func LoadScenario(path string) ([]UpstreamConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	cfgs, err := ParseScenario(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfgs, nil
}

// ParseScenario parses the YAML of a scenario file.
func ParseScenario(data []byte) ([]UpstreamConfig, error) {
	var f scenarioFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if len(f.Upstreams) == 0 {
		return nil, errors.New("scenario: no upstreams")
	}
	var cfgs []UpstreamConfig
	for i, u := range f.Upstreams {
		if u.Listen == "" {
			return nil, fmt.Errorf("scenario: upstream %d: listen is required", i+1)
		}
		bs, err := ParseBehaviors(strings.Join(u.Behaviors, ","))
		if err != nil {
			return nil, fmt.Errorf("scenario: upstream %d (%s): %w", i+1, u.Listen, err)
		}
		cfgs = append(cfgs, UpstreamConfig{Name: u.Name, Addr: u.Listen, Behaviors: bs})
	}
	return cfgs, nil
}

// RunUpstreams starts every upstream, prints where each listens and what it
// does, serves until ctx is done, then closes them all and prints their
// request counts. log, when set, gets one line per request.
func RunUpstreams(ctx context.Context, cfgs []UpstreamConfig, out, log io.Writer) error {
	var ups []*Upstream
	defer func() {
		for _, u := range ups {
			_ = u.Close()
		}
	}()
	for _, cfg := range cfgs {
		cfg.Log = log
		u, err := cfg.Start()
		if err != nil {
			return err
		}
		ups = append(ups, u)
		desc := "ok"
		if len(cfg.Behaviors) > 0 {
			var s []string
			for _, b := range cfg.Behaviors {
				s = append(s, b.String())
			}
			desc = strings.Join(s, ", ")
		}
		name := ""
		if cfg.Name != "" {
			name = cfg.Name + " "
		}
		fmt.Fprintf(out, "upstream %slistening on %s: %s\n", name, u.Addr(), desc)
	}
	fmt.Fprintln(out, "request counts: GET /__stats on any of them; Ctrl-C stops")
	<-ctx.Done()
	for _, u := range ups {
		st := u.Stats()
		keys := make([]string, 0, len(st.Hits))
		for k := range st.Hits {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		fmt.Fprintf(out, "%s: %d requests on %d connections\n", u.Addr(), st.Total, st.Connections)
		for _, k := range keys {
			fmt.Fprintf(out, "  %6d %s\n", st.Hits[k], k)
		}
	}
	return nil
}

// ParseSize parses a byte size with nginx's units (1000, 4k, 1m, 1g).
func ParseSize(s string) (int64, error) { return parseSize(s) }
