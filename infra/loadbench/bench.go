package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
)

// pageSize is the list page a browser asks for (the API's default).
const pageSize = 20

// Targets (issue 5): browsing keeps up with the database, a flash sale sells
// each ticket once and answers quickly, and the services stay small.
const (
	browseMinRatio    = 0.80
	browseMaxP99      = 100 * time.Millisecond
	saleMaxP99        = 250 * time.Millisecond
	restLimitKiB      = 48 << 10
	underLoadLimitKiB = 128 << 10
)

// seedTime bounds each seeding loop; seeding that takes longer means the
// system is broken, not slow.
const seedTime = 5 * time.Minute

type bench struct {
	opts  config
	sys   *system
	db    *database
	api   *api
	out   io.Writer
	runID string

	buyers    []person
	sellers   []person
	catalogue []string
	rows      []row
	// saleLabel ends the flash sale's row name (-only sale names its cell).
	saleLabel string
	// sales are the flash sales' figures, for the table across transports.
	sales []saleFigures
	// watchers counts the broker connections made, each a client id of its own.
	watchers int
	memory   memoryReport
	// idle is what each process spent during the pause at rest, over idleFor.
	idle    cpuAccount
	idleFor time.Duration
}

// runOn runs the benchmark opts ask for on opts.Bus: everything, ending
// with the observability comparison on systems of its own, or one scenario
// alone. It returns the flash sales' figures besides.
func runOn(ctx context.Context, opts config, out io.Writer) (bool, []saleFigures, error) {
	switch opts.Only {
	case "observability":
		met, err := observability(ctx, opts, out)
		return met, nil, err
	case "side-by-side":
		met, err := sideBySide(ctx, opts, out)
		return met, nil, err
	case "":
		met, sales, err := runScenarios(ctx, opts, out)
		if err != nil || opts.BaseURL != "" {
			return met, sales, err // a system someone else runs keeps its settings
		}
		observed, err := observability(ctx, opts, out)
		return met && observed, sales, err
	}
	return runScenarios(ctx, opts, out)
}

// runScenarios seeds one system and runs the scenarios against it.
func runScenarios(ctx context.Context, opts config, out io.Writer) (bool, []saleFigures, error) {
	sys, err := openSystem(ctx, opts, out)
	if err != nil {
		return false, nil, err
	}
	defer sys.stop(opts.Keep)
	db, err := connectDatabase(ctx, sys.mongoURI)
	if err != nil {
		return false, nil, err
	}
	defer func() {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := db.dropScratch(cleanup); err != nil {
			fmt.Fprintln(out, "dropping the scratch collections:", err)
		}
		_ = db.client.Disconnect(cleanup)
	}()
	b := &bench{
		opts: opts, sys: sys, db: db, out: out, runID: randomID(),
		api: newAPI(sys.baseURL, max(opts.Concurrency, opts.SaleConcurrency, slices.Max(opts.SaleInFlight))),
	}
	if err := b.run(ctx); err != nil {
		return false, nil, err
	}
	return b.report(), b.sales, nil
}

// run seeds the system and runs the scenarios in order, sampling the
// processes' memory at start-up, at rest, at the peak and after.
func (b *bench) run(ctx context.Context) error {
	b.printMachine("before")
	b.memory.startup = snapshot(b.sys.pids())
	load := watch(b.sys.pids, 100*time.Millisecond)
	defer func() {
		if load != nil {
			load.Stop()
		}
	}()
	if b.opts.Only != "" {
		err := b.runAlone(ctx)
		b.memory.peak = load.Stop()
		load = nil
		b.memory.after = snapshot(b.sys.pids())
		return err
	}
	if err := b.seed(ctx); err != nil {
		return err
	}
	b.memory.rest = snapshot(b.sys.pids())
	if err := b.scenarios(ctx); err != nil {
		return err
	}
	b.memory.peak = load.Stop()
	load = nil
	if err := b.settle(ctx); err != nil {
		return err
	}
	b.memory.after = snapshot(b.sys.pids())
	b.printMachine("after")
	return ctx.Err()
}

// runAlone runs the one scenario -only names, with what it needs seeded
// first, and records the memory at rest where it has a rest.
func (b *bench) runAlone(ctx context.Context) error {
	switch b.opts.Only {
	case "sustained":
		b.memory.rest = b.memory.startup
		b.step("seeding: %d sellers sign up", b.opts.Sellers)
		if err := b.signUpSellers(ctx); err != nil {
			return err
		}
		if err := b.sustained(ctx); err != nil {
			return err
		}
	case "browse":
		return b.runBrowse(ctx)
	case "signin":
		b.step("seeding: %d buyers sign up", b.opts.Buyers)
		if err := b.signUps(ctx); err != nil {
			return err
		}
		b.memory.rest = snapshot(b.sys.pids())
		b.step("signing in")
		b.signIns(ctx)
	case "sale":
		b.memory.rest = b.memory.startup
		return b.runSaleMatrix(ctx)
	}
	return ctx.Err()
}

// runBrowse signs up only the sellers, lists the catalogue and measures the
// public reads at each layer that answers them (browsecache.go).
func (b *bench) runBrowse(ctx context.Context) error {
	b.step("seeding: %d sellers sign up and list %d tickets", b.opts.Sellers, b.opts.Catalogue)
	if err := b.signUpSellers(ctx); err != nil {
		return err
	}
	if err := b.listCatalogue(ctx); err != nil {
		return err
	}
	if err := b.settle(ctx); err != nil {
		return err
	}
	b.memory.rest = snapshot(b.sys.pids())
	b.step("browsing, layer by layer: the gateway's copy, a 304, tickets' snapshot")
	return b.browseLayers(ctx)
}

// seed signs the buyers and sellers up and lists the catalogue, and waits
// until the system is at rest again.
func (b *bench) seed(ctx context.Context) error {
	b.step("seeding: %d buyers and %d sellers sign up", b.opts.Buyers, b.opts.Sellers)
	if err := b.signUps(ctx); err != nil {
		return err
	}
	b.step("seeding: the sellers list %d tickets", b.opts.Catalogue)
	if err := b.listCatalogue(ctx); err != nil {
		return err
	}
	return b.settle(ctx)
}

// scenarios runs the measured scenarios: browsing, signing in, the flash
// sale and sustained writes, letting the system settle before the last.
func (b *bench) scenarios(ctx context.Context) error {
	b.step("browsing: the list of tickets for sale and %d tickets from it", viewsPerList)
	b.browse(ctx)
	b.step("browsing, each request alone: the list, then one ticket by id")
	b.browseList(ctx)
	b.browseTicket(ctx)
	b.step("signing in")
	b.signIns(ctx)
	b.step("flash sale: %d buyers, %d tickets", b.opts.Buyers, b.opts.SaleTickets)
	if err := b.flashSale(ctx); err != nil {
		return err
	}
	if err := b.settle(ctx); err != nil {
		return err
	}
	return b.sustained(ctx)
}

func (b *bench) step(format string, args ...any) {
	fmt.Fprintf(b.out, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (b *bench) printMachine(when string) {
	load, _ := os.ReadFile("/proc/loadavg")
	fields := strings.Fields(string(load))
	if len(fields) > 3 {
		fields = fields[:3]
	}
	fmt.Fprintf(b.out, "machine %s: %d CPUs, %s, load average %s\n", when, runtime.NumCPU(), runtime.Version(), strings.Join(fields, " "))
}

// timed is the budget of a timed scenario and its ceiling loop.
func (b *bench) timed() budget {
	return budget{Workers: b.opts.Concurrency, Count: 10_000_000, Time: b.opts.Duration}
}

// hashCeiling runs argon2id with auth's parameters, as many at once as auth
// runs them, for half the scenario time.
func (b *bench) hashCeiling(ctx context.Context) (*sample, cpuAccount) {
	return measured(b.sys.pids, func() *sample {
		return drive(ctx, b.hashBudget(), func(context.Context, int) outcome { return hashPassword() })
	})
}

func (b *bench) hashBudget() budget {
	return budget{Workers: b.hashers(), Count: 1_000_000, Time: b.opts.Duration / 2}
}

// hashers is how many hashes auth runs at once: one per CPU it may use, its
// GOMAXPROCS (the runner gives each service one, as its Kubernetes CPU limit
// does), or every CPU when nothing set it.
func (b *bench) hashers() int {
	if pid, ok := b.sys.pids()["auth"]; ok {
		if n, ok := goMaxProcs(pid); ok {
			return n
		}
	}
	return runtime.NumCPU()
}

func (b *bench) signUps(ctx context.Context) error {
	hashes, hashCPU := b.hashCeiling(ctx)
	n := b.opts.Buyers + b.opts.Sellers
	people := make([]person, n)
	s, cpu := measured(b.sys.pids, func() *sample {
		return drive(ctx, budget{Workers: b.opts.Concurrency, Count: n, Time: seedTime}, func(ctx context.Context, i int) outcome {
			role := "buyer"
			if i >= b.opts.Buyers {
				role = "seller"
			}
			var o outcome
			people[i], o = b.api.signUp(ctx, fmt.Sprintf("lb-%s-%s-%d@example.com", b.runID, role, i))
			return o
		})
	})
	b.add(row{
		Name: "sign up (seeding)", Sample: s, Want: []int{http.StatusCreated}, CPU: cpu,
		Ceiling: hashes, CeilingCPU: hashCPU, CeilingWhat: fmt.Sprintf("argon2id hash, %d at once as in auth", b.hashers()),
	})
	if got := s.Only(http.StatusCreated); got != n {
		return fmt.Errorf("only %d of %d signups succeeded (%v; first error: %v)", got, n, s.Statuses, s.FirstErr)
	}
	b.buyers, b.sellers = people[:b.opts.Buyers], people[b.opts.Buyers:]
	return nil
}

// signUpSellers signs up only the sellers, for a run of a scenario that
// needs no buyers.
func (b *bench) signUpSellers(ctx context.Context) error {
	b.sellers = make([]person, b.opts.Sellers)
	s := drive(ctx, budget{Workers: b.opts.Concurrency, Count: b.opts.Sellers, Time: seedTime}, func(ctx context.Context, i int) outcome {
		var o outcome
		b.sellers[i], o = b.api.signUp(ctx, fmt.Sprintf("lb-%s-seller-%d@example.com", b.runID, i))
		return o
	})
	if got := s.Only(http.StatusCreated); got != b.opts.Sellers {
		return fmt.Errorf("only %d of %d seller signups succeeded (%v; first error: %v)", got, b.opts.Sellers, s.Statuses, s.FirstErr)
	}
	return nil
}

func (b *bench) listCatalogue(ctx context.Context) error {
	n := b.opts.Catalogue
	seller := b.sellers[0].ID
	scratch, err := b.db.prepareScratchTickets(ctx)
	if err != nil {
		return fmt.Errorf("preparing the scratch tickets collection: %w", err)
	}
	seed := budget{Workers: b.opts.Concurrency, Count: n, Time: seedTime}
	ceiling, ceilingCPU := measured(b.sys.pids, func() *sample {
		return drive(ctx, seed, func(ctx context.Context, i int) outcome { return insertTicket(ctx, scratch, seller, i) })
	})
	ids := make([]string, n)
	s, cpu := measured(b.sys.pids, func() *sample {
		return drive(ctx, seed, func(ctx context.Context, i int) outcome {
			var o outcome
			ids[i], o = b.api.listTicket(ctx, b.sellers[i%len(b.sellers)], fmt.Sprintf("Concert %s #%d", b.runID, i), float64(10+i%90)+0.5)
			return o
		})
	})
	if err := b.db.dropScratch(ctx); err != nil {
		return err
	}
	b.add(row{
		Name: "list a ticket (seeding)", Sample: s, Want: []int{http.StatusCreated}, CPU: cpu,
		Ceiling: ceiling, CeilingCPU: ceilingCPU, CeilingWhat: "insertOne of the ticket with its event",
	})
	if got := s.Only(http.StatusCreated); got != n {
		return fmt.Errorf("only %d of %d listings succeeded (%v; first error: %v)", got, n, s.Statuses, s.FirstErr)
	}
	b.catalogue = ids
	return nil
}

// settle waits until every event the seeding caused is published and the
// orders replica has every ticket, then pauses so memory is read at rest.
func (b *bench) settle(ctx context.Context) error {
	b.step("settling: waiting for the outboxes to drain and the orders replica to catch up")
	ids := make([]primitive.ObjectID, 0, len(b.catalogue))
	for _, id := range b.catalogue {
		oid, _ := primitive.ObjectIDFromHex(id)
		ids = append(ids, oid)
	}
	pending := bson.M{"outbox.0": bson.M{"$exists": true}}
	err := waitUntil(ctx, 2*time.Minute, "the outboxes to drain and the replica to catch up", func(ctx context.Context) (bool, error) {
		for _, coll := range []*mongo.Collection{b.db.tickets(), b.db.users(), b.db.orders()} {
			n, err := coll.CountDocuments(ctx, pending)
			if err != nil || n > 0 {
				return false, err
			}
		}
		n, err := b.db.replica().CountDocuments(ctx, bson.M{"_id": bson.M{"$in": ids}})
		return n == int64(len(ids)), err
	})
	if err != nil {
		return err
	}
	start := time.Now()
	var perr error
	_, idle := measured(b.sys.pids, func() *sample {
		perr = pause(ctx, b.opts.Settle)
		return nil
	})
	if b.idle == nil {
		b.idle, b.idleFor = idle, time.Since(start)
	}
	return perr
}

// waitUntil polls cond every 250 ms until it holds or limit passes.
func waitUntil(ctx context.Context, limit time.Duration, what string, cond func(context.Context) (bool, error)) error {
	deadline := time.Now().Add(limit)
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s (last error: %v)", limit, what, last)
		}
		if err := pause(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

func (b *bench) browseList(ctx context.Context) {
	ceiling, s, ceilingCPU, cpu := versus(ctx, b.sys.pids, b.timed(), b.timed(),
		func(ctx context.Context, _ int) outcome { return b.db.listPage(ctx) },
		func(ctx context.Context, _ int) outcome {
			return b.api.call(ctx, http.MethodGet, fmt.Sprintf("/api/tickets?limit=%d", pageSize), "", nil)
		})
	b.add(row{
		Name: "  of which GET /api/tickets alone", Sample: s, Want: []int{http.StatusOK}, CPU: cpu,
		Ceiling: ceiling, CeilingCPU: ceilingCPU, CeilingWhat: "find for sale, sorted, limit 21",
	})
}

func (b *bench) browseTicket(ctx context.Context) {
	pick := func() string { return b.catalogue[mrand.IntN(len(b.catalogue))] }
	ceiling, s, ceilingCPU, cpu := versus(ctx, b.sys.pids, b.timed(), b.timed(),
		func(ctx context.Context, _ int) outcome { return b.db.ticketByID(ctx, pick()) },
		func(ctx context.Context, _ int) outcome {
			return b.api.call(ctx, http.MethodGet, "/api/tickets/"+pick(), "", nil)
		})
	b.add(row{
		Name: "  of which GET /api/tickets/:id alone", Sample: s, Want: []int{http.StatusOK}, CPU: cpu,
		Ceiling: ceiling, CeilingCPU: ceilingCPU, CeilingWhat: "findOne by _id",
	})
}

// viewsPerList is how many ticket pages a browsing visitor opens per list page.
const viewsPerList = 3

// browse is the browsing scenario the issue sets its target for: a visitor
// opens the list of tickets for sale, then viewsPerList of the tickets on it,
// so one request in four is the list. The ceiling issues the same mix to the
// database. Each endpoint is also measured alone (the rows after it), because
// the mix hides what each costs: the lookup by id is so cheap in the database
// that the two HTTP hops in front of it are a third of its work.
func (b *bench) browse(ctx context.Context) {
	pick := func() string { return b.catalogue[mrand.IntN(len(b.catalogue))] }
	ceiling, s, ceilingCPU, cpu := versus(ctx, b.sys.pids, b.timed(), b.timed(),
		func(ctx context.Context, i int) outcome {
			if isBrowseList(i) {
				return b.db.listPage(ctx)
			}
			return b.db.ticketByID(ctx, pick())
		},
		b.browseOp)
	b.add(row{
		Name: fmt.Sprintf("browse: 1 list + %d tickets", viewsPerList), Sample: s, Want: []int{http.StatusOK}, CPU: cpu,
		Ceiling: ceiling, CeilingCPU: ceilingCPU, CeilingWhat: fmt.Sprintf("the same mix: 1 find for sale, %d findOne by _id", viewsPerList),
		MinRatio: browseMinRatio, MaxP99: browseMaxP99,
	})
}

// isBrowseList says whether the browsing mix's i-th request is the list.
func isBrowseList(i int) bool { return i%(viewsPerList+1) == 0 }

// browseOp is the browsing mix's i-th request through the gateway.
func (b *bench) browseOp(ctx context.Context, i int) outcome {
	if isBrowseList(i) {
		return b.api.call(ctx, http.MethodGet, fmt.Sprintf("/api/tickets?limit=%d", pageSize), "", nil)
	}
	return b.api.call(ctx, http.MethodGet, "/api/tickets/"+b.catalogue[mrand.IntN(len(b.catalogue))], "", nil)
}

func (b *bench) signIns(ctx context.Context) {
	lookups, lookupCPU := measured(b.sys.pids, func() *sample {
		return drive(ctx, b.timed(), func(ctx context.Context, i int) outcome {
			return b.db.userByEmail(ctx, b.buyers[i%len(b.buyers)].Email)
		})
	})
	// Each buyer signs in at most 4 times: under the per-email burst of 5.
	t := b.timed()
	t.Count = 4 * len(b.buyers)
	hashes, s, hashCPU, cpu := versus(ctx, b.sys.pids, b.hashBudget(), t,
		func(context.Context, int) outcome { return hashPassword() },
		func(ctx context.Context, i int) outcome {
			return b.api.call(ctx, http.MethodPost, "/api/users/signin", "",
				map[string]string{"email": b.buyers[i%len(b.buyers)].Email, "password": benchPassword})
		})
	want := []int{http.StatusOK}
	notes := []string{fmt.Sprintf("the user lookup alone (findOne by email, %d at once): %.0f/s, p99 %s, %s of CPU each",
		t.Workers, lookups.Rate(), ms(lookups.Percentile(99)), ms(perOpCPU(lookupCPU, lookups)))}
	// A signin is a lookup and a hash. Auth hashes on the CPUs it may use;
	// the lookup runs in the database, on the same machine's CPUs.
	hash, lookup := perOpCPU(hashCPU, hashes), perOpCPU(lookupCPU, lookups)
	if hash > 0 && lookup > 0 {
		byHash := float64(b.hashers()) * float64(time.Second) / float64(hash)
		byBoth := float64(runtime.NumCPU()) * float64(time.Second) / float64(hash+lookup)
		notes = append(notes, fmt.Sprintf("so signins are bounded by the hash (%s of CPU, %d at once) at %.0f/s, and with the lookup on %d CPUs at %.0f/s",
			ms(hash), b.hashers(), byHash, runtime.NumCPU(), byBoth))
	}
	note := ""
	if b.sys.ownLimits {
		note = "per-address signin limit raised for this run (SIGNIN_ADDRESS_BURST); per-email limit as in production"
	} else {
		// Someone else's system keeps its limits: its 429s are the
		// per-address limit at work, reported, not counted as signins.
		want = append(want, http.StatusTooManyRequests)
		note = fmt.Sprintf("%d answered 429 (the system's per-address limit; its req/s counts only the 200s)", s.Statuses[http.StatusTooManyRequests])
	}
	notes = append(notes, note)
	b.add(row{
		Name: "sign in", Sample: s, Want: want, Rate: s.Statuses[http.StatusOK], CPU: cpu,
		Ceiling: hashes, CeilingCPU: hashCPU, CeilingWhat: fmt.Sprintf("argon2id hash, %d at once as in auth (half the time)", b.hashers()),
		Notes: notes,
	})
}

// listSaleTickets lists the flash sale's tickets from one seller and waits
// until orders has replicated every one, so no buyer meets an unknown ticket.
func (b *bench) listSaleTickets(ctx context.Context) ([]string, []primitive.ObjectID, error) {
	seller := b.sellers[len(b.sellers)-1]
	n := b.opts.SaleTickets
	ids := make([]string, n)
	s := drive(ctx, budget{Workers: b.opts.Concurrency, Count: n, Time: seedTime}, func(ctx context.Context, i int) outcome {
		var o outcome
		ids[i], o = b.api.listTicket(ctx, seller, fmt.Sprintf("Flash sale %s #%d", b.runID, i), 99.5)
		return o
	})
	if got := s.Only(http.StatusCreated); got != n {
		return nil, nil, fmt.Errorf("only %d of %d flash-sale tickets were listed (%v; first error: %v)", got, n, s.Statuses, s.FirstErr)
	}
	oids := make([]primitive.ObjectID, n)
	for i, id := range ids {
		oids[i], _ = primitive.ObjectIDFromHex(id)
	}
	err := waitUntil(ctx, 2*time.Minute, "orders to replicate the flash-sale tickets", func(ctx context.Context) (bool, error) {
		c, err := b.db.replica().CountDocuments(ctx, bson.M{"_id": bson.M{"$in": oids}})
		return c == int64(n), err
	})
	return ids, oids, err
}

// flashSale has every buyer order one of a few tickets at once, against the
// bare database loop doing the same, and checks exactly one order per ticket
// won. It watches the sale's events on the broker meanwhile (salewatch.go).
func (b *bench) flashSale(ctx context.Context) error {
	n := b.opts.SaleTickets
	ids, oids, err := b.listSaleTickets(ctx)
	if err != nil {
		return err
	}
	watch, err := b.watchSale(ctx, ids)
	if err != nil {
		return err
	}
	defer watch.close(ctx)

	// Buyers come in groups of buyers/tickets for one ticket, so each
	// group's requests are in flight together.
	ticketOf := func(i int) int { return i * n / b.opts.Buyers }
	sale := budget{Workers: b.opts.SaleConcurrency, Count: b.opts.Buyers, Time: 2 * time.Minute}
	scratch, err := b.db.prepareScratchReplica(ctx)
	if err != nil {
		return fmt.Errorf("preparing the scratch replica: %w", err)
	}
	ceiling, ceilingCPU := measured(b.sys.pids, func() *sample {
		return drive(ctx, sale, func(ctx context.Context, i int) outcome {
			return reserve(ctx, scratch, oids[ticketOf(i)], b.buyers[i].ID)
		})
	})
	if err := b.db.dropScratch(ctx); err != nil {
		return err
	}
	s, cpu := measured(b.sys.pids, func() *sample {
		return drive(ctx, sale, func(ctx context.Context, i int) outcome {
			return b.api.call(ctx, http.MethodPost, "/api/orders", b.buyers[i].Token, map[string]string{"ticketId": ids[ticketOf(i)]})
		})
	})

	winners := s.Statuses[http.StatusCreated]
	stored, distinct, err := b.storedOrders(ctx, ids)
	if err != nil {
		return err
	}
	locked := b.lockedTickets(ctx, ids)
	lag := watch.wait(ctx, winners, 30*time.Second)
	b.addSale(row{
		Name: fmt.Sprintf("flash sale: POST /api/orders (%d at once%s)", b.opts.SaleConcurrency, b.saleLabel), Sample: s,
		Want: []int{http.StatusCreated, http.StatusConflict}, CPU: cpu,
		Ceiling: ceiling, CeilingCPU: ceilingCPU, CeilingWhat: "findOneAndUpdate on a copy of the replica",
		MaxP99: saleMaxP99,
		Checks: []check{
			{What: fmt.Sprintf("%d winners (got %d)", n, winners), Met: winners == n},
			{What: fmt.Sprintf("%d orders stored for %d distinct tickets (got %d, %d)", n, n, stored, distinct), Met: stored == n && distinct == n},
			{What: fmt.Sprintf("tickets shows all %d reserved (got %d)", n, locked), Met: locked == n},
			{What: fmt.Sprintf("the bare loop also had exactly %d winners (got %d)", n, ceiling.Statuses[201]), Met: ceiling.Statuses[201] == n},
		},
		Notes: lag.notes(),
	}, lag)
	return nil
}

// storedOrders counts the open orders stored for the flash-sale tickets, and
// how many distinct tickets they hold.
func (b *bench) storedOrders(ctx context.Context, ticketIDs []string) (orders, tickets int, err error) {
	cur, err := b.db.orders().Find(ctx, bson.M{"ticket.id": bson.M{"$in": ticketIDs}, "status": "created"})
	if err != nil {
		return 0, 0, err
	}
	var docs []struct {
		Ticket struct {
			ID string `bson:"id"`
		} `bson:"ticket"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return 0, 0, err
	}
	seen := map[string]bool{}
	for _, d := range docs {
		seen[d.Ticket.ID] = true
	}
	return len(docs), len(seen), nil
}

// lockedTickets waits (a minute at most) for tickets to learn of every
// reservation, and returns how many of ids it shows reserved.
func (b *bench) lockedTickets(ctx context.Context, ids []string) int {
	locked := 0
	_ = waitUntil(ctx, time.Minute, "tickets to lock the sold-out tickets", func(ctx context.Context) (bool, error) {
		locked = 0
		for _, id := range ids {
			t, err := b.api.ticket(ctx, id)
			if err != nil {
				return false, err
			}
			if t.Reserved {
				locked++
			}
		}
		return locked == len(ids), nil
	})
	return locked
}

// perOpCPU is the CPU all processes spent per operation of s.
func perOpCPU(cpu cpuAccount, s *sample) time.Duration {
	if s.Count() == 0 {
		return 0
	}
	return cpu.total() / time.Duration(s.Count())
}

func randomID() string {
	buf := make([]byte, 4)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}
