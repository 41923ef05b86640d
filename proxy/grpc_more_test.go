//go:build linux

package proxy_test

// gRPC directives beyond the basic grpc_pass (issue 21): grpc_pass with
// variables, evaluated per request as proxy_pass's.

import (
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// grpc_pass with variables, as nginx's ngx_http_grpc_eval: each request's
// value names the scheme (grpc://, grpcs:// or none) and the address, so
// one location reaches a plain and a TLS upstream; :authority is the
// evaluated host; a name with no resolver is nginx's 502 and line.
func TestGrpcPassVariables(t *testing.T) {
	plain := startGrpc(t, "A")
	ca := newTestCA(t, "Test CA")
	l := ca.leaf(t, "localhost")
	sec := startGrpc(t, "TLS", grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{l.pair}})))
	caFile := writeFile(t, filepath.Join(t.TempDir(), "ca.pem"), ca.pem)
	r := grpcRig(t, `        - {path: /, grpc_pass: "$http_x_backend", grpc_ssl_verify: on, grpc_ssl_name: localhost, grpc_ssl_trusted_certificate: `+caFile+`}
`)
	cc := grpcClient(t, r.addr)
	for _, c := range []struct{ backend, want, authority string }{
		{"grpc://" + plain, "echo:v from A", plain},
		{plain, "echo:v from A", plain},
		{"grpcs://" + sec, "echo:v from TLS", sec},
	} {
		ctx := metadata.AppendToOutgoingContext(callCtx(t), "x-backend", c.backend)
		var tr metadata.MD
		out, err := unary(ctx, cc, "v", grpc.Trailer(&tr))
		if err != nil || out != c.want {
			t.Errorf("x-backend %s: %q, %v, want %q\n%s", c.backend, out, err, c.want, r.elog.String())
			continue
		}
		if got := tr.Get("x-authority"); len(got) != 1 || got[0] != c.authority {
			t.Errorf("x-backend %s: :authority %q, want %q (the evaluated $proxy_host)", c.backend, got, c.authority)
		}
	}

	ctx := metadata.AppendToOutgoingContext(callCtx(t), "x-backend", "grpc://backend.invalid:50051")
	_, err := unary(ctx, cc, "v")
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable {
		t.Errorf("unresolvable name: %v, want Unavailable (502)", err)
	}
	if !strings.Contains(r.elog.String(), "[error]") || !strings.Contains(r.elog.String(), "no resolver defined to resolve backend.invalid") {
		t.Errorf("error log lacks nginx's line:\n%s", r.elog.String())
	}
}
