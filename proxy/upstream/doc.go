// Package upstream is spillway's side of the conversation with upstream
// servers: everything between "which server?" and "here is the response
// head", in nginx's terms and with nginx's log wording.
//
//   - Group and Peer: the running form of an upstream block (or a literal
//     proxy_pass host:port). Group.Pick chooses a server by smooth weighted
//     round-robin or least_conn; Group.PickFor also by nginx's hash, hash
//     consistent, ip_hash and random with the request's Balance (balance.go),
//     skipping servers that are down, tried,
//     failed (max_fails within fail_timeout, Group.Failed) or found
//     unhealthy by an active check; backups only when no primary can serve.
//   - HealthChecks: the active health checks (health_check), one goroutine
//     per server, which close their connections with FIN, never RST.
//   - Transport, Conn and Attempt: one try against one server. Transport.Open
//     takes an idle connection from the server's keepalive cache (IdleCache,
//     with its MSG_PEEK check for a FIN or RST that came while it was idle)
//     or dials one, over TCP, a unix socket or TLS; Attempt.Send and
//     Attempt.ReadHeader run the next two phases. Conn counts the bytes each
//     way and keeps the socket's first raw error, so that a failure says
//     what crossed the wire.
//   - Error: every failure of an attempt, typed where it happens: its Phase
//     (nginx's "while ..." text), Kind (what proxy_next_upstream and the
//     metrics see), the server, whether the connection was reused, and the
//     bytes sent and received. Its Message and Errno are nginx's error-log
//     words; the retry decision reads it without asserting types.
//   - RetryBudget: retry_budget, the share of retries a group may add.
//
// What stays in package proxy: the request's lifecycle and exchange, the
// one retry decision (which reads an *Error), the response relay, pages,
// logs and metrics. The HTTP/1.1 head is read here (Attempt.ReadHeader);
// FastCGI's framing is read by proxy's exchange over the same Conn.
//
// Groups, peers and caches are safe for concurrent use; a Conn and an
// Attempt have one owner at a time (the request using them, or the cache).
package upstream
