//go:build !external

package e2e

// The flows that need the runner's inside: a Stripe that holds a
// confirmation, processes to kill, the runner's own address for newman and
// the browser tests (against a deployment the kind workflow runs those two
// itself, .github/workflows/kind.yml).

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

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
