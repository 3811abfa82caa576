//go:build race

package harness

// raceEnabled: the test runs with -race, so the services are built with it
// too, and a data race in a service fails the run instead of passing unseen.
const raceEnabled = true
