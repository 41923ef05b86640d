//go:build linux

package proxy_test

// gRPC directives beyond the basic grpc_pass (issue 21): grpc_pass with
// variables, evaluated per request as proxy_pass's; the client side of
// TLS to a grpcs:// upstream (grpc_ssl_certificate, _certificate_key,
// _password_file, _protocols, _ciphers: proxy_ssl_*'s implementation).

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"spillway/proxy/config"
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

// A grpcs:// upstream that requires a client certificate signed by its CA
// (nginx-tests grpc_ssl.t's backend, ssl_verify_client): spillway sends
// grpc_ssl_certificate, with a key in clear or encrypted and opened with
// grpc_ssl_password_file (its lines tried in turn); without one the call
// fails (502). grpc_ssl_protocols and grpc_ssl_ciphers are what the
// handshake offers.
func TestGrpcSSLClientCertificate(t *testing.T) {
	ca := newTestCA(t, "Test CA")
	dir := t.TempDir()
	certFile, keyFile, encKeyFile := grpcClientCert(t, ca, dir, "s3cret")
	pwFile := writeFile(t, filepath.Join(dir, "password"), []byte("wrong\ns3cret\n"))
	var mu sync.Mutex
	var seen []tls.ConnectionState // the handshakes the upstream completed
	srvTLS := &tls.Config{
		Certificates: []tls.Certificate{ca.leaf(t, "localhost").pair},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: ca.pool(),
		VerifyConnection: func(cs tls.ConnectionState) error {
			mu.Lock()
			seen = append(seen, cs)
			mu.Unlock()
			return nil
		},
	}
	up := startGrpc(t, "mTLS", grpc.Creds(credentials.NewTLS(srvTLS)))
	call := func(keys string) (string, string, error) {
		r := grpcRig(t, `        - {path: /, grpc_pass: "grpcs://{U0}"`+keys+`}
`, up)
		out, err := unary(callCtx(t), grpcClient(t, r.addr), "c")
		return out, r.elog.String(), err
	}
	pair := ", grpc_ssl_certificate: " + certFile + ", grpc_ssl_certificate_key: "
	for name, keys := range map[string]string{"key in clear": pair + keyFile, "encrypted key": pair + encKeyFile + ", grpc_ssl_password_file: " + pwFile} {
		if out, elog, err := call(keys); err != nil || out != "echo:c from mTLS" {
			t.Errorf("%s: %q, %v\n%s", name, out, err, elog)
		}
	}
	if _, _, err := call(""); status.Code(err) != codes.Unavailable {
		t.Errorf("no client certificate: %v, want Unavailable (502)", err)
	}
	mu.Lock()
	n := len(seen)
	mu.Unlock()
	if out, elog, err := call(pair + keyFile + ", grpc_ssl_protocols: TLSv1.2, grpc_ssl_ciphers: ECDHE-ECDSA-AES128-GCM-SHA256"); err != nil || out != "echo:c from mTLS" {
		t.Fatalf("TLS 1.2: %q, %v\n%s", out, err, elog)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n+1 {
		t.Fatalf("%d handshakes for one call on a new connection", len(seen)-n)
	}
	if cs := seen[n]; cs.Version != tls.VersionTLS12 || cs.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 || len(cs.PeerCertificates) != 1 {
		t.Errorf("handshake: version %x, suite %s, %d client certificates; want TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256, 1",
			cs.Version, tls.CipherSuiteName(cs.CipherSuite), len(cs.PeerCertificates))
	}
}

// The client certificate is loaded with the configuration, as nginx -t
// does: a certificate without its key, an encrypted key without a password
// file or with no password that opens it, are errors with the key's name.
func TestGrpcSSLCertificateErrors(t *testing.T) {
	ca := newTestCA(t, "Test CA")
	dir := t.TempDir()
	certFile, _, encKeyFile := grpcClientCert(t, ca, dir, "s3cret")
	wrong := writeFile(t, filepath.Join(dir, "wrong"), []byte("nope\n"))
	for _, c := range []struct{ keys, want string }{
		{"grpc_ssl_certificate: " + certFile, `no "grpc_ssl_certificate_key" is defined for certificate`},
		{"grpc_ssl_certificate: " + certFile + ", grpc_ssl_certificate_key: " + encKeyFile, `the key is encrypted and no proxy_ssl_password_file is set`},
		{"grpc_ssl_certificate: " + certFile + ", grpc_ssl_certificate_key: " + encKeyFile + ", grpc_ssl_password_file: " + wrong, `bad decrypt`},
		{"grpc_ssl_certificate: " + dir + "/missing.pem, grpc_ssl_certificate_key: " + encKeyFile, `cannot load certificate "` + dir + `/missing.pem": (2: No such file or directory)`},
		{"grpc_ssl_protocols: SSLv3", `SSLv3 is not supported in "grpc_ssl_protocols"`},
	} {
		_, err := config.LoadBytes("proxy.yaml", []byte("http:\n  servers:\n    - listen: 127.0.0.1:8080\n      locations: [{path: /, grpc_pass: \"grpcs://127.0.0.1:50051\", "+c.keys+"}]\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "grpc_ssl_") {
			t.Errorf("%s: err %v, want %q", c.keys, err, c.want)
		}
	}
}

// h2c is HTTP/2 with prior knowledge on a plain connection, only.
func h2c() *http.Protocols {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	return p
}

// bodyCounter is an HTTP/2 (h2c) upstream that reads each request's body
// whole before it answers 200 with grpc-status 0, and reports what it read
// and how the body ended; got is told each time 1 KiB more has come.
func bodyCounter(t *testing.T, got chan<- int64, ended chan<- error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int64
		buf := make([]byte, 512)
		var err error
		for {
			var m int
			m, err = r.Body.Read(buf)
			if n/1024 != (n+int64(m))/1024 {
				got <- n + int64(m)
			}
			n += int64(m)
			if err != nil {
				break
			}
		}
		ended <- err
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		w.WriteHeader(200)
		w.Header().Set("Grpc-Status", "0")
	})
	srv := &http.Server{Handler: h, Protocols: h2c()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// A gRPC body of no declared length (nginx streams it to the upstream)
// that goes past client_max_body_size: nginx's 413 and line, measured
// against nginx 1.22 (HTTP/2: "client intended to send too large chunked
// body: 1536 bytes while sending request to upstream"; HTTP/1.1 chunked:
// "1024+512 bytes"); the upstream got the first 1024 bytes and its stream
// was reset, the bytes past the limit never sent.
func TestGrpcStreamedBodyTooLargeBothProtocols(t *testing.T) {
	got, ended := make(chan int64, 8), make(chan error, 2)
	up := bodyCounter(t, got, ended)
	r := grpcRig(t, `        - {path: /, grpc_pass: "grpc://{U0}", client_max_body_size: 1k}
`, up)
	chunk := strings.Repeat("x", 512)

	t.Run("HTTP/2", func(t *testing.T) {
		tr := &http.Transport{Protocols: h2c()}
		defer tr.CloseIdleConnections()
		pr, pw := io.Pipe()
		go func() {
			_, _ = pw.Write([]byte(chunk))
			_, _ = pw.Write([]byte(chunk))
			<-got // the upstream has the first 1024 bytes: the next DATA frame is read alone
			_, _ = pw.Write([]byte(chunk))
			_ = pw.Close()
		}()
		req, _ := http.NewRequestWithContext(callCtx(t), "POST", "http://"+r.addr+"/test.Echo/Upload", pr)
		req.Header.Set("Content-Type", "application/grpc")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("status %d, want 413", resp.StatusCode)
		}
		if err := <-ended; err == nil {
			t.Error("the upstream's stream ended as if the body were whole")
		}
		want := "client intended to send too large chunked body: 1536 bytes while sending request to upstream"
		if !strings.Contains(r.elog.String(), "[error]") || !strings.Contains(r.elog.String(), want) { // written before the response
			t.Errorf("error log lacks %q:\n%s", want, r.elog.String())
		}
	})

	t.Run("HTTP/1.1 chunked", func(t *testing.T) {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // a hang fails the test, not the run
		fmt.Fprintf(c, "POST /test.Echo/Upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc\r\nTransfer-Encoding: chunked\r\n\r\n200\r\n%s\r\n200\r\n%s\r\n", chunk, chunk)
		<-got
		fmt.Fprintf(c, "200\r\n%s\r\n0\r\n\r\n", chunk)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 || !resp.Close {
			t.Errorf("status %d, close %v; want 413 and Connection: close", resp.StatusCode, resp.Close)
		}
		if err := <-ended; err == nil {
			t.Error("the upstream's stream ended as if the body were whole")
		}
		want := "client intended to send too large chunked body: 1024+512 bytes while sending request to upstream"
		if !strings.Contains(r.elog.String(), "[error]") || !strings.Contains(r.elog.String(), want) { // written before the response
			t.Errorf("error log lacks %q:\n%s", want, r.elog.String())
		}
	})
}
