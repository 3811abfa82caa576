// Package systemtest runs services together as real processes (see package
// harness) and checks the flows of DESIGN.md §5 across them, driving them
// only over HTTP and through events.
package systemtest
