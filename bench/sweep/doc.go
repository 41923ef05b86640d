// Package sweep runs `spillway bench`: it sweeps a grid of proxy buffer
// configurations × response sizes × client speeds × concurrency against
// spillway run as a child process per cell (and nginx, or an external
// proxy), with a built-in origin that measures how long each request held
// its upstream connection (or an external origin), and writes a table,
// CSV, JSON and plots.
//
// It lives apart from bench/upstreamsim and bench/probe because it needs
// spillway/proxy/config to write the configurations it sweeps, and those two
// stay free of the proxy so that they can test it from the outside.
package sweep
