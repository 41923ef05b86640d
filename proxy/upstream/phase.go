package upstream

// Phase is where in the upstream exchange something happened. Its String is
// nginx's log->action text, which becomes the "while ..." part of an error-log
// line, so ops tooling that greps nginx's logs keeps working.
type Phase uint8

const (
	PhaseConnect      Phase = iota // dialing the upstream
	PhaseSSLHandshake              // the TLS handshake of an https:// upstream (upstream_tls.go)
	PhaseSend                      // writing the request head and body
	PhaseReadHeader                // waiting for / reading the response head
	PhaseReadBody                  // reading the response body ("reading upstream")
	PhaseSendClient                // writing the response to the client
)

var phaseAction = [...]string{
	PhaseConnect:      "connecting to upstream",
	PhaseSSLHandshake: "SSL handshaking to upstream",
	PhaseSend:         "sending request to upstream",
	PhaseReadHeader:   "reading response header from upstream",
	PhaseReadBody:     "reading upstream",
	PhaseSendClient:   "sending to client",
}

func (p Phase) String() string {
	if int(p) < len(phaseAction) {
		return phaseAction[p]
	}
	return "unknown phase"
}
