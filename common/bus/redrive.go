package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/google/uuid"

	"ticketing.dev/common/events"
)

// RedriveDurable is the durable subscription on each parked channel that
// remembers how far Redrive got.
const RedriveDurable = "redrive"

// RedriveReport says what Redrive did with one queue's parked channel.
type RedriveReport struct {
	Queue string
	// Republished counts records put back onto their subject.
	Republished int
	// Skipped counts records that hold no event a handler could take (a
	// malformed message): acked, and left in the channel's history.
	Skipped int
}

// Redrive puts every record parked for each queue back onto its original
// subject: the original envelope, with its event id, so every queue group on
// that subject gets it again and applies it once (handlers are idempotent).
// Each record is acked on the durable subscription RedriveDurable only after
// the broker acked its republication, so a run that fails or dies resumes
// where it stopped, and a second run republishes nothing the first finished;
// two runs at once are refused by the broker (one durable, one reader). It
// reads each channel up to a marker it appends first, so it ends once it has
// caught up. A record that fails again is parked again, as a new record.
func (c *Client) Redrive(ctx context.Context, queues ...string) ([]RedriveReport, error) {
	var reports []RedriveReport
	for _, q := range queues {
		r, err := c.redrive(ctx, q)
		reports = append(reports, r)
		if err != nil {
			return reports, fmt.Errorf("re-driving %s: %w", ParkedChannel(q), err)
		}
	}
	return reports, nil
}

// redriveMarker tells Redrive it has read everything parked before it
// started. Markers are JSON strings, which no Parked record is, so every
// reader can tell them apart.
type redriveMarker string

func (c *Client) redrive(ctx context.Context, queue string) (RedriveReport, error) {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return RedriveReport{Queue: queue}, ErrNotConnected
	}
	run := &redriveRun{c: c, queue: queue, report: RedriveReport{Queue: queue}, done: make(chan error, 1)}
	run.marker, _ = json.Marshal(redriveMarker("redrive end " + uuid.NewString()))
	if err := c.publishRaw(ctx, ParkedChannel(queue), run.marker, uuid.NewString()); err != nil {
		return run.report, fmt.Errorf("marking the end: %w", err)
	}
	err := conn.redrive(ctx, run)
	return run.end(), err
}

// wait returns the run's outcome, or ctx's end.
func (r *redriveRun) wait(ctx context.Context) error {
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// redriveRun is one pass of Redrive over a queue's parked channel. The
// subscription's callback runs one message at a time; mu guards what it
// shares with redrive once Close is under way.
type redriveRun struct {
	c      *Client
	queue  string
	marker []byte // this run's end marker

	mu       sync.Mutex
	report   RedriveReport
	finished bool
	done     chan error // receives the run's outcome, once
}

// handle republishes one parked record and acks it after the broker took the
// republication; it finishes the run at this run's marker or a failure.
func (r *redriveRun) handle(m delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.finished:
		return // not acked: the next run sees it
	case isMarker(m.data):
		_ = m.ack()
		if string(m.data) == string(r.marker) {
			r.finish(nil)
		}
		return
	}
	republished, err := r.c.redriveRecord(r.queue, m.data, m.seq)
	if err != nil {
		r.finish(fmt.Errorf("record %d: %w", m.seq, err))
		return
	}
	if republished {
		r.report.Republished++
	} else {
		r.report.Skipped++
	}
	if err := m.ack(); err != nil {
		r.finish(fmt.Errorf("acking record %d: %w", m.seq, err))
	}
}

// finish reports the run's outcome, once; r.mu is held.
func (r *redriveRun) finish(err error) {
	if !r.finished {
		r.finished = true
		r.done <- err
	}
}

// end stops the callback from acting on anything more and returns the report.
func (r *redriveRun) end() RedriveReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished = true
	return r.report
}

func isMarker(data []byte) bool { return len(data) > 0 && data[0] == '"' }

// redriveRecord republishes one parked record, the seq'th of its channel; it
// reports false for one that holds no event (a malformed message), which is
// skipped. Its broker message id is the event's id and the record's, so
// JetStream takes it although it saw the event before, and drops a second
// republication of the same record.
func (c *Client) redriveRecord(queue string, data []byte, seq uint64) (bool, error) {
	var p Parked
	if err := json.Unmarshal(data, &p); err != nil {
		c.log.Warn("not a parked record; skipped", "queue", queue, "err", err)
		return false, nil
	}
	env, err := decodeEnvelope(p.Message, events.Subject(p.Subject))
	if err != nil {
		c.log.Warn("parked message holds no event; skipped", "queue", queue, "subject", p.Subject, "reason", p.Reason, "err", err)
		return false, nil
	}
	if err := c.publishRaw(context.Background(), p.Subject, p.Message, fmt.Sprintf("%s:redrive:%s:%d", env.ID, queue, seq)); err != nil {
		return false, err
	}
	c.log.Info("re-drove a parked event", "queue", queue, "subject", p.Subject, "parked_at", p.ParkedAt, "reason", p.Reason)
	return true, nil
}

// ParkedQueues lists the queues that have a parked channel, from the broker's
// monitoring endpoint (monitorURL, e.g. http://nats:8222).
func ParkedQueues(ctx context.Context, monitorURL string) ([]string, error) {
	var queues []string
	const limit = 1024
	for offset := 0; ; offset += limit {
		u := fmt.Sprintf("%s/streaming/channelsz?limit=%d&offset=%d", strings.TrimRight(monitorURL, "/"), limit, offset)
		var page struct {
			Names []string `json:"names"`
		}
		if err := getJSON(ctx, u, &page); err != nil {
			return nil, err
		}
		for _, name := range page.Names {
			if q, ok := strings.CutPrefix(name, ParkedChannel("")); ok {
				queues = append(queues, q)
			}
		}
		if len(page.Names) < limit {
			return queues, nil
		}
	}
}

func getJSON(ctx context.Context, u string, v any) error {
	if _, err := url.ParseRequestURI(u); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("asking the broker's monitoring endpoint: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the broker's monitoring endpoint answered %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return errors.Join(errors.New("reading the broker's monitoring endpoint"), err)
	}
	return nil
}
