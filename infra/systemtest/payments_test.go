package systemtest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"

	"ticketing.dev/common/apitest"
)

// chargeRecord is payments' record of an order's charge.
type chargeRecord struct {
	Status         string `bson:"status"`
	Amount         int64  `bson:"amount"`
	StripeID       string `bson:"stripeId"`
	StripeRefundID string `bson:"stripeRefundId"`
}

func (f *fullMarket) charge(orderID string) (chargeRecord, bool) {
	var c chargeRecord
	err := f.payments.DB.Collection("charges").FindOne(context.Background(), bson.M{"orderId": orderID}).Decode(&c)
	return c, err == nil
}

// pay pays for the order once payments has heard of it.
func (f *fullMarket) pay(buyer, orderID string) apitest.Response {
	f.t.Helper()
	require.Eventually(f.t, func() bool { return f.paymentsHasOrder(orderID) }, wait, tick, "payments never heard of order %s", orderID)
	return f.payments.API.Do("POST", "/api/payments", map[string]string{"orderId": orderID, "token": "tok_visa"}, apitest.As(buyer))
}

func TestAPaidOrderIsCompleteItsTicketSoldAndItsExpiryHarmless(t *testing.T) {
	f := newFullMarket(t, fullMarketOptions{window: "4s", payments: true})
	seller, alice, bob := f.sys.Session("seller"), f.sys.Session("alice"), f.sys.Session("bob")
	tk := f.list(seller, "Concert", 20.5)
	paid := f.pending(alice, f.reserve(alice, tk.ID).ID)
	// An order placed just after, and never paid: once it has lapsed, the
	// paid order's own deadline has passed too.
	other := f.list(seller, "Theatre", 30)
	unpaid := f.pending(bob, f.reserve(bob, other.ID).ID)
	f.waitHold(paid.ID, "scheduled")

	res := f.pay(alice, paid.ID)
	require.Equal(t, http.StatusCreated, res.Status, res.Raw)
	body := res.Object(t)
	assert.Equal(t, 20.5, body["amount"])
	assert.True(t, strings.HasPrefix(body["stripeId"].(string), "pi_"), "paid by a PaymentIntent: %s", res.Raw)
	c, ok := f.charge(paid.ID)
	require.True(t, ok)
	assert.Equal(t, chargeRecord{Status: "completed", Amount: 2050, StripeID: body["stripeId"].(string)}, c)

	f.waitStatus(alice, paid.ID, "complete", wait)
	require.Eventually(t, func() bool { return f.ticket(tk.ID).Sold }, wait, tick, "the ticket is sold")
	f.waitHold(paid.ID, "none")

	res = f.tickets.API.Do("PUT", "/api/tickets/"+tk.ID, map[string]any{"title": "Concert", "price": 99}, apitest.As(seller))
	assert.Equal(t, http.StatusConflict, res.Status, "a sold ticket is not editable: %s", res.Raw)
	res = f.orders.API.Do("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, apitest.As(bob))
	assert.Equal(t, http.StatusConflict, res.Status, "a sold ticket is not reservable: %s", res.Raw)
	assert.False(t, f.forSale(tk.ID), "a sold ticket is not listed")
	res = f.pay(alice, paid.ID)
	assert.Equal(t, http.StatusConflict, res.Status, "paid once: %s", res.Raw)

	require.GreaterOrEqual(t, unpaid.ExpiresAt, paid.ExpiresAt)
	f.waitStatus(bob, unpaid.ID, "cancelled", 4*time.Second+generousLateness)
	assert.Equal(t, "complete", f.pending(alice, paid.ID).Status, "its expiry did not cancel the paid order")
	assert.True(t, f.ticket(tk.ID).Sold)
}

// Late payment across the services: the order is cancelled while payments
// cannot hear of it (the broker is down), the buyer pays, and once
// payments hears of the cancellation it refunds the charge through Stripe.
func TestALatePaymentIsRefundedEndToEnd(t *testing.T) {
	f := newFullMarket(t, fullMarketOptions{window: "1m", payments: true})
	alice := f.sys.Session("alice")
	tk := f.list(f.sys.Session("seller"), "Concert", 20)
	o := f.reserve(alice, tk.ID)
	require.Eventually(t, func() bool { return f.paymentsHasOrder(o.ID) }, wait, tick)

	f.sys.NATS.Stop(t)
	require.Equal(t, http.StatusNoContent, f.orders.API.Do("DELETE", "/api/orders/"+o.ID, nil, apitest.As(alice)).Status)
	res := f.pay(alice, o.ID)
	require.Equal(t, http.StatusCreated, res.Status, "payments has not heard of the cancellation yet: %s", res.Raw)
	f.sys.NATS.Start(t)

	require.Eventually(t, func() bool {
		c, ok := f.charge(o.ID)
		return ok && c.StripeRefundID != ""
	}, 30*time.Second, tick, "the charge is refunded")
	c, _ := f.charge(o.ID)
	assert.True(t, strings.HasPrefix(c.StripeRefundID, "re_"), c.StripeRefundID)
	assert.Equal(t, "completed", c.Status)

	// payment:created reaches orders too, for a cancelled order: it stays
	// cancelled and the ticket for sale.
	require.Eventually(t, func() bool {
		return strings.Contains(f.orders.Logs(), "payment for a cancelled order") && strings.Contains(f.orders.Logs(), o.ID)
	}, wait, tick, "orders saw the payment")
	require.Eventually(t, func() bool { return f.forSale(tk.ID) }, wait, tick)
	assert.Equal(t, "cancelled", f.pending(alice, o.ID).Status)
	assert.False(t, f.ticket(tk.ID).Sold)
}
