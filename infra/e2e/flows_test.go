package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
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

	intents := system.stripe.seen("POST /v1/payment_intents ", "amount=4250", "metadata%5BorderId%5D="+o.ID)
	if len(intents) != 1 {
		t.Fatalf("want exactly one PaymentIntent of 4250 cents at Stripe, saw %d: %v", len(intents), intents)
	}
	if charge["stripeId"] != system.stripe.IntentsFor(o.ID)[0] {
		t.Fatalf("paid by %v, want the order's PaymentIntent", charge["stripeId"])
	}
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

	deadline := time.Now().Add(expirationWindow + 30*time.Second)
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

// checkLapseTrace checks that the lapse, a window after the reservation,
// is still the reservation's trace: the expiry job carries its context.
func checkLapseTrace(t *testing.T, traceID, root string, o order) {
	t.Helper()
	tr := waitForSpans(t, traceID, spanKey{"expiration", "handle order:created"}, spanKey{"expiration", "fire order:expire"},
		spanKey{"expiration", "publish expiration:complete"}, spanKey{"orders", "handle expiration:complete"})
	tr.causal(t, root)
	schedule, fire := tr.span(t, "expiration", "handle order:created"), tr.span(t, "expiration", "fire order:expire")
	expired, lapse := tr.span(t, "expiration", "publish expiration:complete"), tr.span(t, "orders", "handle expiration:complete")
	checkParent(t, fire, schedule.SpanID, "the job continues the handling that scheduled it")
	checkParent(t, expired, fire.SpanID, "the job publishes the expiry")
	checkParent(t, lapse, expired.SpanID, "orders handles it")
	if fire.Start.Before(o.ExpiresAt.Add(-time.Second)) {
		t.Errorf("the job ran at %s, before the hold's end %s", fire.Start, o.ExpiresAt)
	}
}

// A charge that succeeds after its order was cancelled is refunded, and the
// order stays cancelled: nobody pays for a ticket they did not get.
func TestALatePaymentIsRefunded(t *testing.T) {
	seller, buyer, rival := newUser(t, "seller"), newUser(t, "buyer"), newUser(t, "rival")
	tk := seller.list(t, "Late payment")
	var o order
	buyer.eventually("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, http.StatusCreated, &o)
	// A stranger is refused (403) only once payments knows the order (404 before).
	rival.eventually("POST", "/api/payments", map[string]string{"orderId": o.ID, "token": "tok_visa"}, http.StatusForbidden, nil)

	release := system.stripe.holdConfirmations()
	defer release()
	var wg sync.WaitGroup
	var payStatus int
	wg.Add(1)
	go func() {
		defer wg.Done()
		payStatus, _ = buyer.do("POST", "/api/payments", map[string]string{"orderId": o.ID, "token": "tok_visa"}, nil)
	}()
	waitFor(t, "the confirmation to reach Stripe", func() bool {
		ids := system.stripe.IntentsFor(o.ID)
		return len(ids) == 1 && len(system.stripe.seen(ids[0]+"/confirm")) > 0
	})
	buyer.mustDo("DELETE", "/api/orders/"+o.ID, nil, http.StatusNoContent, nil)
	waitFor(t, "the order to be cancelled", func() bool { return orderStatus(buyer, o.ID) == "cancelled" })
	time.Sleep(time.Second) // let order:cancelled reach payments while the charge is held
	release()
	wg.Wait()
	t.Logf("the late payment answered %d", payStatus)

	waitFor(t, "a refund at Stripe", func() bool {
		return len(system.stripe.seen("POST /v1/refunds", "payment_intent="+system.stripe.IntentsFor(o.ID)[0])) > 0
	})
	for _, r := range system.stripe.Requests("/v1/refunds") {
		if r.Form.Get("payment_intent") == system.stripe.IntentsFor(o.ID)[0] && r.IdempotencyKey != "refund-"+o.ID {
			t.Fatalf("a refund of the order under key %q: a second refund is possible", r.IdempotencyKey)
		}
	}
	if got := orderStatus(buyer, o.ID); got != "cancelled" {
		t.Fatalf("order is %q after the late payment, want cancelled", got)
	}
	waitFor(t, "the ticket to be for sale again", func() bool { return forSale(buyer, tk.ID) })
}

// Every service, and the gateway, is killed outright (SIGKILL, no graceful
// shutdown) at some point of a purchase; the runner restarts it, and no order
// or event is lost.
func TestEveryServiceKilledMidFlow(t *testing.T) {
	seller, buyer := newUser(t, "seller"), newUser(t, "buyer")

	kill(t, "tickets")
	var tk ticket
	seller.eventually("POST", "/api/tickets", map[string]any{"title": "Survivor", "price": 12.34}, http.StatusCreated, &tk)
	kill(t, "orders") // ticket:created may be in flight: orders must still get it
	var o order
	buyer.eventually("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, http.StatusCreated, &o)
	kill(t, "expiration") // its hold must survive in Redis
	kill(t, "payments")   // order:created may be in flight: payments must still get it
	kill(t, "gateway")    // the front door too: nginx's worker must not outlive its master
	buyer.eventually("POST", "/api/payments", map[string]string{"orderId": o.ID, "token": "tok_visa"}, http.StatusCreated, nil)
	kill(t, "auth")
	kill(t, "tickets") // order:completed may be in flight: tickets must still mark it sold
	waitFor(t, "the order to complete", func() bool { return orderStatus(buyer, o.ID) == "complete" })
	waitFor(t, "the ticket to be sold", func() bool {
		var page struct {
			Tickets []ticket `json:"tickets"`
		}
		if s, _ := seller.do("GET", "/api/tickets/mine?limit=100", nil, &page); s != http.StatusOK {
			return false
		}
		for _, x := range page.Tickets {
			if x.ID == tk.ID {
				return x.Sold
			}
		}
		return false
	})
	seller.eventually("GET", "/api/users/currentuser", nil, http.StatusOK, nil)
	if n := len(system.stripe.IntentsFor(o.ID)); n != 1 {
		t.Fatalf("want one PaymentIntent for the order, saw %d", n)
	}
}

// The Postman collection passes against the running system (newman).
func TestPostmanCollection(t *testing.T) {
	dir := filepath.Join(system.root, "infra", "postman")
	newman := filepath.Join(dir, "node_modules", ".bin", "newman")
	if _, err := os.Stat(newman); err != nil {
		t.Fatalf("newman is not installed: run `npm ci` in infra/postman (make test-e2e does)")
	}
	cmd := exec.Command(newman, "run", "ticketing.postman_collection.json",
		"--env-var", "baseUrl="+system.baseURL, "--color", "off", "--reporters", "cli")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Log(string(out))
	if err != nil {
		t.Fatalf("newman failed: %v", err)
	}
}

// The web client's browser tests (client/e2e: playwright-core driving Debian's
// Chromium) pass against the running system, through the same gateway.
func TestBrowser(t *testing.T) {
	dir := filepath.Join(system.root, "client")
	if _, err := os.Stat(filepath.Join(dir, ".next", "BUILD_ID")); err != nil {
		t.Fatalf("the client is not built: run `make client-build` (make test-e2e does)")
	}
	cmd := exec.Command("npm", "run", "test:e2e")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BASE_URL="+system.baseURL, "ORDER_EXPIRATION_WINDOW="+expirationWindow.String())
	out, err := cmd.CombinedOutput()
	t.Log(string(out))
	if err != nil {
		t.Fatalf("browser tests failed: %v", err)
	}
}
