package config

import (
	"strings"
)

// Response rate limits (nginx's limit_rate and limit_rate_after of
// ngx_http_core_module, and the upstream modules' *_limit_rate): bytes per
// second, after a first span that goes out unthrottled.

// SizeValue is a size that may be written with variables (nginx's
// ngx_http_set_complex_value_size_slot): N when Vars is "", otherwise Vars
// is evaluated per request and read as a size (a value that is not one is
// 0: no limit).
type SizeValue struct {
	N    int64
	Vars string
}

// String is the value as written.
func (v SizeValue) String() string {
	if v.Vars != "" {
		return v.Vars
	}
	return formatSize(v.N)
}

// IsZero reports a literal 0: nothing to evaluate, no limit.
func (v SizeValue) IsZero() bool { return v.Vars == "" && v.N == 0 }

// sizeValueFrom decodes a size, or a value with variables.
func sizeValueFrom(in any) (SizeValue, error) {
	if s, ok := in.(string); ok && strings.Contains(s, "$") {
		return SizeValue{Vars: s}, nil
	}
	n, err := sizeFrom(in)
	return SizeValue{N: n}, err
}

// LimitRate is limit_rate and limit_rate_after in effect at a level: the
// response to a request is sent at Rate bytes per second (0, the default:
// no limit) once After bytes went out. The rate is the request's (an
// HTTP/2 stream's), counted from the request's start.
type LimitRate struct {
	Rate  SizeValue
	After SizeValue
}

// limitRateDirectives are limit_rate and limit_rate_after (http, server,
// location).
type limitRateDirectives struct {
	LimitRate      *opt[SizeValue] `mapstructure:"limit_rate"`
	LimitRateAfter *opt[SizeValue] `mapstructure:"limit_rate_after"`
}

func (d *limitRateDirectives) inherit(p *limitRateDirectives) {
	merge(&d.LimitRate, p.LimitRate)
	merge(&d.LimitRateAfter, p.LimitRateAfter)
}

func (d *limitRateDirectives) resolve() LimitRate {
	return LimitRate{Rate: d.LimitRate.or(SizeValue{}), After: d.LimitRateAfter.or(SizeValue{})}
}

func (d *limitRateDirectives) check(p *problems) {
	for _, o := range []*opt[SizeValue]{d.LimitRate, d.LimitRateAfter} {
		if o.set() && o.v.Vars != "" {
			p.checkVariables(o.at(), directiveOf(o.at()), o.v.Vars)
		}
	}
}
