//go:build race

package idlepark

// raceEnabled: the race detector is on; memory bounds are not checked then.
const raceEnabled = true
