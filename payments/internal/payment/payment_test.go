package payment_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/common/events"
	"ticketing.dev/payments/internal/payment"
)

func TestWhoMayPayWhen(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	open := payment.Order{ID: "o", UserID: "buyer", Status: events.StatusCreated, Price: 2050, ExpiresAt: now.Add(time.Minute)}
	with := func(change func(*payment.Order)) payment.Order {
		o := open
		change(&o)
		return o
	}
	for _, tc := range []struct {
		name  string
		order payment.Order
		user  string
		want  error
	}{
		{"the buyer, in time", open, "buyer", nil},
		{"someone else", open, "other", payment.ErrNotOwner},
		{"someone else, even when it is cancelled", with(func(o *payment.Order) { o.Status = events.StatusCancelled }), "other", payment.ErrNotOwner},
		{"cancelled", with(func(o *payment.Order) { o.Status = events.StatusCancelled }), "buyer", payment.ErrCancelled},
		{"complete", with(func(o *payment.Order) { o.Status = events.StatusComplete }), "buyer", payment.ErrAlreadyPaid},
		{"the window closes now", with(func(o *payment.Order) { o.ExpiresAt = now }), "buyer", payment.ErrExpired},
		{"the window closed", with(func(o *payment.Order) { o.ExpiresAt = now.Add(-time.Second) }), "buyer", payment.ErrExpired},
		{"a millisecond left", with(func(o *payment.Order) { o.ExpiresAt = now.Add(time.Millisecond) }), "buyer", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.order.CheckPayable(tc.user, now)
			if tc.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tc.want)
			}
		})
	}
}

func TestTheIdempotencyKeys(t *testing.T) {
	c := payment.Charge{OrderID: "64b000000000000000000001", Attempt: 1}
	assert.Equal(t, "pi-64b000000000000000000001-1", c.IntentKey(), "one intent per order attempt")
	c.Attempt = 2
	assert.Equal(t, "pi-64b000000000000000000001-2", c.IntentKey(), "a new card after a decline is a new intent")
	assert.Equal(t, "refund-64b000000000000000000001", payment.RefundKey("64b000000000000000000001"), "one refund per order")
	visa, other := payment.Method{Token: "tok_visa"}, payment.Method{PaymentMethod: "pm_card_visa"}
	lease, next := time.Unix(1000, 0), time.Unix(1200, 0)
	assert.Equal(t, payment.ConfirmKey("pi_1", visa, lease), payment.ConfirmKey("pi_1", visa, lease), "one request sent twice is one confirmation")
	assert.NotEqual(t, payment.ConfirmKey("pi_1", visa, lease), payment.ConfirmKey("pi_1", visa, next), "a later try is not the saved answer of the first")
	assert.NotEqual(t, payment.ConfirmKey("pi_1", visa, lease), payment.ConfirmKey("pi_1", other, lease), "another card is another confirmation")
	assert.NotEqual(t, payment.ConfirmKey("pi_1", visa, lease), payment.ConfirmKey("pi_2", visa, lease))
	assert.Equal(t, "cancel-pi_1", payment.CancelKey("pi_1"))
}

func TestWhichProviderAnswersMeanNotCharged(t *testing.T) {
	for _, tc := range []struct {
		err      error
		definite bool
	}{
		{&payment.DeclinedError{Message: "Your card was declined."}, true},
		{&payment.RejectedError{Param: "source", Message: "No such token"}, true},
		{fmt.Errorf("%w: connection refused", payment.ErrNotCharged), true},
		{fmt.Errorf("%w: 500", payment.ErrOutcomeUnknown), false},
		{errors.New("anything else"), false},
	} {
		assert.Equal(t, tc.definite, payment.Definite(tc.err), tc.err.Error())
	}
}

func TestALatePaymentIsACancellation(t *testing.T) {
	err := error(&payment.LatePaymentError{Charge: payment.Charge{OrderID: "o"}, Refunded: true})
	assert.ErrorIs(t, err, payment.ErrCancelled)
}
