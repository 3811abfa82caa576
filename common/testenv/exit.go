package testenv

// OnExit registers f to run when Main's test run ends, after the tests and
// before the shared servers stop (last registered, first run). Helpers built
// on testenv use it for what must outlive one test but not the run, such as
// service binaries built once per package.
func OnExit(f func()) { onExit(f) }
