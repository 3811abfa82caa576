package systemtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/apitest"
	"ticketing.dev/common/errs"
	"ticketing.dev/infra/systemtest/harness"
)

// outageLength is how long a database stays unreachable in the flash-sale
// tests: well past the ~50 s (MaxDeliveries x AckWait) after which the bus
// used to park every event still in flight.
const outageLength = 2 * time.Minute

// settleWithin bounds how long after the database is back every service
// must agree on every ticket: the backlog of a two-minute outage is retried
// on the bus's own schedule, and orders' sweeper looks every 30 s.
const settleWithin = 90 * time.Second

const (
	saleTickets = 20
	saleBuyers  = 50
	// roundEvery paces the traffic that keeps coming during an outage.
	roundEvery = 4 * time.Second
)

// publicRead is the one action tickets may answer from memory: for a second
// (tickets' api.SnapshotLife, internal to tickets) after its database went
// away, what it read before is still the truth it states (tickets/README.md,
// "Browsing"), so a 200 is as right as a 503 then. After that second only a
// 503 is.
const (
	publicRead   = "read ticket"
	snapshotLife = time.Second
)

// The queue groups of the services the sale runs, each with its parked channel.
var saleQueues = []string{"tickets-service", "orders-service", "expiration-service", "payments-service"}

// flashSale is the whole market (tickets, orders, expiration, payments)
// selling a few tickets to many buyers at once, and the script's memory of
// what it was told. The script's memory only picks the next actions; what
// the services agree on is read from the services themselves.
type flashSale struct {
	*fullMarket
	seller string
	buyers []string

	mu sync.Mutex
	// cut names the service whose database is unreachable ("" for none):
	// it decides which answers are right.
	cut       string
	cutAt     time.Time
	ticketIDs []string
	// live are the orders the script got a 201 for and has not settled
	// (cancelled or paid) yet.
	live    []saleOrder
	placed  map[string]saleOrder
	edits   map[string]int // ticket id -> edits tickets answered 200 to
	tally   map[string]int // "action status" -> count
	wrong   []string       // answers that break the contract
	slowest time.Duration  // of the answers from the unreachable service
}

type saleOrder struct {
	id       string
	buyer    int
	ticketID string
}

// saleOptions shape a flash sale: how many buyers rush for the saleTickets,
// and whether the broker is a three-node cluster.
type saleOptions struct {
	buyers  int
	cluster bool
}

func newFlashSale(t *testing.T, opts saleOptions) *flashSale {
	t.Helper()
	// A window far longer than the test: nothing lapses, every order is
	// settled by the script or still open at the end.
	f := newFullMarket(t, fullMarketOptions{window: "30m", payments: true, cluster: opts.cluster, buyers: opts.buyers})
	s := &flashSale{
		fullMarket: f, seller: f.sys.Session("seller"),
		placed: map[string]saleOrder{}, edits: map[string]int{}, tally: map[string]int{},
	}
	for i := range opts.buyers {
		s.buyers = append(s.buyers, f.sys.Session(fmt.Sprint("buyer-", i)))
	}
	for i := range saleTickets {
		s.ticketIDs = append(s.ticketIDs, f.list(s.seller, fmt.Sprint("Flash seat ", i), 20+float64(i)).ID)
	}
	require.Eventually(t, func() bool {
		for _, id := range s.ticketIDs {
			if f.replicaVersion(id) != 0 {
				return false
			}
		}
		return true
	}, wait, tick, "orders knows every ticket on sale")
	return s
}

// rush is the opening of the sale: every buyer at once, buyer i after
// ticket i mod 20. Each ticket goes to exactly one of its buyers.
func (s *flashSale) rush() { s.rushWhile(nil) }

// rushWhile is rush with fault, when not nil, struck as soon as the first
// buyer has won: while the rest of the rush is answered and its events are
// on their way.
func (s *flashSale) rushWhile(fault func()) {
	s.t.Helper()
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range s.buyers {
		wg.Go(func() {
			<-gate
			s.reserve(i, s.ticketIDs[i%saleTickets])
		})
	}
	close(gate)
	if fault != nil {
		require.Eventually(s.t, func() bool { return s.count("reserve 201") > 0 }, wait, time.Millisecond, "nobody won")
		fault()
	}
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Empty(s.t, s.wrong)
	require.Equal(s.t, saleTickets, s.tally["reserve 201"], "one winner per ticket: %v", s.tally)
	require.Equal(s.t, len(s.buyers)-saleTickets, s.tally["reserve 409"], "every other buyer is refused: %v", s.tally)
	winners := map[string]int{}
	for _, o := range s.placed {
		winners[o.ticketID]++
	}
	for _, id := range s.ticketIDs {
		require.Equal(s.t, 1, winners[id], "ticket %s has one winner", id)
	}
	// The sale is under way: every service has heard of every reservation.
	require.Eventually(s.t, func() bool {
		for _, o := range s.placed {
			if !s.paymentsHasOrder(o.id) || s.holdState(o.id) != "scheduled" || !s.ticket(o.ticketID).Reserved {
				return false
			}
		}
		return true
	}, wait, tick, "every service hears of the rush's reservations")
}

// outage makes svc's database unreachable for outageLength while the sale
// goes on, then brings it back.
func (s *flashSale) outage(svc *harness.Service) {
	s.t.Helper()
	s.mu.Lock()
	s.cut, s.cutAt = svc.Name, time.Now()
	s.mu.Unlock()
	svc.DBProxy.Cut()
	s.t.Logf("%s's database cut for %s", svc.Name, outageLength)
	s.trade(outageLength)
	svc.DBProxy.Restore()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = ""
	s.t.Logf("%s's database back; answers so far, the rush's included: %v; slowest answer from %s meanwhile: %s",
		svc.Name, s.tally, svc.Name, s.slowest.Round(time.Millisecond))
}

// trade keeps buyers cancelling, paying and reserving, and the seller
// listing and repricing, one round every roundEvery for d.
func (s *flashSale) trade(d time.Duration) {
	s.t.Helper()
	end := time.Now().Add(d)
	pace := time.NewTicker(roundEvery)
	defer pace.Stop()
	for r := 0; time.Now().Before(end); r++ {
		s.round(r)
		<-pace.C
	}
}

// round is one burst of traffic: two cancellations, a payment every eighth
// round, eight attempts to reserve, a repricing, a listing every fourth
// round, and a read from each service.
func (s *flashSale) round(r int) {
	var wg sync.WaitGroup
	s.mu.Lock()
	settle := s.takeLive(2)
	var pay []saleOrder
	if r%8 == 0 {
		pay = s.takeLive(1)
	}
	tickets := slices.Clone(s.ticketIDs)
	s.mu.Unlock()
	for _, o := range settle {
		wg.Go(func() { s.cancel(o) })
	}
	for _, o := range pay {
		wg.Go(func() { s.pay(o) })
	}
	for range 8 {
		buyer, ticketID := rand.IntN(len(s.buyers)), tickets[rand.IntN(len(tickets))]
		wg.Go(func() { s.reserve(buyer, ticketID) })
	}
	wg.Go(func() { s.reprice(tickets[rand.IntN(len(tickets))]) })
	if r%4 == 0 {
		wg.Go(func() { s.listMore(r) })
	}
	wg.Go(func() {
		s.ask(publicRead, "tickets", s.tickets.API, "GET", "/api/tickets/"+tickets[0], nil, "", http.StatusOK)
	})
	if o, ok := s.anyOrder(); ok {
		wg.Go(func() {
			s.ask("read order", "orders", s.orders.API, "GET", "/api/orders/"+o.id, nil, s.buyers[o.buyer], http.StatusOK)
		})
	}
	wg.Wait()
}

// takeLive removes n random open orders from live. s.mu is held.
func (s *flashSale) takeLive(n int) []saleOrder {
	var taken []saleOrder
	for range n {
		if len(s.live) == 0 {
			break
		}
		i := rand.IntN(len(s.live))
		taken = append(taken, s.live[i])
		s.live = slices.Delete(s.live, i, i+1)
	}
	return taken
}

// count is how many answers the tally holds for "action status".
func (s *flashSale) count(answer string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tally[answer]
}

func (s *flashSale) anyOrder() (saleOrder, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.placed {
		return o, true
	}
	return saleOrder{}, false
}

// reserve asks for a ticket: 201 a new order, 409 someone holds it or it is
// sold, 200 the buyer's own open order that holds it already.
func (s *flashSale) reserve(buyer int, ticketID string) {
	res, ok := s.ask("reserve", "orders", s.orders.API, "POST", "/api/orders", map[string]string{"ticketId": ticketID},
		s.buyers[buyer], http.StatusCreated, http.StatusOK, http.StatusConflict)
	if !ok || (res.Status != http.StatusCreated && res.Status != http.StatusOK) {
		return
	}
	var o orderBody
	if err := json.Unmarshal([]byte(res.Raw), &o); err != nil || o.ID == "" || o.Ticket.ID != ticketID || o.Status != "created" {
		s.wrongAnswer("reserve of %s answered %d without an open order for it: %s", ticketID, res.Status, res.Raw)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, known := s.placed[o.ID]; known {
		return
	}
	so := saleOrder{id: o.ID, buyer: buyer, ticketID: ticketID}
	s.placed[o.ID] = so
	s.live = append(s.live, so)
}

func (s *flashSale) cancel(o saleOrder) {
	res, ok := s.ask("cancel", "orders", s.orders.API, "DELETE", "/api/orders/"+o.id, nil, s.buyers[o.buyer], http.StatusNoContent)
	if !ok || res.Status != http.StatusNoContent {
		s.putBack(o)
	}
}

// pay pays for the order once payments has heard of it; an order it has
// not heard of yet stays open for a later round.
func (s *flashSale) pay(o saleOrder) {
	if !s.paymentsHasOrder(o.id) {
		s.putBack(o)
		return
	}
	res, ok := s.ask("pay", "payments", s.payments.API, "POST", "/api/payments",
		map[string]string{"orderId": o.id, "token": "tok_visa"}, s.buyers[o.buyer], http.StatusCreated)
	if !ok || res.Status != http.StatusCreated {
		s.putBack(o)
	}
}

func (s *flashSale) putBack(o saleOrder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live = append(s.live, o)
}

// reprice changes a ticket's price: 200 while it is free, 409 while an
// order holds it.
func (s *flashSale) reprice(ticketID string) {
	res, ok := s.ask("reprice", "tickets", s.tickets.API, "PUT", "/api/tickets/"+ticketID,
		map[string]any{"title": "Flash seat", "price": 20 + rand.IntN(80)}, s.seller, http.StatusOK, http.StatusConflict)
	if ok && res.Status == http.StatusOK {
		s.mu.Lock()
		s.edits[ticketID]++
		s.mu.Unlock()
	}
}

func (s *flashSale) listMore(r int) {
	res, ok := s.ask("list", "tickets", s.tickets.API, "POST", "/api/tickets",
		map[string]any{"title": fmt.Sprint("Late seat ", r), "price": 35}, s.seller, http.StatusCreated)
	if !ok || res.Status != http.StatusCreated {
		return
	}
	var tk ticketBody
	if err := json.Unmarshal([]byte(res.Raw), &tk); err != nil || tk.ID == "" {
		s.wrongAnswer("list answered 201 without a ticket: %s", res.Raw)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ticketIDs = append(s.ticketIDs, tk.ID)
}

// lostOnTheWire is a request whose connection closed before any answer: an
// EOF or a reset, not a timeout (which would be a hang).
func lostOnTheWire(err error) bool {
	return err != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET))
}

// retriable are the actions the contract makes safe to send twice: a
// reservation's retry gets the buyer's own order back, a cancellation of a
// cancelled order is 204 again, and reads change nothing. A listing or a
// payment sent twice would be two.
func retriable(action string) bool {
	return action == "reserve" || action == "cancel" || action == "read order" || action == publicRead
}

// ask sends one request to service and checks the answer against the
// contract: one of healthy while service's database is reachable; 503 in the
// common error body, and an answer at all, while it is not. ok is false for
// an answer that breaks it (recorded for the test to report).
func (s *flashSale) ask(action, service string, api *apitest.Client, method, path string, body any, session string, healthy ...int) (apitest.Response, bool) {
	var opts []apitest.Option
	if session != "" {
		opts = append(opts, apitest.As(session))
	}
	s.mu.Lock()
	down := s.cut == service
	if down && action == publicRead && time.Since(s.cutAt) < snapshotLife {
		down, healthy = false, append(slices.Clone(healthy), http.StatusServiceUnavailable)
	}
	s.mu.Unlock()
	start := time.Now()
	res, err := api.Try(method, path, body, opts...)
	if lostOnTheWire(err) && retriable(action) {
		// The connection closed under the request (once in thousands, on
		// loopback). A client retries what the contract makes safe to
		// repeat, and the retry's answer is held to the contract.
		s.t.Logf("%s %s %s: %v; asking again", service, method, path, err)
		res, err = api.Try(method, path, body, opts...)
	}
	took := time.Since(start)

	s.mu.Lock()
	if down && took > s.slowest {
		s.slowest = took
	}
	if err != nil {
		s.tally[action+" no answer"]++
	} else {
		s.tally[fmt.Sprint(action, " ", res.Status)]++
	}
	s.mu.Unlock()
	switch {
	case err != nil:
		s.wrongAnswer("%s %s %s: no answer after %s: %v", service, method, path, took.Round(time.Millisecond), err)
		return res, false
	case down && res.Status != http.StatusServiceUnavailable:
		s.wrongAnswer("%s %s %s with its database unreachable: %d %s, want 503", service, method, path, res.Status, res.Raw)
		return res, false
	case down:
		if problem := commonErrorBody(res.Raw); problem != "" {
			s.wrongAnswer("%s %s %s: 503 %s", service, method, path, problem)
			return res, false
		}
		return res, true
	case !slices.Contains(healthy, res.Status):
		s.wrongAnswer("%s %s %s: %d %s, want one of %v", service, method, path, res.Status, res.Raw, healthy)
		return res, false
	}
	return res, true
}

// commonErrorBody says what is wrong with raw as the common error body ("" if nothing).
func commonErrorBody(raw string) string {
	var body errs.Body
	dec := json.NewDecoder(bytes.NewBufferString(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || len(body.Errors) == 0 {
		return "not in the common error body: " + raw
	}
	for _, e := range body.Errors {
		if e.Message == "" {
			return "an error without a message: " + raw
		}
	}
	return ""
}

func (s *flashSale) wrongAnswer(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wrong = append(s.wrong, fmt.Sprintf(format, args...))
}

// requireRightAnswers fails the test if any answer broke the contract, and
// checks the outage was one: the traffic went on and was refused.
func (s *flashSale) requireRightAnswers(cut string, refused ...string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	const show = 20
	wrong := s.wrong
	if len(wrong) > show {
		wrong = append(wrong[:show:show], fmt.Sprintf("... and %d more", len(s.wrong)-show))
	}
	assert.Empty(s.t, wrong, "answers that break the contract (%d)", len(s.wrong))
	for _, action := range refused {
		assert.Positive(s.t, s.tally[action+" 503"], "%s was asked to %s while %s's database was cut: %v", cut, action, cut, s.tally)
	}
}

// Each service's own records, as few fields as the comparison needs.
type (
	ticketsDoc struct {
		ID      primitive.ObjectID `bson:"_id"`
		OrderID string             `bson:"orderId"`
	}
	replicaDoc struct {
		ID      primitive.ObjectID `bson:"_id"`
		Version int64              `bson:"version"`
		OrderID string             `bson:"orderId"`
		Sold    bool               `bson:"sold"`
	}
	orderDoc struct {
		ID      primitive.ObjectID `bson:"_id"`
		Status  string             `bson:"status"`
		Version int64              `bson:"version"`
		Orphan  bool               `bson:"orphan"`
		Ticket  struct {
			ID string `bson:"id"`
		} `bson:"ticket"`
	}
	paymentsOrderDoc struct {
		ID      string `bson:"_id"`
		Version int64  `bson:"version"`
		Status  string `bson:"status"`
	}
	chargeDoc struct {
		OrderID        string `bson:"orderId"`
		Status         string `bson:"status"`
		StripeRefundID string `bson:"stripeRefundId"`
	}
)

// readInto reads every document of svc's collection into docs (a pointer to a slice).
func readInto(ctx context.Context, svc *harness.Service, collection string, docs any) error {
	cur, err := svc.DB.Collection(collection).Find(ctx, bson.M{})
	if err == nil {
		err = cur.All(ctx, docs)
	}
	if err != nil {
		return fmt.Errorf("reading %s's %s: %w", svc.Name, collection, err)
	}
	return nil
}

// disagreements lists every way the services' records of the sale contradict
// each other, or the events that must have passed between them; none once
// every event was delivered exactly once in effect.
//
//   - tickets and orders' replica: the same version, holder and sold flag for
//     every ticket (a skipped ticket:updated leaves the replica behind, one
//     applied twice cannot: vN goes only on top of vN-1);
//   - tickets and orders' orders: a ticket is reserved by the one open order
//     for it, sold to the one complete order, free when it has neither (an
//     order:created, order:cancelled or order:completed that never reached
//     tickets leaves it held, free or unsold);
//   - a ticket's version counts the changes orders' orders and the seller's
//     edits explain: at least every edit and the hold or sale that stands
//     (nothing lost), at most what applying each event once allows (nothing
//     twice);
//   - payments' replica of every order has its status and version; a charge
//     that stands belongs to a complete order and every complete order has
//     one; expiration holds a job for every open order and none for a settled
//     one.
func (s *flashSale) disagreements() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	var (
		ticketDocs     []ticketsDoc
		replica        []replicaDoc
		orders         []orderDoc
		paymentsOrders []paymentsOrderDoc
		charges        []chargeDoc
	)
	for _, read := range []struct {
		svc        *harness.Service
		collection string
		docs       any
	}{
		{s.tickets, "tickets", &ticketDocs},
		{s.orders, "tickets", &replica},
		{s.orders, "orders", &orders},
		{s.payments, "orders", &paymentsOrders},
		{s.payments, "charges", &charges},
	} {
		if err := readInto(ctx, read.svc, read.collection, read.docs); err != nil {
			return []string{err.Error()}
		}
	}
	s.mu.Lock()
	edits := maps.Clone(s.edits)
	s.mu.Unlock()
	// Both are back to serving, by themselves: tickets is read for every
	// ticket below, orders here.
	if res, err := s.orders.API.Try("GET", "/api/orders", nil, apitest.As(s.buyers[0])); err != nil || res.Status != http.StatusOK {
		add("orders does not serve a buyer's orders: %v %v", res, err)
	}

	replicaOf := map[string]replicaDoc{}
	for _, d := range replica {
		replicaOf[d.ID.Hex()] = d
	}
	ordersFor := map[string][]orderDoc{}
	orderByID := map[string]orderDoc{}
	for _, o := range orders {
		orderByID[o.ID.Hex()] = o
		if !o.Orphan {
			ordersFor[o.Ticket.ID] = append(ordersFor[o.Ticket.ID], o)
		}
	}

	known := map[string]bool{}
	for _, doc := range ticketDocs {
		id := doc.ID.Hex()
		known[id] = true
		res, err := s.tickets.API.Try("GET", "/api/tickets/"+id, nil)
		if err != nil || res.Status != http.StatusOK {
			add("ticket %s: tickets does not show it: %v %v", id, res, err)
			continue
		}
		var tk ticketBody
		if err := json.Unmarshal([]byte(res.Raw), &tk); err != nil {
			add("ticket %s: %v", id, err)
			continue
		}
		if tk.Reserved != (doc.OrderID != "" && !tk.Sold) {
			add("ticket %s: tickets shows reserved=%t sold=%t but holds it for %q", id, tk.Reserved, tk.Sold, doc.OrderID)
		}
		r, ok := replicaOf[id]
		switch {
		case !ok:
			add("ticket %s: orders never heard of it (tickets at v%d)", id, tk.Version)
		case r.Version != tk.Version:
			add("ticket %s: tickets at v%d, orders' replica at v%d", id, tk.Version, r.Version)
		}
		if ok && (r.OrderID != doc.OrderID || r.Sold != tk.Sold) {
			add("ticket %s: tickets has it %s, orders' replica %s", id, holding(doc.OrderID, tk.Sold), holding(r.OrderID, r.Sold))
		}

		var open, complete, cancelled []string
		for _, o := range ordersFor[id] {
			switch o.Status {
			case "created":
				open = append(open, o.ID.Hex())
			case "complete":
				complete = append(complete, o.ID.Hex())
			case "cancelled":
				cancelled = append(cancelled, o.ID.Hex())
			default:
				add("order %s: status %q", o.ID.Hex(), o.Status)
			}
		}
		holders := append(slices.Clone(open), complete...)
		switch {
		case len(holders) > 1:
			add("ticket %s: held by %d orders at once: open %v, complete %v", id, len(holders), open, complete)
		case len(holders) == 0 && doc.OrderID != "":
			add("ticket %s: tickets has it %s, but orders has no open or complete order for it (cancelled: %v)",
				id, holding(doc.OrderID, tk.Sold), cancelled)
		case len(holders) == 1 && doc.OrderID != holders[0]:
			add("ticket %s: orders has it %s, tickets %s", id, holding(holders[0], len(complete) == 1), holding(doc.OrderID, tk.Sold))
		case len(holders) == 1 && tk.Sold != (len(complete) == 1):
			add("ticket %s: orders has it %s, tickets %s", id, holding(holders[0], len(complete) == 1), holding(doc.OrderID, tk.Sold))
		}
		// Every edit moved the version, and the hold or the sale that stands
		// did. A settled order moved it twice at most (its hold and its end),
		// or less: an order:created that arrives after its order's end
		// changes nothing, and once the ticket is sold nothing else does.
		least := int64(edits[id] + len(open) + len(complete))
		most := int64(edits[id] + len(open) + 2*len(complete) + 2*len(cancelled))
		if tk.Version < least || tk.Version > most {
			add("ticket %s: at v%d, but %d edits and orders' %d open, %d complete, %d cancelled orders for it explain v%d to v%d",
				id, tk.Version, edits[id], len(open), len(complete), len(cancelled), least, most)
		}
	}
	for id := range replicaOf {
		if !known[id] {
			add("ticket %s: in orders' replica, unknown to tickets", id)
		}
	}

	paymentsOf := map[string]paymentsOrderDoc{}
	for _, p := range paymentsOrders {
		paymentsOf[p.ID] = p
		if o, ok := orderByID[p.ID]; !ok || o.Orphan {
			add("order %s: in payments' replica (%s v%d), not in orders", p.ID, p.Status, p.Version)
		}
	}
	standing := map[string]int{}
	for _, c := range charges {
		if c.Status == "completed" && c.StripeRefundID == "" {
			standing[c.OrderID]++
		}
	}
	for _, o := range orders {
		if o.Orphan {
			continue
		}
		id := o.ID.Hex()
		if !known[o.Ticket.ID] {
			add("order %s: for ticket %s, unknown to tickets", id, o.Ticket.ID)
		}
		// An order changes once at most: created (v0), then cancelled or complete (v1).
		if want := map[bool]int64{true: 0, false: 1}[o.Status == "created"]; o.Version != want {
			add("order %s: %s at v%d, want v%d", id, o.Status, o.Version, want)
		}
		p, ok := paymentsOf[id]
		switch {
		case !ok:
			add("order %s: payments never heard of it (%s v%d in orders)", id, o.Status, o.Version)
		case p.Status != o.Status || p.Version != o.Version:
			add("order %s: %s v%d in orders, %s v%d in payments' replica", id, o.Status, o.Version, p.Status, p.Version)
		}
		switch n := standing[id]; {
		case o.Status == "complete" && n != 1:
			add("order %s: complete with %d standing charges", id, n)
		case o.Status != "complete" && n != 0:
			add("order %s: %s but charged (not refunded)", id, o.Status)
		}
		hold := s.holdState(id)
		if want := map[bool]string{true: "scheduled", false: "none"}[o.Status == "created"]; hold != want {
			add("order %s: %s, but its expiry job in expiration is %s, want %s", id, o.Status, hold, want)
		}
	}
	sort.Strings(out)
	return out
}

func holding(orderID string, sold bool) string {
	switch {
	case orderID == "":
		return "free"
	case sold:
		return "sold to " + orderID
	}
	return "reserved by " + orderID
}

// requireAgreement waits (settleWithin at most) until every service agrees
// on every ticket and order, then requires that no event was ever parked:
// a parked event is one that a service gave up on.
func (s *flashSale) requireAgreement() {
	s.t.Helper()
	var mu sync.Mutex
	var last []string
	start := time.Now()
	agreed := assert.Eventually(s.t, func() bool {
		d := s.disagreements()
		mu.Lock()
		defer mu.Unlock()
		last = d
		return len(d) == 0
	}, settleWithin, time.Second)
	mu.Lock()
	defer mu.Unlock()
	if !agreed {
		s.t.Errorf("the services still disagree %s after the sale (%d):\n%s", settleWithin, len(last), strings.Join(last, "\n"))
	} else {
		s.t.Logf("every service agreed %s after the sale", time.Since(start).Round(time.Second))
	}
	for _, queue := range saleQueues {
		parked := s.sys.Parked(queue)
		if len(parked) == 0 {
			continue
		}
		var lines []string
		for _, p := range parked {
			reason := p.Reason
			if len(reason) > 160 {
				reason = reason[:160] + "..."
			}
			lines = append(lines, fmt.Sprintf("  %s parked at %s: %s", p.Subject, p.ParkedAt.Format(time.TimeOnly), reason))
		}
		s.t.Errorf("%s parked %d events:\n%s", queue, len(parked), strings.Join(lines, "\n"))
	}
	s.t.Logf("the sale ended with %d tickets and %d orders placed by the script", len(s.ticketIDs), len(s.placed))
}

// The assertions of the outage tests hold on a healthy system: the same
// sale, with every database reachable.
func TestAFlashSaleEndsWithEveryServiceAgreeing(t *testing.T) {
	s := newFlashSale(t, saleOptions{buyers: saleBuyers})
	s.rush()
	s.trade(5 * roundEvery)
	s.requireRightAnswers("")
	s.requireAgreement()
}

// The tickets database is unreachable for two minutes of a flash sale with
// cancellations and payments: tickets answers 503 meanwhile, orders keeps
// selling, and once the database is back tickets catches up with every
// order's events and orders with every ticket change, nothing parked.
func TestAFlashSaleSurvivesTheTicketsDatabaseBeingDown(t *testing.T) {
	s := newFlashSale(t, saleOptions{buyers: saleBuyers})
	s.rush()
	s.outage(s.tickets)
	s.requireRightAnswers("tickets", "read ticket", "reprice")
	s.mu.Lock()
	assert.Positive(t, s.tally["cancel 204"], "orders were cancelled while tickets could not hear of it: %v", s.tally)
	assert.Positive(t, s.tally["pay 201"], "orders were paid while tickets could not hear of it: %v", s.tally)
	s.mu.Unlock()
	s.requireAgreement()
}

// The orders database is unreachable for two minutes of a flash sale: orders
// answers 503 to buyers meanwhile (reserve, cancel, read) while the seller
// keeps listing and repricing and buyers keep paying, and once the database is
// back orders catches up with every ticket change and payment, nothing parked.
func TestAFlashSaleSurvivesTheOrdersDatabaseBeingDown(t *testing.T) {
	s := newFlashSale(t, saleOptions{buyers: saleBuyers})
	s.rush()
	s.outage(s.orders)
	s.requireRightAnswers("orders", "reserve", "cancel", "read order")
	s.mu.Lock()
	assert.Positive(t, s.tally["reprice 200"]+s.tally["list 201"], "tickets changed while orders could not hear of it: %v", s.tally)
	assert.Positive(t, s.tally["pay 201"], "orders were paid while orders could not hear of it: %v", s.tally)
	s.mu.Unlock()
	s.requireAgreement()
}
