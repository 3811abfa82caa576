package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"

	"ticketing.dev/common/apitest"
	"ticketing.dev/orders/internal/ordertest"
)

// writeCommands are the database commands that change something.
var writeCommands = []string{"insert", "update", "delete", "findAndModify"}

// writes counts the write commands the service has sent its database.
func writes(e *ordertest.Env) map[string]int {
	out := map[string]int{}
	for command, n := range e.Proxy.Commands() {
		for _, w := range writeCommands {
			if strings.EqualFold(command, w) {
				out[command] += n
			}
		}
	}
	return out
}

// A buyer asking for a ticket the replica shows taken — reserved by another
// buyer, sold, or their own listing — is refused before anything is written:
// no slot is taken and freed, no hold tried, no order or event stored.
func TestARefusedReservationWritesNothing(t *testing.T) {
	e := ordertest.New(t, ordertest.ThroughProxy())
	ctx := context.Background()
	reserved := e.ListTicket("seller", "Reserved", 1000)
	reserve(t, e, e.User("winner"), reserved)
	sold := e.ListTicket("seller", "Sold", 1000)
	paid := reserve(t, e, e.User("payer"), sold)
	_, err := e.Direct.Complete(ctx, paid.ID, "payment-1")
	require.NoError(t, err)
	own := e.ListTicket("seller", "Own", 1000)
	orders := func() int64 {
		n, err := e.Direct.Outbox().Collection().CountDocuments(ctx, bson.M{})
		require.NoError(t, err)
		return n
	}

	before, stored := writes(e), orders()
	require.NotEmpty(t, before, "the counter sees the winners' writes")
	for _, c := range []struct {
		buyer, ticket string
		status        int
		message       string
	}{
		{"loser", reserved, http.StatusConflict, "Ticket is reserved"},
		{"late", sold, http.StatusConflict, "Ticket is sold"},
		{"seller", own, http.StatusBadRequest, "You cannot buy your own ticket"},
	} {
		res := e.API.Do("POST", "/api/orders", map[string]string{"ticketId": c.ticket}, apitest.As(e.User(c.buyer)))
		require.Equal(t, c.status, res.Status, res.Raw)
		assert.Equal(t, c.message, res.Message(t))
	}
	assert.Equal(t, before, writes(e), "no write for a refused reservation")
	assert.Equal(t, stored, orders(), "no order stored")
	for _, buyer := range []string{"loser", "late", "seller"} {
		assert.Zero(t, slots(t, e, buyer), "%s took no open-order slot", buyer)
	}
}
