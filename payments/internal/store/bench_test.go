package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"

	"ticketing.dev/common/testenv"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/store"
)

// BenchmarkDueRefundsAmongSettledCharges is one batch of the refunder's
// query over 10,000 settled charges of which 10 owe a refund, and prints the
// plan the server chose. MongoDB reads the sparse refund_due index (10
// entries); FerretDB 1.24 pushes down only {_id} filters and scans.
//
//	go test -run '^$' -bench DueRefundsAmongSettledCharges ./payments/internal/store
func BenchmarkDueRefundsAmongSettledCharges(b *testing.B) {
	ctx := testenv.Context(b)
	db := testenv.NewDatabase(b)
	s := store.New(db)
	require.NoError(b, s.EnsureIndexes(ctx))
	charges := s.Charges
	const settled, due = 10_000, 10
	now := time.Now()
	docs := make([]any, 0, settled)
	for i := range settled {
		docs = append(docs, bson.M{"orderId": fmt.Sprintf("settled-%05d", i), "status": payment.StatusCompleted,
			"attempt": 1, "stripeId": "ch", "leaseUntil": time.Unix(0, 0), "createdAt": now})
	}
	_, err := s.Outbox().Collection().InsertMany(ctx, docs)
	require.NoError(b, err)
	for i := range due {
		order := fmt.Sprintf("due-%d", i)
		c, err := charges.Claim(ctx, payment.Charge{OrderID: order, UserID: "buyer", Amount: 2050, Currency: "usd",
			LeaseUntil: now.Add(time.Minute), SettleAfter: now.Add(time.Hour)}, now)
		require.NoError(b, err)
		_, err = charges.BindIntent(ctx, c, "pi_"+order, now)
		require.NoError(b, err)
		_, _, err = charges.Succeeded(ctx, order, "pi_"+order, now)
		require.NoError(b, err)
		_, err = charges.MarkCancelled(ctx, order, now)
		require.NoError(b, err)
	}
	var plan bson.M
	require.NoError(b, db.RunCommand(ctx, bson.D{
		{Key: "explain", Value: bson.D{{Key: "find", Value: "charges"}, {Key: "filter", Value: bson.M{"refundDue": true}},
			{Key: "sort", Value: bson.M{"_id": 1}}, {Key: "limit", Value: payment.DefaultBatchSize}}},
	}).Decode(&plan))
	b.Logf("plan: %v", plan["queryPlanner"])

	b.ResetTimer()
	for range b.N {
		p, err := charges.DueRefunds(ctx, "", payment.DefaultBatchSize)
		require.NoError(b, err)
		require.Len(b, p.OrderIDs, due)
	}
}
