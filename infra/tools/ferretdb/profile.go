package main

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// profileEnv names a folder for profiles of this process (FerretDB and the
// proxy together), for benchmarks: a CPU profile, and a mutex profile that
// shows how long writes waited for their collection's lock. They are written
// when the process stops. Unset, nothing is profiled.
const profileEnv = "FERRETDB_PROFILE"

// startProfiles starts the profiles profileEnv asks for and returns what
// writes them out.
func startProfiles() (stop func() error, err error) {
	dir := os.Getenv(profileEnv)
	if dir == "" {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cpu, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return nil, err
	}
	runtime.SetMutexProfileFraction(1)
	return func() error {
		pprof.StopCPUProfile()
		mutex, err := os.Create(filepath.Join(dir, "mutex.pprof"))
		if err != nil {
			return errors.Join(cpu.Close(), err)
		}
		err = pprof.Lookup("mutex").WriteTo(mutex, 0)
		return errors.Join(cpu.Close(), err, mutex.Close())
	}, nil
}
