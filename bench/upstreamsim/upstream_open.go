package upstreamsim

// OpenConns is the number of connections currently open (accepted and not
// yet closed by the upstream). Tests use it to wait, without sleeping, until
// an idle_fin / idle_rst upstream has really closed an idle connection.
func (u *Upstream) OpenConns() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.conns)
}
