package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"ticketing.dev/common/events"
)

// Targets (issue 11): under sustained writes every event leaves its outbox
// soon after its write, and the backlog is gone soon after the load ends.
const (
	sustainedMaxEventP99 = 2 * time.Second
	sustainedMaxDrain    = 2 * time.Second
	// sustainedProbe is how long the closed loop runs that finds the rate
	// the system accepts listings at.
	sustainedProbe = 5 * time.Second
	// sustainedShare of the probed rate is what the sustained run offers:
	// the probe saturates the system, and a steady load needs headroom.
	sustainedShare = 0.8
	// sustainedInFlight bounds the open loop's requests in flight; a tick
	// that finds them all busy is counted as not sustained.
	sustainedInFlight = 256
)

// sustained offers POST /api/tickets at a steady rate for opts.SustainFor
// (the rate opts.SustainRate, or a share of what a closed loop achieves
// first) and measures, per event, how long after its write the broker
// delivered it, and how long after the load the last one came.
func (b *bench) sustained(ctx context.Context) error {
	watch, err := b.watchBroker(ctx)
	if err != nil {
		return err
	}
	defer closeWatch(ctx, watch)
	prefix := "Sustained " + b.runID
	got := newArrivals(func(e events.Envelope) (string, bool) {
		t, err := events.Decode[events.TicketCreated](e)
		return t.ID, err == nil && strings.HasPrefix(t.Title, prefix)
	})
	if err := b.subscribe(watch, events.SubjectTicketCreated, got); err != nil {
		return err
	}

	rate, probeNote, err := b.sustainedRate(ctx)
	if err != nil {
		return err
	}
	b.step("sustained writes: POST /api/tickets at %.0f/s for %s", rate, b.opts.SustainFor)
	load := b.offerListings(ctx, rate, prefix)

	waitErr := waitUntil(ctx, 2*time.Minute, "every sustained-write event to arrive", func(context.Context) (bool, error) {
		_, _, missing := got.of(load.ids)
		return missing == 0, nil
	})
	delays, last, missing := got.of(load.ids)
	drain := max(0, last.Sub(load.end))
	leftInOutbox, _ := b.db.tickets().CountDocuments(ctx, bson.M{"outbox.0": bson.M{"$exists": true}})

	p := func(q float64) time.Duration { return percentile(delays, q) }
	notes := []string{
		fmt.Sprintf("offered %.0f/s for %s; %d ticks found %d requests in flight and were skipped", rate, b.opts.SustainFor, load.skipped, sustainedInFlight),
		fmt.Sprintf("event delay (delivered by the broker - occurredAt, taken just before the write), %d events: p50 %s, p99 %s, max %s",
			len(delays), ms(p(50)), ms(p(99)), ms(p(100))),
		fmt.Sprintf("the last event arrived %s after the last response; %d delivered twice; %d tickets still with events in their outbox",
			ms(drain), got.dups, leftInOutbox),
	}
	if probeNote != "" {
		notes = append([]string{probeNote}, notes...)
	}
	if waitErr != nil {
		notes = append(notes, waitErr.Error())
	}
	b.add(row{
		Name: fmt.Sprintf("sustained: POST /api/tickets at %.0f/s for %s", rate, b.opts.SustainFor), Sample: load.sample,
		Want: []int{http.StatusCreated},
		Checks: []check{
			{What: fmt.Sprintf("every event published (missing %d of %d)", missing, len(load.ids)), Met: missing == 0},
			{What: fmt.Sprintf("event p99 < %s (got %s)", sustainedMaxEventP99, ms(p(99))), Met: missing == 0 && p(99) < sustainedMaxEventP99},
			{What: fmt.Sprintf("backlog empty within %s of the load's end (got %s)", sustainedMaxDrain, ms(drain)), Met: missing == 0 && drain < sustainedMaxDrain},
			{What: fmt.Sprintf("the offered rate was sustained (%d ticks skipped)", load.skipped), Met: load.skipped == 0},
		},
		Notes: notes,
	})
	return nil
}

// sustainedRate is the rate to offer: the one asked for, or a share of what
// the system sustained end to end just before (with a note saying so). A
// closed loop of listings runs for sustainedProbe; the rate it sustained
// counts until its last event has left the outbox, not only until its last
// answer: the relay publishes behind the inserts, and a rate the database
// accepts but the relay cannot follow is not sustained.
func (b *bench) sustainedRate(ctx context.Context) (rate float64, note string, err error) {
	if b.opts.SustainRate > 0 {
		return b.opts.SustainRate, "", nil
	}
	start := time.Now()
	probe := drive(ctx, budget{Workers: b.opts.Concurrency, Count: 1_000_000, Time: sustainedProbe}, func(ctx context.Context, i int) outcome {
		_, o := b.api.listTicket(ctx, b.sellers[i%len(b.sellers)], fmt.Sprintf("Probe %s #%d", b.runID, i), 25.5)
		return o
	})
	if err := b.drained(ctx, 2*time.Minute); err != nil {
		return 0, "", err
	}
	listed := float64(probe.Only(http.StatusCreated))
	accepted := listed / probe.Elapsed.Seconds()
	published := listed / time.Since(start).Seconds()
	rate = max(1, sustainedShare*published)
	note = fmt.Sprintf("rate: %.0f%% of the %.0f listings/s a closed loop of %d sustained for %s just before, counted until its last event left the outbox (%.0f/s counted to its last answer)",
		100*sustainedShare, published, b.opts.Concurrency, sustainedProbe, accepted)
	return rate, note, nil
}

// openLoad is what an open loop of listings did.
type openLoad struct {
	sample  *sample
	ids     []string  // the tickets created
	skipped int       // ticks that found every slot busy
	end     time.Time // when the last response came
}

// offerListings lists tickets at rate for SustainFor as an open loop: a new
// request every tick whatever the earlier ones are doing, so a slow system
// meets the same demand instead of setting its own pace.
func (b *bench) offerListings(ctx context.Context, rate float64, prefix string) openLoad {
	var (
		mu    sync.Mutex
		load  = openLoad{sample: &sample{Statuses: map[int]int{}}}
		s     = load.sample
		wg    sync.WaitGroup
		slots = make(chan struct{}, sustainedInFlight)
	)
	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	for i := 0; time.Since(start) < b.opts.SustainFor && ctx.Err() == nil; i++ {
		select {
		case slots <- struct{}{}:
		default:
			load.skipped++
			<-tick.C
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			rctx, cancel := context.WithTimeout(ctx, opTimeout)
			defer cancel()
			t0 := time.Now()
			id, o := b.api.listTicket(rctx, b.sellers[i%len(b.sellers)], fmt.Sprintf("%s #%d", prefix, i), 30.5)
			mu.Lock()
			defer mu.Unlock()
			if s.record(time.Since(t0), o) && o.Status == http.StatusCreated {
				load.ids = append(load.ids, id)
			}
		}()
		<-tick.C
	}
	tick.Stop()
	wg.Wait()
	load.end = time.Now()
	s.Elapsed = load.end.Sub(start)
	slices.Sort(s.Took)
	return load
}

// drained waits until no ticket has events in its outbox.
func (b *bench) drained(ctx context.Context, limit time.Duration) error {
	return waitUntil(ctx, limit, "the tickets outbox to drain", func(ctx context.Context) (bool, error) {
		n, err := b.db.tickets().CountDocuments(ctx, bson.M{"outbox.0": bson.M{"$exists": true}})
		return err == nil && n == 0, err
	})
}
