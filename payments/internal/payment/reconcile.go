package payment

import (
	"context"
	"errors"
	"time"
)

// Reconcile settles every charge that needs it and nobody is working on — due
// refunds first, then open attempts past their order's deadline — and reports
// how many it could not settle yet. Each listing is read in bounded batches.
func (p *Payer) Reconcile(ctx context.Context) (int, error) {
	now := p.Now()
	open := 0
	settle := func(id string) {
		if err := p.Settle(ctx, id); err != nil && !errors.Is(err, ErrInProgress) {
			p.log.Warn("settling a charge; retrying later", "order_id", id, "err", err)
			open++
		}
	}
	if err := p.each(ctx, func(cursor string) (Page, error) { return p.charges.DueRefunds(ctx, cursor, p.batch()) }, settle); err != nil {
		return open, err
	}
	err := p.each(ctx, func(cursor string) (Page, error) { return p.charges.Lapsed(ctx, now, cursor, p.batch()) }, settle)
	return open, err
}

func (p *Payer) batch() int {
	if p.BatchSize > 0 {
		return p.BatchSize
	}
	return DefaultBatchSize
}

// each calls do for every order of a paged listing, one batch at a time.
func (p *Payer) each(ctx context.Context, list func(cursor string) (Page, error), do func(orderID string)) error {
	cursor := ""
	for {
		page, err := list(cursor)
		if err != nil {
			return err
		}
		for _, id := range page.OrderIDs {
			do(id)
		}
		if page.Next == "" || ctx.Err() != nil {
			return ctx.Err()
		}
		cursor = page.Next
	}
}

// Passes is how many passes the refunder has finished: the first one, at
// start, settles what a process that died left behind.
func (p *Payer) Passes() int64 { return p.passes.Load() }

// RunReconciler is the refunder and reconciler: it reconciles when woken (a
// cancellation recorded, a refund that failed) and every interval until ctx
// ends. A pass that left work open is retried sooner, backing off from a
// second up to the interval.
func (p *Payer) RunReconciler(interval time.Duration) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		retry := firstRetry
		for {
			next := interval
			open, err := p.Reconcile(ctx)
			p.passes.Add(1)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				p.log.Warn("reconciling charges", "err", err)
				fallthrough
			case open > 0:
				next = min(retry, interval)
				retry = min(2*retry, interval)
			default:
				retry = firstRetry
			}
			t := time.NewTimer(next)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-p.wake:
			case <-t.C:
			}
			t.Stop()
		}
	}
}
