//go:build !external

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"ticketing.dev/common/testenv"
)

// spanKey names a span by its service and name.
type spanKey struct{ service, name string }

func (k spanKey) String() string { return k.service + ": " + k.name }

// traced is one trace as the receiver got it: its spans by id, and the first
// span of each service and name.
type traced struct {
	all   []testenv.Span
	byID  map[string]testenv.Span
	first map[spanKey]testenv.Span
}

func traceOf(traceID string) traced {
	tr := traced{all: system.otlp.Trace(traceID), byID: map[string]testenv.Span{}, first: map[spanKey]testenv.Span{}}
	for _, s := range tr.all {
		tr.byID[s.SpanID] = s
		k := spanKey{s.Service, s.Name}
		if _, ok := tr.first[k]; !ok {
			tr.first[k] = s
		}
	}
	return tr
}

// waitForSpans waits until the trace holds a span of each of want.
func waitForSpans(t *testing.T, traceID string, want ...spanKey) traced {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		tr := traceOf(traceID)
		var missing []string
		for _, k := range want {
			if _, ok := tr.first[k]; !ok {
				missing = append(missing, k.String())
			}
		}
		if len(missing) == 0 {
			return tr
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s lacks %v; it holds:\n%s", traceID, missing, tr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (tr traced) String() string {
	var b strings.Builder
	for _, s := range tr.all {
		fmt.Fprintf(&b, "  %s %-11s %-40s %s ← %s\n", s.Start.Format("15:04:05.000"), s.Service, s.Name, s.SpanID, s.ParentID)
	}
	return b.String()
}

func (tr traced) span(t *testing.T, service, name string) testenv.Span {
	t.Helper()
	s, ok := tr.first[spanKey{service, name}]
	if !ok {
		t.Fatalf("no span %s: %s in the trace:\n%s", service, name, tr)
	}
	return s
}

// descends reports whether s is below ancestor in the trace.
func (tr traced) descends(s, ancestor testenv.Span) bool {
	for p, ok := tr.byID[s.ParentID]; ok; p, ok = tr.byID[p.ParentID] {
		if p.SpanID == ancestor.SpanID {
			return true
		}
	}
	return false
}

// withParents re-reads the trace until every span's parent has arrived (or
// is the browser's root), for at most 10 s, and returns it. A span is
// exported when it ends and a parent ends after its children, so a trace
// read while a handler still runs (its ack outstanding: JetStream's waits
// for the broker's confirmation) holds the handler's children without it.
// A parent that never arrives is still reported, by causal.
func withParents(traceID, root string, tr traced) traced {
	deadline := time.Now().Add(10 * time.Second)
	for tr.orphans(root) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		tr = traceOf(traceID)
	}
	return tr
}

// orphans counts the spans whose parent is neither root nor in the trace.
func (tr traced) orphans(root string) int {
	n := 0
	for _, s := range tr.all {
		if _, ok := tr.byID[s.ParentID]; !ok && s.ParentID != root {
			n++
		}
	}
	return n
}

// causal checks that every span's parent is the browser's root or a span
// of the trace that started no later: one connected tree, in causal order.
func (tr traced) causal(t *testing.T, root string) {
	t.Helper()
	for _, s := range tr.all {
		if s.ParentID == root {
			continue
		}
		p, ok := tr.byID[s.ParentID]
		if !ok {
			t.Errorf("%s: %s has parent %s, which is not in the trace:\n%s", s.Service, s.Name, s.ParentID, tr)
			continue
		}
		if s.Start.Before(p.Start) {
			t.Errorf("%s: %s started before its parent %s: %s", s.Service, s.Name, p.Service, p.Name)
		}
	}
}

// inOrder checks that the spans started in the order given.
func inOrder(t *testing.T, spans ...testenv.Span) {
	t.Helper()
	for i := 1; i < len(spans); i++ {
		if spans[i].Start.Before(spans[i-1].Start) {
			t.Errorf("%s: %s started before %s: %s", spans[i].Service, spans[i].Name, spans[i-1].Service, spans[i-1].Name)
		}
	}
}

// One purchase is one trace through every service, received by a real OTLP
// receiver: the buyer's requests carry one traceparent (as a traced browser's
// would), and everything they cause — over HTTP, through each outbox, over
// NATS Streaming, through Stripe — joins it, parents before children.
func TestAPurchaseIsOneTraceAcrossEveryService(t *testing.T) {
	traceID, root, traceparent := newTrace()
	seller := newUser(t, "seller")
	tk := seller.list(t, "Traced purchase")
	buyer := newTracedUser(t, "buyer", traceparent)

	var o order
	buyer.traceparent = traceparent
	buyer.eventually("POST", "/api/orders", map[string]string{"ticketId": tk.ID}, http.StatusCreated, &o)
	buyer.traceparent = ""
	waitFor(t, "the ticket to be reserved", func() bool { return !forSale(buyer, tk.ID) })
	buyer.traceparent = traceparent
	buyer.eventually("POST", "/api/payments", map[string]string{"orderId": o.ID, "token": "tok_visa"}, http.StatusCreated, nil)
	buyer.traceparent = ""
	waitFor(t, "the order to complete", func() bool { return orderStatus(buyer, o.ID) == "complete" })

	tr := waitForSpans(t, traceID,
		spanKey{"auth", "POST /api/users/signup"}, spanKey{"auth", "publish user:created"},
		spanKey{"orders", "POST /api/orders"}, spanKey{"orders", "publish order:created"},
		spanKey{"tickets", "handle order:created"}, spanKey{"expiration", "handle order:created"},
		spanKey{"payments", "handle order:created"},
		spanKey{"payments", "POST /api/payments"}, spanKey{"payments", "publish payment:created"},
		spanKey{"orders", "handle payment:created"}, spanKey{"orders", "publish order:completed"},
		spanKey{"tickets", "handle order:completed"}, spanKey{"expiration", "handle order:completed"},
	)
	tr = withParents(traceID, root, tr)
	tr.causal(t, root)
	t.Logf("the purchase's trace:\n%s", tr)

	reserve, created := tr.span(t, "orders", "POST /api/orders"), tr.span(t, "orders", "publish order:created")
	lock, schedule := tr.span(t, "tickets", "handle order:created"), tr.span(t, "expiration", "handle order:created")
	pay, paid := tr.span(t, "payments", "POST /api/payments"), tr.span(t, "payments", "publish payment:created")
	complete, completed := tr.span(t, "orders", "handle payment:created"), tr.span(t, "orders", "publish order:completed")
	sold := tr.span(t, "tickets", "handle order:completed")
	checkParent(t, reserve, root, "the reservation continues the browser's trace")
	checkParent(t, pay, root, "so does the payment")
	checkParent(t, created, reserve.SpanID, "orders' relay publishes in the reservation's trace, from the outbox")
	checkParent(t, lock, created.SpanID, "tickets handles what orders published")
	checkParent(t, schedule, created.SpanID, "so does expiration")
	checkParent(t, complete, paid.SpanID, "orders handles what payments published")
	checkParent(t, sold, completed.SpanID, "tickets handles what orders published")
	if !tr.descends(paid, pay) || !tr.descends(completed, complete) {
		t.Errorf("an event is published outside the work that caused it:\n%s", tr)
	}
	inOrder(t, reserve, created, lock, pay, paid, complete, completed, sold)
	checkStripeSpan(t, tr, pay)
	checkNoIDsInNames(t, tr, o.ID, tk.ID, buyer.id)
}

func checkParent(t *testing.T, s testenv.Span, parent, why string) {
	t.Helper()
	if s.ParentID != parent {
		t.Errorf("%s: %s has parent %s, want %s: %s", s.Service, s.Name, s.ParentID, parent, why)
	}
}

// checkStripeSpan finds the client span of the charge under the payment.
func checkStripeSpan(t *testing.T, tr traced, pay testenv.Span) {
	t.Helper()
	for _, s := range tr.all {
		if s.Service == "payments" && s.Kind == "SPAN_KIND_CLIENT" && s.Attrs["http.request.method"] == "POST" && tr.descends(s, pay) {
			return
		}
	}
	t.Errorf("no client span of the Stripe call under the payment:\n%s", tr)
}

func checkNoIDsInNames(t *testing.T, tr traced, ids ...string) {
	t.Helper()
	for _, s := range tr.all {
		for _, id := range ids {
			if strings.Contains(s.Name, id) {
				t.Errorf("span name %q carries an id", s.Name)
			}
		}
	}
}

// checkLapseTrace checks that the lapse, a window after the reservation,
// is still the reservation's trace: the expiry job carries its context.
func checkLapseTrace(t *testing.T, traceID, root string, o order) {
	t.Helper()
	tr := waitForSpans(t, traceID, spanKey{"expiration", "handle order:created"}, spanKey{"expiration", "fire order:expire"},
		spanKey{"expiration", "publish expiration:complete"}, spanKey{"orders", "handle expiration:complete"})
	tr = withParents(traceID, root, tr)
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
