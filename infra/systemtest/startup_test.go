package systemtest_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"

	"ticketing.dev/common/testenv"
	"ticketing.dev/infra/systemtest/harness"
)

// Every service with indexes, started while its database is unreachable,
// stays up with /readyz answering 503 for its indexes, and once the database
// answers creates them and becomes ready. Creating them at boot used to make
// it exit instead (harness.Start fails the test if the process exits).
func TestAServiceStartedBeforeItsDatabaseWaitsForIt(t *testing.T) {
	for _, tc := range []struct {
		service string
		env     harness.Env
	}{
		{"auth", nil},
		{"tickets", nil},
		{"orders", nil},
		{"payments", harness.Env{
			"STRIPE_KEY":            "sk_test_" + strings.Repeat("x", 24),
			"STRIPE_API_BASE":       testenv.StripeMockURL(t),
			"STRIPE_WEBHOOK_SECRET": "whsec_" + strings.Repeat("x", 24),
		}},
	} {
		t.Run(tc.service, func(t *testing.T) {
			harness.Binary(t, tc.service) // built before the outage starts
			sys := harness.New(t)
			uri, proxy := testenv.ProxiedDatabaseURI(t)
			proxy.Cut()
			env := harness.Env{"MONGO_URI": uri}
			for k, v := range tc.env {
				env[k] = v
			}
			// The outage outlasts the driver's server selection (5 s), so
			// the first attempt at the indexes fails: at boot, that was fatal.
			restored := time.AfterFunc(7*time.Second, proxy.Restore)
			t.Cleanup(func() { restored.Stop() })
			svc := sys.Start(tc.service, env)

			logs := svc.Logs()
			assert.Equal(t, 1, strings.Count(logs, "---- start"), "one process all along")
			assert.Contains(t, logs, `"check":"indexes","err":"indexes are not ready"`, "/readyz said so meanwhile")
			assert.Contains(t, logs, `"msg":"creating indexes failed; trying again"`)
			assert.Contains(t, logs, `"msg":"indexes ready"`)
			assert.NotEmpty(t, createdIndexes(t, uri), "ready means the indexes exist")
		})
	}
}

// createdIndexes names the indexes (beyond _id) of the database uri names.
func createdIndexes(t *testing.T, uri string) []string {
	t.Helper()
	u, err := url.Parse(uri)
	require.NoError(t, err)
	ctx := context.Background()
	db := testenv.NewDatabase(t).Client().Database(strings.TrimPrefix(u.Path, "/"))
	colls, err := db.ListCollectionNames(ctx, bson.M{})
	require.NoError(t, err)
	var names []string
	for _, c := range colls {
		specs, err := db.Collection(c).Indexes().ListSpecifications(ctx)
		require.NoError(t, err)
		for _, s := range specs {
			if s.Name != "_id_" {
				names = append(names, c+"."+s.Name)
			}
		}
	}
	return names
}
