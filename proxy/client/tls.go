package client

// The TLS front ("listen ... ssl"): the handshake configuration of a server
// block, and nginx's lines for a handshake that fails. Package proxy owns
// the connection that runs it (its frontConn: the first byte decides
// between TLS and plain HTTP, and the configuration is picked per
// handshake from the running site by SNI).

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"spillway/proxy/config"
	"spillway/proxy/errorlog"
	"spillway/proxy/internal/opensslerr"
	"spillway/proxy/vars"
)

// ServerTLSConfig builds one server block's handshake configuration:
// ssl_certificate, ssl_protocols, ssl_ciphers, ssl_ecdh_curve,
// ssl_session_tickets, ssl_session_timeout and ssl_session_cache.
func ServerTLSConfig(t *config.ServerTLS) *tls.Config {
	c := &tls.Config{
		MinVersion:             t.MinVersion,
		MaxVersion:             t.MaxVersion,
		CipherSuites:           t.CipherSuites,
		CurvePreferences:       t.Curves,
		SessionTicketsDisabled: !t.SessionTickets,
		NextProtos:             []string{"http/1.1"},
	}
	// OpenSSL keeps one certificate per key type (RSA, EC, Ed25519): a
	// later ssl_certificate of a type replaces the earlier one, as nginx
	// serves them (nginx-tests ssl_certificate_compression.t).
	slot := map[string]int{}
	for _, ck := range t.Certificates {
		k := fmt.Sprintf("%T", ck.Pair.PrivateKey)
		if i, ok := slot[k]; ok {
			c.Certificates[i] = *ck.Pair
			continue
		}
		slot[k] = len(c.Certificates)
		c.Certificates = append(c.Certificates, *ck.Pair)
	}
	if len(t.TicketKeys) > 0 {
		c.SetSessionTicketKeys(t.TicketKeys) // ssl_session_ticket_key: the first encrypts, all decrypt
	}
	if t.SessionTickets {
		// ssl_session_timeout: Go's tickets live up to 7 days, so each
		// ticket carries its issue time and is refused once older. Without
		// ssl_session_ticket_key the ticket keys are this configuration's
		// own (random, rotated by crypto/tls): a ticket from another server
		// block, or from before a reload, does not decrypt and the client
		// does a full handshake, as with nginx's per-configuration random
		// ticket keys.
		timeout := t.SessionTimeout
		c.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			ss.Extra = append(ss.Extra, ticketStamp(time.Now()))
			return c.EncryptTicket(cs, ss)
		}
		c.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
			ss, err := c.DecryptTicket(identity, cs)
			if err != nil || ss == nil {
				return nil, err
			}
			if at, ok := ticketIssued(ss.Extra); !ok || time.Since(at) > timeout {
				return nil, nil // expired: a full handshake
			}
			return ss, nil
		}
	} else if t.SessionCache > 0 {
		useSessionCache(c, t.SessionCache, t.SessionTimeout) // tlscache.go
	}
	return c
}

const ticketTag = "spillway-issued:"

func ticketStamp(now time.Time) []byte {
	b := make([]byte, len(ticketTag)+8)
	copy(b, ticketTag)
	binary.BigEndian.PutUint64(b[len(ticketTag):], uint64(now.Unix()))
	return b
}

func ticketIssued(extra [][]byte) (time.Time, bool) {
	for _, e := range extra {
		if len(e) == len(ticketTag)+8 && string(e[:len(ticketTag)]) == ticketTag {
			return time.Unix(int64(binary.BigEndian.Uint64(e[len(ticketTag):])), 0), true
		}
	}
	return time.Time{}, false
}

// HandshakeConn is what tls.Server reads: the client connection's bytes
// (Raw), keeping the start of each read while the handshake runs. A TLS
// 1.3 client that rejects the certificate sends its alert in plaintext
// (OpenSSL's clients, curl among them, do), which crypto/tls can only
// report as "bad record MAC"; OpenSSL reads the alert, and nginx logs it
// ("tlsv1 alert unknown ca"). The bytes kept say which alert it was
// (PlaintextAlert).
type HandshakeConn struct {
	Raw  func([]byte) (int, error)
	head [7]byte // the first bytes of the last read
	n    int
	done bool // the handshake is over: nothing more to keep
	// Rejected says the handshake selected a server with
	// ssl_reject_handshake on (set by the configuration callback).
	Rejected bool
	// CertError is nginx's message for a certificate with variables that
	// did not load: the handshake's failure line.
	CertError string
	// Hello is what the handshake said for the $ssl_ variables
	// (SessionConfig, and the configuration callback).
	Hello vars.Handshake
}

// SessionConfig returns c for one handshake through h: the client's cipher
// suites and groups are kept, and, when c resumes sessions (WrapSession:
// tickets, or ssl_session_cache), a clone whose sessions carry an
// identifier, $ssl_session_id: made with the session, found again in its
// ticket when it resumes (Go's crypto/tls has no session ID of its own).
func (h *HandshakeConn) SessionConfig(c *tls.Config, hello *tls.ClientHelloInfo) *tls.Config {
	h.Hello.Ciphers, h.Hello.Curves = hello.CipherSuites, hello.SupportedCurves
	if c.WrapSession == nil || c.UnwrapSession == nil {
		return c
	}
	cc := c.Clone()
	cc.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		if h.Hello.SessionID == nil {
			h.Hello.SessionID = make([]byte, 32)
			if _, err := rand.Read(h.Hello.SessionID); err != nil {
				return nil, err
			}
		}
		ss.Extra = append(ss.Extra, append([]byte(sessionIDTag), h.Hello.SessionID...))
		return c.WrapSession(cs, ss)
	}
	cc.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := c.UnwrapSession(identity, cs)
		if ss != nil {
			for _, e := range ss.Extra {
				if id, ok := bytes.CutPrefix(e, []byte(sessionIDTag)); ok && len(id) == 32 {
					h.Hello.SessionID = append([]byte(nil), id...)
				}
			}
		}
		return ss, err
	}
	return cc
}

const sessionIDTag = "spillway-session-id:"

func (h *HandshakeConn) Read(b []byte) (int, error) {
	n, err := h.Raw(b)
	if !h.done && n > 0 {
		h.n = copy(h.head[:], b[:n])
	}
	return n, err
}

// Done says the handshake is over: reads are no longer kept.
func (h *HandshakeConn) Done() { h.done = true }

// PlaintextAlert returns the description of a plaintext alert record
// (15 03 0x 00 02 level description) that the last read started with.
func (h *HandshakeConn) PlaintextAlert() (uint8, bool) {
	b := h.head
	if h.n == len(b) && b[0] == 0x15 && b[1] == 3 && b[3] == 0 && b[4] == 2 {
		return b[6], true
	}
	return 0, false
}

// PeekByte waits for the first byte without consuming it (recv MSG_PEEK,
// as nginx), under the read deadline fasthttp set.
func PeekByte(c *net.TCPConn) (byte, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var b [1]byte
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK)
		return rerr != syscall.EAGAIN
	})
	switch {
	case err != nil:
		return 0, err // the deadline, or closed
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, io.EOF
	}
	return b[0], nil
}

// SniffFailure is nginx's line for a client on an ssl address that sent no
// first byte (err from PeekByte): the message and errno, logged at info
// with the action "SSL handshaking" from the start. ok is false when there
// is nothing to say (closed by us: a shutdown).
func SniffFailure(err error) (msg string, errno syscall.Errno, ok bool) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		return "client closed connection", 0, true
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "client timed out", syscall.ETIMEDOUT, true
	case errors.Is(err, net.ErrClosed):
		return "", 0, false // closed by us (a shutdown): nothing to say
	}
	return "recv() failed", errorlog.ErrnoOf(err), true
}

// HandshakeFailure is nginx's line for a failed client handshake, logged
// at info while "SSL handshaking": the message and errno; ok is false when
// there is nothing to say (closed by us). alert is the handshake's
// HandshakeConn.PlaintextAlert.
func HandshakeFailure(err error, alert func() (uint8, bool)) (msg string, errno syscall.Errno, ok bool) {
	var ne net.Error
	switch {
	case errors.Is(err, net.ErrClosed):
		return "", 0, false
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "client timed out", syscall.ETIMEDOUT, true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "peer closed connection in SSL handshake", 0, true
	case errorlog.ErrnoOf(err) != 0:
		return "peer closed connection in SSL handshake", errorlog.ErrnoOf(err), true
	case strings.Contains(err.Error(), "bad record MAC"):
		if desc, ok := alert(); ok && opensslerr.KnownAlert(desc) {
			return "SSL_do_handshake() failed (" + opensslerr.Alert(desc) + ")", 0, true
		}
	}
	return "SSL_do_handshake() failed (" + opensslerr.Text(err) + ")", 0, true
}
