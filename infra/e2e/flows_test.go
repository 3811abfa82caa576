package e2e

// The flows both modes run: they need nothing of the system but its front
// door, and of Stripe only what the stand-in's controls offer (the
// cardholder's part). Each mode supplies what differs (mode_*_test.go):
// checkOnePaymentIntent, untilLapse, checkLapseTrace.

import (
	"net/http"
	"testing"
	"time"

	"ticketing.dev/infra/stripestandin"
)

// The whole purchase, as DESIGN §5 tells it: list, reserve (a rival is
// refused), pay, complete; the ticket is sold and locked.
func TestAFullPurchase(t *testing.T) {
	seller, buyer, rival := newUser(t, "seller"), newUser(t, "buyer"), newUser(t, "rival")
	tk := seller.list(t, "Full purchase")

	var o order
	buyer.eventually("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, http.StatusCreated, &o)
	if o.Status != "created" || o.Ticket.Price != 42.5 || time.Until(o.ExpiresAt) <= 0 {
		t.Fatalf("unexpected order %+v", o)
	}
	rival.mustDo("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, http.StatusConflict, nil)
	waitFor(t, "tickets to lock the reserved ticket", func() bool {
		status, _ := seller.do("PUT", "/api/tickets/"+tk.ID, map[string]any{"title": "x", "price": 1}, nil)
		return status == http.StatusConflict
	})

	var charge map[string]any
	buyer.eventually("POST", "/api/payments", map[string]string{"orderId": o.ID, "token": "tok_visa"}, http.StatusCreated, &charge)
	if charge["id"] == "" {
		t.Fatalf("no charge id in %v", charge)
	}
	waitFor(t, "the order to complete", func() bool { return orderStatus(buyer, o.ID) == "complete" })
	waitFor(t, "the ticket to leave the list", func() bool { return !forSale(buyer, tk.ID) })
	seller.mustDo("PUT", "/api/tickets/"+tk.ID, map[string]any{"title": "x", "price": 1}, http.StatusConflict, nil)
	rival.mustDo("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, http.StatusConflict, nil)
	buyer.mustDo("DELETE", "/api/orders/"+o.ID, nil, http.StatusConflict, nil)

	checkOnePaymentIntent(t, o, charge)
}

// 3-D Secure through the gateway: the payment answers 202 with the client
// secret, and the order completes only once the buyer passed the challenge
// and Stripe's signed webhook came in through the gateway.
func TestAThreeDSecurePurchaseCompletesByTheWebhook(t *testing.T) {
	seller, buyer := newUser(t, "seller"), newUser(t, "buyer")
	tk := seller.list(t, "Strong customer authentication")
	var o order
	buyer.eventually("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, http.StatusCreated, &o)
	var intent map[string]any
	buyer.eventually("POST", "/api/payments", map[string]string{"orderId": o.ID, "token": stripestandin.CardThreeDSecure}, http.StatusAccepted, &intent)
	if intent["status"] != "requires_action" || intent["clientSecret"] == "" {
		t.Fatalf("want requires_action with a client secret, got %v", intent)
	}
	time.Sleep(500 * time.Millisecond) // time for a wrong completion to show
	if s := orderStatus(buyer, o.ID); s != "created" {
		t.Fatalf("order is %q before the challenge was passed", s)
	}
	if err := system.stripe.Authenticate(intent["id"].(string), true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the order to complete by the webhook", func() bool { return orderStatus(buyer, o.ID) == "complete" })
}

// A hold that is not paid lapses: the order is cancelled and the ticket is for
// sale again, through real Redis, NATS Streaming and every service.
func TestAnUnpaidHoldLapses(t *testing.T) {
	seller, buyer, next := newUser(t, "seller"), newUser(t, "buyer"), newUser(t, "next")
	tk := seller.list(t, "Lapsing hold")
	var o order
	traceID, root, traceparent := newTrace()
	buyer.traceparent = traceparent
	buyer.eventually("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, http.StatusCreated, &o)
	buyer.traceparent = ""
	waitFor(t, "the ticket to be reserved", func() bool { return !forSale(buyer, tk.ID) })

	deadline := time.Now().Add(untilLapse(o) + 30*time.Second)
	for orderStatus(buyer, o.ID) != "cancelled" {
		if time.Now().After(deadline) {
			t.Fatalf("order %s was not cancelled within its window (expiresAt %s)", o.ID, o.ExpiresAt)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if time.Now().Before(o.ExpiresAt) {
		t.Fatalf("order cancelled before it expired at %s", o.ExpiresAt)
	}
	t.Logf("order cancelled %s after expiresAt", time.Since(o.ExpiresAt).Round(time.Millisecond))
	waitFor(t, "the ticket to be for sale again", func() bool { return forSale(buyer, tk.ID) })
	buyer.mustDo("POST", "/api/payments", map[string]string{"orderId": o.ID, "token": "tok_visa"}, http.StatusConflict, nil)
	next.eventually("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, http.StatusCreated, nil)
	checkLapseTrace(t, traceID, root, o)
}
