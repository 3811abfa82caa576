package main

import (
	"fmt"
	"path/filepath"
	"strconv"

	"ticketing.dev/common/bus"
)

// RedriveEnvFile is where, in the data folder's run/, the runner writes the
// settings bin/redrive needs against this run's broker (EVENT_BUS, NATS_URL,
// the redrive user and its password), one NAME=value a line:
//
//	env $(cat .data/run/redrive.env) bin/redrive
const RedriveEnvFile = "redrive.env"

// The broker is NATS Streaming or, with EVENT_BUS=jetstream, nats-server
// with JetStream, on the same ports (BASE_PORT+1, monitoring on +2): the
// services find it at the same NATS_URL either way.

// brokerName is the broker's name in the output and in the port check.
func (c config) brokerName() string {
	if c.jetStream() {
		return "jetstream"
	}
	return "nats-streaming"
}

// brokerBinary is the broker's program, in bin/ (`make tools`).
func (sys *system) brokerBinary() string {
	if sys.cfg.jetStream() {
		return "nats-server"
	}
	return "nats-streaming-server"
}

// broker is the broker's process. NATS Streaming keeps its file store in
// DATA_DIR/nats, JetStream its streams in DATA_DIR/jetstream; each takes its
// users from natsConf.
func (sys *system) broker() spec {
	cfg, b := sys.cfg, sys.cfg.BasePort
	sp := spec{Name: cfg.brokerName(), Path: sys.brokerBinary(), Port: b + offNATS}
	if cfg.jetStream() {
		sp.Args = []string{"-c", sys.natsConf}
		return sp
	}
	sp.Args = []string{"-cid", "ticketing", "-a", "127.0.0.1", "-p", strconv.Itoa(b + offNATS), "-m", strconv.Itoa(b + offNATSMonitor),
		"-store", "file", "-dir", filepath.Join(cfg.DataDir, "nats"), "-c", sys.natsConf}
	return sp
}

// brokerConfig renders the broker's configuration file: its users and what
// each may publish (bus.ServerConfig for NATS Streaming,
// bus.JetStreamServerConfig for JetStream, which also gets its addresses and
// store here, since the file is all nats-server is given).
func (sys *system) brokerConfig() (string, error) {
	var users []bus.Credential
	names := bus.Users()
	if sys.cfg.jetStream() {
		names = bus.JetStreamUsers()
	}
	for _, user := range names {
		users = append(users, bus.Credential{User: user, Password: sys.creds.NATS[user]})
	}
	if !sys.cfg.jetStream() {
		return bus.ServerConfig("ticketing", users)
	}
	auth, err := bus.JetStreamServerConfig(users)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("server_name: \"ticketing-local\"\nlisten: %q\nhttp: %q\njetstream { store_dir: %q }\n",
		sys.local(offNATS), sys.local(offNATSMonitor), filepath.Join(sys.cfg.DataDir, "jetstream")) + auth, nil
}

// redriveEnv is what bin/redrive needs to re-drive this run's parked events
// (README, "Parked events"): the broker, its transport, the redrive user.
func (sys *system) redriveEnv() []string {
	env := []string{"EVENT_BUS=" + sys.cfg.EventBus, "NATS_URL=nats://" + sys.local(offNATS), "NATS_CLUSTER_ID=ticketing",
		"NATS_USER=" + bus.RedriveUser, "NATS_PASSWORD=" + sys.creds.NATS[bus.RedriveUser]}
	if !sys.cfg.jetStream() {
		env = append(env, "NATS_MONITOR_URL=http://"+sys.local(offNATSMonitor))
	}
	return env
}

// busBanner tells which broker the events go through, and how to re-drive
// what was parked.
func (sys *system) busBanner() string {
	return fmt.Sprintf("  Events go through %s (EVENT_BUS=%s) at nats://%s\n  Re-drive parked events: env $(cat %s) bin/redrive\n",
		sys.cfg.brokerName(), sys.cfg.EventBus, sys.local(offNATS), filepath.Join(sys.cfg.DataDir, "run", RedriveEnvFile))
}
