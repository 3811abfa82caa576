package launch

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"ticketing.dev/common/bus"
)

// CredentialsFile is where the runner keeps the stores' credentials it
// generated, in its data folder (mode 0600): one broker user per service and
// tool, Redis's and PostgreSQL's passwords. Delete the data folder to get new ones.
const CredentialsFile = "credentials.json"

// Credentials are the passwords a run's broker and Redis demand.
type Credentials struct {
	// NATS maps a broker user (common/bus.Users) to its password.
	NATS map[string]string `json:"nats"`
	// Redis is the password of expiration's Redis.
	Redis string `json:"redis"`
	// PostgreSQL is the password of FerretDB's PostgreSQL role, with
	// FERRETDB_BACKEND=postgresql.
	PostgreSQL string `json:"postgresql,omitempty"`
}

// ReadCredentials reads the credentials the runner keeps in dataDir.
func ReadCredentials(dataDir string) (Credentials, error) {
	var c Credentials
	b, err := os.ReadFile(filepath.Join(dataDir, CredentialsFile))
	if err != nil {
		return c, fmt.Errorf("reading the runner's credentials: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("reading %s: %w", filepath.Join(dataDir, CredentialsFile), err)
	}
	return c, nil
}

// Observer returns the broker user that tests and benchmarks watch the
// system as (bus.ObserverUser): it reads every channel and may publish on any.
func (c Credentials) Observer() (user, password string) {
	return bus.ObserverUser, c.NATS[bus.ObserverUser]
}
