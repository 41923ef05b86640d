//go:build linux

//lint:file-ignore SA1019 the refusing upstream speaks HTTP/2 with x/net/http2's Framer on purpose: it must send RST_STREAM frames no server API sends

package proxy_test

// gRPC (grpc_pass, issue 21): a real gRPC server behind spillway, a real
// gRPC client in front (h2c with prior knowledge on a plain "listen ...
// http2"). Unary and bidi streaming calls, trailers and trailers-only
// statuses passed through, an upstream reset answered 502 with nginx's
// line, and retries: to the next server after a refused connect or a
// REFUSED_STREAM (nothing was processed), none after another RST_STREAM
// (the POST was sent).

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"spillway/proxy"
	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/testutil"
)

// echoDesc is a gRPC service without generated code: Unary answers
// "echo:<in> from <name>" with a trailer, or NotFound for "missing";
// Bidi answers each message as it comes and, with ended, says how the
// stream ended.
func echoDesc(name string, ended ...chan<- error) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "test.Echo",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Unary", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			if in.Value == "missing" {
				return nil, status.Error(codes.NotFound, "no such thing: missing")
			}
			md, _ := metadata.FromIncomingContext(ctx)
			_ = grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "t-"+in.Value, "x-authority", strings.Join(md[":authority"], ",")))
			return wrapperspb.String("echo:" + in.Value + " from " + name), nil
		}}},
		Streams: []grpc.StreamDesc{{StreamName: "Bidi", ServerStreams: true, ClientStreams: true, Handler: func(_ any, st grpc.ServerStream) error {
			for {
				in := new(wrapperspb.StringValue)
				err := st.RecvMsg(in)
				if err != nil {
					for _, c := range ended {
						c <- err
					}
				}
				if err == io.EOF {
					return nil
				} else if err != nil {
					return err
				}
				if err := st.SendMsg(wrapperspb.String("pong:" + in.Value)); err != nil {
					return err
				}
			}
		}}},
	}
}

// startGrpc serves echoDesc(name) on 127.0.0.1, over TLS with opts'
// credentials; the test stops it.
func startGrpc(t *testing.T, name string, opts ...grpc.ServerOption) string {
	t.Helper()
	return startGrpcDesc(t, echoDesc(name), opts...)
}

func startGrpcDesc(t *testing.T, desc *grpc.ServiceDesc, opts ...grpc.ServerOption) string {
	t.Helper()
	return startGrpcOn(t, nil, desc, opts...)
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// startGrpcOn serves desc, counting connections in cl when it is given.
func startGrpcOn(t *testing.T, cl *countingListener, desc *grpc.ServiceDesc, opts ...grpc.ServerOption) string {
	t.Helper()
	var ln net.Listener
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cl != nil {
		cl.Listener = ln
		ln = cl
	}
	s := grpc.NewServer(opts...)
	s.RegisterService(desc, nil)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

// grpcRig is spillway on a plain h2c address with the locations given;
// with two upstreams they are also the group "two".
func grpcRig(t *testing.T, locations string, upstreams ...string) *rig {
	t.Helper()
	group := ""
	if len(upstreams) == 2 {
		group = "  upstreams:\n    two:\n      servers: [{address: \"{U0}\"}, {address: \"{U1}\"}]\n"
	}
	return newRig(t, "info", `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
`+group+`  servers:
    - listen: ["127.0.0.1:0 http2"]
      access_log: {path: {TMP}/access.log, format: '"$request" $status $upstream_addr'}
      locations:
`+locations, upstreams...)
}

func grpcClient(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// callCtx bounds a call so that a hang fails the test instead of the run.
func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func unary(ctx context.Context, cc *grpc.ClientConn, in string, opts ...grpc.CallOption) (string, error) {
	out := new(wrapperspb.StringValue)
	err := cc.Invoke(ctx, "/test.Echo/Unary", wrapperspb.String(in), out, opts...)
	return out.Value, err
}

// A unary call and its trailers; a NotFound status (gRPC's trailers-only
// answer) arrives as the client's status; :authority is grpc_pass's host.
func TestGrpcUnaryAndTrailers(t *testing.T) {
	up := startGrpc(t, "A")
	r := grpcRig(t, `        - {path: /, grpc_pass: "grpc://{U0}"}
`, up)
	cc := grpcClient(t, r.addr)
	ctx := callCtx(t)
	var tr metadata.MD
	out, err := unary(ctx, cc, "hi", grpc.Trailer(&tr))
	if err != nil || out != "echo:hi from A" {
		t.Fatalf("unary: %q, %v", out, err)
	}
	if got := tr.Get("x-trailer"); len(got) != 1 || got[0] != "t-hi" {
		t.Errorf("trailer x-trailer = %q, want [t-hi] (all: %v)", got, tr)
	}
	if got := tr.Get("x-authority"); len(got) != 1 || got[0] != up {
		t.Errorf(":authority upstream = %q, want %q ($proxy_host, nginx's default)", got, up)
	}

	_, err = unary(ctx, cc, "missing")
	if st, _ := status.FromError(err); st.Code() != codes.NotFound || st.Message() != "no such thing: missing" {
		t.Errorf("status = %v, want NotFound with the server's message", err)
	}
	// The connection is not kept: a second call works all the same.
	if out, err := unary(ctx, cc, "again"); err != nil || out != "echo:again from A" {
		t.Errorf("second unary: %q, %v", out, err)
	}
}

// grpcs://: TLS with ALPN h2 to a gRPC server whose certificate
// grpc_ssl_verify checks against grpc_ssl_trusted_certificate.
func TestGrpcTLSUpstream(t *testing.T) {
	ca := newTestCA(t, "Test CA")
	l := ca.leaf(t, "localhost")
	up := startGrpc(t, "TLS", grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{l.pair}})))
	caFile := writeFile(t, filepath.Join(t.TempDir(), "ca.pem"), ca.pem)
	r := grpcRig(t, `        - {path: /, grpc_pass: "grpcs://{U0}", grpc_ssl_verify: on, grpc_ssl_name: localhost, grpc_ssl_server_name: on, grpc_ssl_trusted_certificate: `+caFile+`}
`, up)
	var tr metadata.MD
	out, err := unary(callCtx(t), grpcClient(t, r.addr), "sec", grpc.Trailer(&tr))
	if err != nil || out != "echo:sec from TLS" || len(tr.Get("x-trailer")) != 1 {
		t.Fatalf("unary over grpcs: %q, %v, trailers %v\n%s", out, err, tr, r.elog.String())
	}
}

// A bidi stream in lock step: each answer must arrive before the next
// message is sent, which only works if neither direction is buffered whole.
func TestGrpcBidiStreaming(t *testing.T) {
	up := startGrpc(t, "A")
	r := grpcRig(t, `        - {path: /, grpc_pass: "{U0}"}
`, up)
	cc := grpcClient(t, r.addr)
	ctx := callCtx(t)
	st, err := cc.NewStream(ctx, &echoDesc("").Streams[0], "/test.Echo/Bidi")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"one", "two", "three"} {
		if err := st.SendMsg(wrapperspb.String(m)); err != nil {
			t.Fatalf("send %s: %v", m, err)
		}
		in := new(wrapperspb.StringValue)
		if err := st.RecvMsg(in); err != nil || in.Value != "pong:"+m {
			t.Fatalf("recv after %s: %q, %v", m, in.Value, err)
		}
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := st.RecvMsg(new(wrapperspb.StringValue)); err != io.EOF {
		t.Fatalf("end of stream: %v, want io.EOF (status OK from the trailers)", err)
	}
}

// An upstream that resets the connection: 502 (the gRPC client's
// Unavailable) and nginx's line naming grpc://host:port, without the
// :path (nginx's grpc module sets no upstream URI).
func TestGrpcUpstreamReset(t *testing.T) {
	up := resettingUpstream(t)
	r := grpcRig(t, `        - {path: /, grpc_pass: "grpc://{U0}"}
`, up)
	cc := grpcClient(t, r.addr)
	_, err := unary(callCtx(t), cc, "hi")
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "502") {
		t.Fatalf("status = %v, want Unavailable from HTTP 502", err)
	}
	testutil.Eventually(t, "the error line", 5*time.Second, func() bool {
		l := r.elog.String()
		return strings.Contains(l, "(104: Connection reset by peer) while ") && strings.Contains(l, `upstream: "grpc://`+up+`", `)
	})
}

// refusingH2 is an HTTP/2 server that answers every stream with
// RST_STREAM of the code given, before any response.
func refusingH2(t *testing.T, code http2.ErrCode) string {
	return rawH2(t, func(fr *http2.Framer, f *http2.MetaHeadersFrame) { _ = fr.WriteRSTStream(f.StreamID, code) })
}

// rawH2 is an HTTP/2 server that runs onHeaders for each request's
// HEADERS and otherwise only keeps the connection's settings.
func rawH2(t *testing.T, onHeaders func(fr *http2.Framer, f *http2.MetaHeadersFrame)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				preface := make([]byte, len(http2.ClientPreface))
				if _, err := io.ReadFull(c, preface); err != nil || !bytes.Equal(preface, []byte(http2.ClientPreface)) {
					return
				}
				fr := http2.NewFramer(c, c)
				fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
				if err := fr.WriteSettings(); err != nil {
					return
				}
				for {
					f, err := fr.ReadFrame()
					if err != nil {
						return
					}
					switch f := f.(type) {
					case *http2.SettingsFrame:
						if !f.IsAck() {
							_ = fr.WriteSettingsAck()
						}
					case *http2.MetaHeadersFrame:
						onHeaders(fr, f)
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// REFUSED_STREAM says the server processed nothing: the POST goes to the
// next server (nginx's grpc_next_upstream error). Another code before the
// response is nginx's "upstream rejected request with error N", which a
// POST, sent already, is not retried on: 502.
func TestGrpcRetryRefusedStream(t *testing.T) {
	good := startGrpc(t, "B")
	r := grpcRig(t, `        - {path: /, grpc_pass: two, grpc_next_upstream: error invalid_header}
`, refusingH2(t, http2.ErrCodeRefusedStream), good)
	cc := grpcClient(t, r.addr)
	ctx := callCtx(t)
	for i := range 2 { // round robin: one of the two calls meets the refusing server first
		if out, err := unary(ctx, cc, "x"); err != nil || out != "echo:x from B" {
			t.Fatalf("call %d: %q, %v\n%s", i, out, err, r.elog.String())
		}
	}
	if l := r.elog.String(); !strings.Contains(l, "upstream rejected request with error 7 while reading response header from upstream") {
		t.Errorf("no rejected line in the error log:\n%s", l)
	}

	r2 := grpcRig(t, `        - {path: /, grpc_pass: "grpc://{U0}"}
`, refusingH2(t, http2.ErrCodeInternal))
	_, err := unary(ctx, grpcClient(t, r2.addr), "x")
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "502") {
		t.Fatalf("status = %v, want Unavailable from HTTP 502", err)
	}
	if l := r2.elog.String(); !strings.Contains(l, "upstream rejected request with error 2 while reading response header from upstream") {
		t.Errorf("no rejected line in the error log:\n%s", l)
	}
}

// A refused connect sends nothing: the call goes to the next server.
func TestGrpcRetryRefusedConnect(t *testing.T) {
	good := startGrpc(t, "B")
	refused, release, err := testutil.RefusedPort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	r := grpcRig(t, `        - {path: /, grpc_pass: two}
`, refused, good)
	cc := grpcClient(t, r.addr)
	ctx := callCtx(t)
	for i := range 2 {
		if out, err := unary(ctx, cc, "y"); err != nil || out != "echo:y from B" {
			t.Fatalf("call %d: %q, %v", i, out, err)
		}
	}
}

// An upstream that takes the stream and never answers: grpc_read_timeout
// is nginx's 504 with its line.
func TestGrpcReadTimeout(t *testing.T) {
	silent := rawH2(t, func(*http2.Framer, *http2.MetaHeadersFrame) {})
	r := grpcRig(t, `        - {path: /, grpc_pass: "grpc://{U0}", grpc_read_timeout: 300ms}
`, silent)
	_, err := unary(callCtx(t), grpcClient(t, r.addr), "x")
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "504") {
		t.Fatalf("status = %v, want Unavailable from HTTP 504", err)
	}
	if l := r.elog.String(); !strings.Contains(l, "upstream timed out (110: Connection timed out) while reading response header from upstream") {
		t.Errorf("no timeout line in the error log:\n%s", l)
	}
}

// An HTTP/1.1 client reaches a gRPC location too (nginx's grpc module
// takes any client): the upstream still gets HTTP/2.
func TestGrpcHTTP1Client(t *testing.T) {
	up := rawH2(t, func(fr *http2.Framer, f *http2.MetaHeadersFrame) {
		id := f.StreamID
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		_ = enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "text/plain"})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: b.Bytes(), EndHeaders: true})
		_ = fr.WriteData(id, true, []byte("over h2"))
	})
	r := grpcRig(t, `        - {path: /, grpc_pass: "{U0}"}
`, up)
	code, body := r.do("GET", "/plain", nil)
	if code != 200 || string(body) != "over h2" {
		t.Fatalf("GET over HTTP/1.1: %d %q\n%s", code, body, r.elog.String())
	}
}

// A client that cancels a bidi stream half-way: the upstream's stream ends
// too (not left waiting for a message that will never come).
func TestGrpcClientCancel(t *testing.T) {
	ended := make(chan error, 1)
	up := startGrpcDesc(t, echoDesc("A", ended))
	r := grpcRig(t, `        - {path: /, grpc_pass: "{U0}"}
`, up)
	ctx, cancel := context.WithCancel(callCtx(t))
	st, err := grpcClient(t, r.addr).NewStream(ctx, &echoDesc("").Streams[0], "/test.Echo/Bidi")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(wrapperspb.String("one")); err != nil {
		t.Fatal(err)
	}
	if err := st.RecvMsg(new(wrapperspb.StringValue)); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-ended:
		if err == io.EOF {
			t.Errorf("the upstream saw a clean end of stream, want a cancelled one")
		}
	case <-callCtx(t).Done():
		t.Fatal("the upstream's stream never ended")
	}
}

// An upstream that resets its stream after the head and one message: the
// client's stream is reset too, never a clean end without a status.
func TestGrpcUpstreamResetMidStream(t *testing.T) {
	up := rawH2(t, func(fr *http2.Framer, f *http2.MetaHeadersFrame) {
		id := f.StreamID
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		_ = enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "application/grpc"})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: b.Bytes(), EndHeaders: true})
		_ = fr.WriteData(id, false, []byte{0, 0, 0, 0, 2, 0x0a, 0}) // one message: StringValue ""
		_ = fr.WriteRSTStream(id, http2.ErrCodeInternal)
	})
	r := grpcRig(t, `        - {path: /, grpc_pass: "{U0}"}
`, up)
	_, err := unary(callCtx(t), grpcClient(t, r.addr), "x")
	if st, _ := status.FromError(err); st.Code() == codes.OK {
		t.Fatalf("unary = %v, want an error: the upstream reset its stream", err)
	}
	testutil.Eventually(t, "the error line", 5*time.Second, func() bool {
		return strings.Contains(r.elog.String(), "upstream rejected request with error 2 while reading upstream")
	})
}

// BenchmarkGrpcUnary is one unary call through spillway (h2c both ways),
// dialling the upstream for each call (a literal address) or keeping the
// connection (an upstream with keepalive), and the same call straight to
// the server.
func BenchmarkGrpcUnary(b *testing.B) {
	for _, via := range []string{"spillway", "spillway-keepalive", "direct"} {
		b.Run(via, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			s := grpc.NewServer()
			s.RegisterService(echoDesc("A"), nil)
			go func() { _ = s.Serve(ln) }()
			defer s.Stop()
			addr := ln.Addr().String()
			if via != "direct" {
				dir := b.TempDir()
				pass := "grpc://" + addr
				if via == "spillway-keepalive" {
					pass = "ka"
				}
				cfg, err := config.LoadBytes(filepath.Join(dir, "proxy.yaml"), []byte(`
error_log: {path: stderr, level: error}
http:
  proxy_temp_path: `+dir+`
  client_body_temp_path: `+dir+`
  upstreams:
    ka: {keepalive: 8, servers: [{address: "`+addr+`"}]}
  servers:
    - listen: ["127.0.0.1:0 http2"]
      access_log: off
      locations:
        - {path: /, grpc_pass: "`+pass+`"}
`))
				if err != nil {
					b.Fatal(err)
				}
				p, err := proxy.New(cfg, proxy.Options{ErrorLog: errorlog.New(io.Discard, errorlog.Error, errorlog.Options{})})
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Start(); err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				addr = p.Addrs()[0]
			}
			cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer cc.Close()
			ctx := context.Background()
			for b.Loop() {
				if _, err := unary(ctx, cc, "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// An upstream group with keepalive keeps the HTTP/2 connection between
// calls (nginx's grpc.t KeepAlive): three calls, one of them a stream, one
// connection; a literal grpc_pass address keeps none, as in nginx.
func TestGrpcKeepalive(t *testing.T) {
	var cl countingListener
	up := startGrpcOn(t, &cl, echoDesc("A"))
	r := newRig(t, "info", `
error_log: {path: stderr, level: info}
http:
  proxy_temp_path: {TMP}
  client_body_temp_path: {TMP}
  upstreams:
    ka: {keepalive: 2, servers: [{address: "{U0}"}]}
  servers:
    - listen: ["127.0.0.1:0 http2"]
      access_log: {path: {TMP}/access.log}
      locations:
        - {path: /, grpc_pass: ka}
`, up)
	cc := grpcClient(t, r.addr)
	ctx := callCtx(t)
	for _, m := range []string{"a", "b"} {
		if out, err := unary(ctx, cc, m); err != nil || out != "echo:"+m+" from A" {
			t.Fatalf("unary %s: %q, %v", m, out, err)
		}
	}
	st, err := cc.NewStream(ctx, &echoDesc("").Streams[0], "/test.Echo/Bidi")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(wrapperspb.String("s")); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if in := new(wrapperspb.StringValue); st.RecvMsg(in) != nil || in.Value != "pong:s" {
		t.Fatalf("stream: %q", in.Value)
	}
	if err := st.RecvMsg(new(wrapperspb.StringValue)); err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
	if n := cl.n.Load(); n != 1 {
		t.Errorf("upstream connections = %d, want 1 (kept between calls)", n)
	}
}

// The request as the upstream sees it: te: trailers (the gRPC client sent
// it), :authority the grpc_pass host, the client's header fields, nothing
// of HTTP/1's framing.
func TestGrpcRequestHeaders(t *testing.T) {
	got := make(chan map[string]string, 1)
	up := rawH2(t, func(fr *http2.Framer, f *http2.MetaHeadersFrame) {
		m := map[string]string{}
		for _, hf := range f.Fields {
			m[hf.Name] = hf.Value
		}
		got <- m
		_ = fr.WriteRSTStream(f.StreamID, http2.ErrCodeInternal)
	})
	r := grpcRig(t, `        - {path: /, grpc_pass: "grpc://{U0}", grpc_set_header: ["X-Set set-by-spillway"]}
`, up)
	ctx := metadata.AppendToOutgoingContext(callCtx(t), "x-client", "c1")
	_, _ = unary(ctx, grpcClient(t, r.addr), "x")
	m := <-got
	for k, want := range map[string]string{":method": "POST", ":scheme": "http", ":path": "/test.Echo/Unary",
		":authority": up, "te": "trailers", "content-type": "application/grpc", "x-client": "c1", "x-set": "set-by-spillway"} {
		if m[k] != want {
			t.Errorf("%s = %q, want %q (all: %v)", k, m[k], want, m)
		}
	}
	for _, k := range []string{"connection", "host", "transfer-encoding"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s sent upstream (all: %v)", k, m)
		}
	}
}

// grpc_intercept_errors: an upstream's 503 gives way to the location's
// error page, as proxy_intercept_errors.
func TestGrpcInterceptErrors(t *testing.T) {
	up := rawH2(t, func(fr *http2.Framer, f *http2.MetaHeadersFrame) {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "503"})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: b.Bytes(), EndHeaders: true})
		_ = fr.WriteData(f.StreamID, true, []byte("upstream's own page"))
	})
	r := grpcRig(t, `        - {path: /, grpc_pass: "{U0}", grpc_intercept_errors: on, error_page: ["503 /oops"]}
        - {path: /oops, return: 200 spillway-page}
`, up)
	code, body := r.do("GET", "/x", nil)
	if code != 503 || string(body) != "spillway-page" { // error_page without "=" keeps the status
		t.Fatalf("intercepted 503: %d %q", code, body)
	}
	r2 := grpcRig(t, `        - {path: /, grpc_pass: "{U0}", error_page: ["503 /oops"]}
        - {path: /oops, return: 200 spillway-page}
`, up)
	if code, body := r2.do("GET", "/x", nil); code != 503 || string(body) != "upstream's own page" {
		t.Fatalf("not intercepted: %d %q", code, body)
	}
}

// A call the upstream received is never sent again, non_idempotent or not:
// nginx's grpc module streams the body (request_body_no_buffering), and
// ngx_http_upstream_next ends a request whose body went out unbuffered
// (measured: difftest's TestGrpcDifferential, reset-non-idempotent).
// Round robin sends one of the two calls to the resetting server first:
// that one is 502, and the good server sees the other call only.
func TestGrpcNoRetryOnceSent(t *testing.T) {
	var cl countingListener
	good := startGrpcOn(t, &cl, echoDesc("B"))
	r := grpcRig(t, `        - {path: /, grpc_pass: two, grpc_next_upstream: error timeout invalid_header non_idempotent}
`, refusingH2(t, http2.ErrCodeInternal), good)
	cc := grpcClient(t, r.addr)
	ctx := callCtx(t)
	var ok, failed int
	for range 2 {
		out, err := unary(ctx, cc, "x")
		if st, _ := status.FromError(err); err != nil && st.Code() == codes.Unavailable && strings.Contains(st.Message(), "502") {
			failed++
		} else if err == nil && out == "echo:x from B" {
			ok++
		} else {
			t.Fatalf("unary: %q, %v", out, err)
		}
	}
	if ok != 1 || failed != 1 || cl.n.Load() != 1 {
		t.Fatalf("%d answered, %d failed with 502, %d connections to the good server; want 1, 1, 1 (no retry)\n%s", ok, failed, cl.n.Load(), r.elog.String())
	}
}

// An HTTP/1.1 client gets the upstream's trailers after the last chunk,
// lower-case as on the HTTP/2 wire and without a Trailer header, as
// nginx's chunked filter sends them (measured: difftest's
// TestGrpcDifferential, http1-client-trailers).
func TestGrpcHTTP1ClientTrailers(t *testing.T) {
	up := startGrpc(t, "A")
	r := grpcRig(t, `        - {path: /, grpc_pass: "grpc://{U0}"}
`, up)
	head, rest, _ := bytes.Cut(grpcHTTP1Call(t, r.addr, "hi"), []byte("\r\n\r\n"))
	if !bytes.Contains(head, []byte("\r\nTransfer-Encoding: chunked")) || bytes.Contains(bytes.ToLower(head), []byte("\r\ntrailer:")) {
		t.Errorf("head: want chunked and no Trailer header:\n%s", head)
	}
	want := "0\r\ngrpc-status: 0\r\ngrpc-message: \r\nx-authority: " + up + "\r\nx-trailer: t-hi\r\n\r\n"
	if !bytes.HasSuffix(rest, []byte(want)) {
		t.Errorf("body and trailers = %q, want them to end with %q", rest, want)
	}
}

// A response head with a NUL in a field's value: 502 and nginx's two
// lines, the field named (its NUL raw, as nginx's %V writes it), then
// "upstream sent invalid header"; not an upstream RST_STREAM's line
// (http2 refuses the field itself and resets the stream).
func TestGrpcInvalidHeader(t *testing.T) {
	up := rawH2(t, func(fr *http2.Framer, f *http2.MetaHeadersFrame) {
		var b bytes.Buffer
		enc := hpack.NewEncoder(&b)
		_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		_ = enc.WriteField(hpack.HeaderField{Name: "x-bad", Value: "a\x00b"})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: b.Bytes(), EndHeaders: true})
	})
	r := grpcRig(t, `        - {path: /, grpc_pass: "grpc://{U0}"}
`, up)
	_, err := unary(callCtx(t), grpcClient(t, r.addr), "x")
	if st, _ := status.FromError(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "502") {
		t.Fatalf("status = %v, want Unavailable from HTTP 502", err)
	}
	l := r.elog.String()
	named := strings.Index(l, ": *1 upstream sent invalid header: \"x-bad: a\x00b\" while reading response header from upstream, client: 127.0.0.1, ")
	plain := strings.Index(l, ": *1 upstream sent invalid header while reading response header from upstream, client: 127.0.0.1, ")
	if named < 0 || plain < named || strings.Count(l, "[error] ") != 2 {
		t.Errorf("error log: want nginx's two [error] lines, the field named first:\n%q", l)
	}
}

// grpcHTTP1Call makes a unary call to /test.Echo/Unary as one HTTP/1.1
// request, head and body in one write, and returns the response as read
// until the proxy closes (Connection: close).
func grpcHTTP1Call(t *testing.T, addr, in string) []byte {
	t.Helper()
	msg := append([]byte{0x0a, byte(len(in))}, in...) // StringValue{in}
	body := append([]byte{0, 0, 0, 0, byte(len(msg))}, msg...)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(append([]byte("POST /test.Echo/Unary HTTP/1.1\r\nHost: localhost\r\nTE: trailers\r\n"+
		"Content-Type: application/grpc\r\nConnection: close\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"), body...)); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// An HTTP/1.1 call whose small body came with its head is one nginx has
// read whole ("pre-read"): it is retried as any POST, here with
// non_idempotent (measured: difftest's http1-reset-non-idempotent), where
// an HTTP/2 call, its body streamed, is not (TestGrpcNoRetryOnceSent).
func TestGrpcHTTP1PrereadRetried(t *testing.T) {
	var cl countingListener
	good := startGrpcOn(t, &cl, echoDesc("B"))
	r := grpcRig(t, `        - {path: /, grpc_pass: two, grpc_next_upstream: error timeout invalid_header non_idempotent}
`, refusingH2(t, http2.ErrCodeInternal), good)
	for i := range 2 { // round robin: one of the two calls meets the refusing server first
		resp := grpcHTTP1Call(t, r.addr, "p")
		if !bytes.HasPrefix(resp, []byte("HTTP/1.1 200 ")) || !bytes.Contains(resp, []byte("echo:p from B")) || !bytes.Contains(resp, []byte("\r\ngrpc-status: 0\r\n")) {
			t.Fatalf("call %d: %q\n%s", i, resp, r.elog.String())
		}
	}
	if !strings.Contains(r.elog.String(), "upstream rejected request with error 2 while reading response header from upstream") {
		t.Errorf("no rejected line in the error log:\n%s", r.elog.String())
	}
}

// client_max_body_size on a streamed body (a gRPC client declares no
// length), checked as it comes, as nginx: past it before the response
// head, 413; after the head (a bidi stream in lock step), the client's
// stream is reset. Both with nginx's line "while sending request to
// upstream" (measured: difftest's client-stream-over-max-body and
// bidi-upload-over-max-body).
func TestGrpcStreamedBodyTooLarge(t *testing.T) {
	up := startGrpc(t, "A")
	r := grpcRig(t, `        - {path: /, grpc_pass: "grpc://{U0}", client_max_body_size: 1k}
`, up)
	cc := grpcClient(t, r.addr)
	ctx := callCtx(t)
	_, err := unary(ctx, cc, strings.Repeat("u", 2000))
	if st, _ := status.FromError(err); !strings.Contains(st.Message(), "413") {
		t.Fatalf("unary past the limit: %v, want HTTP 413", err)
	}
	st, err := cc.NewStream(ctx, &echoDesc("").Streams[0], "/test.Echo/Bidi")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(wrapperspb.String(strings.Repeat("a", 600))); err != nil {
		t.Fatal(err)
	}
	if err := st.RecvMsg(new(wrapperspb.StringValue)); err != nil {
		t.Fatalf("first message, within the limit: %v", err)
	}
	_ = st.SendMsg(wrapperspb.String(strings.Repeat("b", 600)))
	err = st.RecvMsg(new(wrapperspb.StringValue))
	if s, _ := status.FromError(err); s.Code() != codes.Internal {
		t.Fatalf("second message, past the limit: %v, want the stream reset (Internal)", err)
	}
	testutil.Eventually(t, "two lines", 5*time.Second, func() bool {
		return strings.Count(r.elog.String(), "client intended to send too large chunked body: ") == 2 &&
			strings.Count(r.elog.String(), " bytes while sending request to upstream, ") == 2
	})
}
