package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/mongox"
	"ticketing.dev/orders/internal/order"
)

// decideTimeout bounds how long a flow keeps asking the database to decide
// a write whose answer it lost, once the request itself may be gone.
const decideTimeout = 5 * time.Second

// longestTurn bounds how long a reservation waits for the one ahead of it on
// the same ticket (turns.go). A healthy one takes tens of milliseconds, and
// a few hundred in a flash sale's queue.
const longestTurn = time.Second

// Reserve creates an order for buyerID on ticketID. The reservation is the
// hold, one conditional update on the replica that exactly one of any number
// of concurrent buyers wins. This process's reservations of one ticket take
// turns (turns.go), so the buyers behind a winner find its hold placed. A
// read of the replica comes first and refuses,
// before any write, a buyer the replica already shows cannot win (refusedEarly);
// it only ever refuses, so the hold stays the arbiter. Before the hold, the buyer's
// open-order slot is taken (slots.go), the same way; only then is the order
// inserted, with order:created in its outbox. A reservation that ends without
// an order frees its slot again; one that cannot tell leaves the slot, like
// the hold, for the sweeper. A buyer at the cap gets order.ErrTooManyOpenOrders
// unless their own live order holds the ticket.
//
// fresh is false when the buyer asked again for a ticket their own live order
// holds, typically a retry after an answer that never reached them: they get
// that order back, not a 409 against themselves.
//
// The hold is released only when the order is known not to exist. An insert
// that returns an error may still have been stored — a dropped connection, a
// timeout, a cancelled request lose the answer, not the write — and releasing
// under a stored order would let a second buyer reserve the same ticket, both
// pay and both complete. So an ambiguous insert is decided the way the
// sweeper decides a hold without an order: by inserting a cancelled
// placeholder under the order's id. A duplicate key means the order is there
// (the buyer gets it); a placeholder that goes in means it is not and never
// can be (the hold is released). If the database cannot answer even that,
// the hold stays for the sweeper and the error is an outage (503).
func (s *Store) Reserve(ctx context.Context, buyerID, ticketID string, window time.Duration) (o order.Order, fresh bool, err error) {
	tid, err := parseTicketID(ticketID)
	if err != nil {
		return order.Order{}, false, err
	}
	done, err := s.turns.wait(ctx, ticketID, longestTurn)
	if err != nil {
		return order.Order{}, false, err
	}
	defer done()
	if err := s.refusedEarly(ctx, ticketID, buyerID); err != nil {
		return order.Order{}, false, err
	}
	orderID := primitive.NewObjectID().Hex()
	at := s.now().UTC()
	if err := s.takeSlot(ctx, buyerID, orderID, ticketID, at); err != nil {
		return s.slotRefused(ctx, buyerID, ticketID, orderID, err)
	}
	held, own, err := s.holdFor(ctx, tid, orderID, buyerID, at)
	if own != nil || err != nil {
		// No order is ever inserted under orderID: its slot goes now (or,
		// should that fail, with the sweeper).
		err = s.withSlotReleased(ctx, buyerID, orderID, err)
		if own != nil {
			return *own, false, nil
		}
		return order.Order{}, false, err
	}
	return s.place(ctx, order.New(orderID, buyerID, order.Ticket{ID: held.ID, Title: held.Title, Price: held.Price},
		held.Version, orderTime(s.now()), window))
}

// refusedEarly is the refusal the hold would give, read from the replica
// before anything is written: the ticket is unknown, the buyer's own, sold,
// or held by another buyer's reservation. In a flash sale nearly every buyer
// asks for a ticket someone has just taken; each would otherwise take an
// open-order slot, try the hold and free the slot again — three writes that
// queue behind the winners' for nothing. A ticket the buyer holds goes on to
// the hold (their retry gets their order back). The read may be stale only
// the way any answer is: a ticket freed just after it is refused as a race
// lost a moment later would be; a ticket shown free is still decided by the
// conditional hold, so nothing is sold twice.
func (s *Store) refusedEarly(ctx context.Context, ticketID, buyerID string) error {
	t, err := s.Ticket(ctx, ticketID)
	switch {
	case err != nil:
		return err
	case t.SellerID == buyerID:
		return order.ErrOwnTicket
	case t.Sold:
		return order.ErrTicketSold
	case t.OrderID != "" && t.HeldBy != buyerID:
		return order.ErrTicketReserved
	}
	return nil
}

// slotRefused answers a reservation whose slot was not taken: at the cap,
// the buyer's own live order on the ticket if there is one; otherwise the
// error, with the slot released in case the take landed with its answer lost.
func (s *Store) slotRefused(ctx context.Context, buyerID, ticketID, orderID string, err error) (order.Order, bool, error) {
	if errors.Is(err, order.ErrTooManyOpenOrders) {
		if own, ok := s.ownLiveOrder(ctx, ticketID, buyerID); ok {
			return own, false, nil
		}
		return order.Order{}, false, err
	}
	return order.Order{}, false, s.withSlotReleased(ctx, buyerID, orderID, err)
}

// holdFor places the hold for orderID. When the buyer's own earlier attempt
// holds the ticket it is settled first, and own is the buyer's live order if
// that is what holds it. A hold that failed other than by a refusal (its
// answer may be lost) is released: no order is ever inserted under orderID.
func (s *Store) holdFor(ctx context.Context, tid primitive.ObjectID, orderID, buyerID string, at time.Time) (held order.ReplicaTicket, own *order.Order, err error) {
	held, err = s.hold(ctx, tid, orderID, buyerID, at)
	if errors.Is(err, order.ErrTicketReserved) && held.HeldBy == buyerID {
		o, live, serr := s.settleOwnHold(ctx, held)
		switch {
		case serr != nil:
			return held, nil, serr
		case live:
			return held, &o, nil
		}
		held, err = s.hold(ctx, tid, orderID, buyerID, at)
	}
	if err != nil && !isDomainError(err) {
		if rerr := s.releaseDetached(ctx, tid.Hex(), orderID); rerr != nil {
			err = errors.Join(err, fmt.Errorf("the sweeper will release it: %w", rerr))
		}
	}
	return held, nil, err
}

// place inserts the order that holds its ticket and its buyer's slot. An
// insert whose outcome is ambiguous is decided (insertOutcome); one decided
// as not stored releases both, one undecided leaves both for the sweeper.
func (s *Store) place(ctx context.Context, o order.Order) (order.Order, bool, error) {
	insertErr := s.insert(ctx, &o)
	if insertErr == nil {
		return o, true, nil
	}
	stored, err := s.insertOutcome(ctx, &o, insertErr)
	switch {
	case err != nil:
		// The decision's error first: it is what the buyer is answered by
		// (an outage, 503), whatever the insert's own error was.
		return order.Order{}, false, errors.Join(fmt.Errorf("undecided; the hold and the slot stay for the sweeper: %w", err), insertErr)
	case stored:
		return o, true, nil
	}
	if rerr := s.releaseDetached(ctx, o.Ticket.ID, o.ID); rerr != nil {
		insertErr = errors.Join(insertErr, fmt.Errorf("the sweeper will release it: %w", rerr))
	}
	insertErr = s.withSlotReleased(ctx, o.UserID, o.ID, insertErr)
	if mongox.IsDuplicateKey(insertErr) {
		// A placeholder took the id first: this attempt was settled as dead
		// under it (the buyer's own retry, or the sweeper). The buyer's
		// answer is about the ticket, not about our database.
		return order.Order{}, false, errors.Join(order.ErrTicketReserved, insertErr)
	}
	return order.Order{}, false, insertErr
}

// withSlotReleased frees the slot of a reservation that failed with err and
// whose order is known never to be stored, and returns err.
func (s *Store) withSlotReleased(ctx context.Context, buyerID, orderID string, err error) error {
	if rerr := s.releaseSlotDetached(ctx, buyerID, orderID); rerr != nil {
		return errors.Join(err, fmt.Errorf("the sweeper will free its slot: %w", rerr))
	}
	return err
}

// ownLiveOrder is the buyer's own live order holding the ticket, if any: a
// buyer at the cap who asks again for a ticket they hold (a retry after a
// lost answer) gets their order back, not a refusal.
func (s *Store) ownLiveOrder(ctx context.Context, ticketID, buyerID string) (order.Order, bool) {
	t, err := s.Ticket(ctx, ticketID)
	if err != nil || t.HeldBy != buyerID || t.OrderID == "" || t.Sold {
		return order.Order{}, false
	}
	o, err := s.Get(ctx, t.OrderID)
	if err != nil || o.UserID != buyerID || o.Status != events.StatusCreated {
		return order.Order{}, false
	}
	return o, true
}

// insertOutcome decides whether the order whose insert returned insertErr is
// stored. A definite refusal (a validation error, a duplicate on another
// index) stored nothing. A duplicate key on the order's fresh id can only be
// this very insert, applied once already by a retried write, or a
// placeholder; reading the id tells which, and the answer is final because
// the server did answer this insert. Any other error is ambiguous and is
// decided by inserting the placeholder: the id is unique, so its answer is
// final too, even if the original insert is still on its way.
func (s *Store) insertOutcome(ctx context.Context, o *order.Order, insertErr error) (bool, error) {
	refused := mongox.IsRefused(insertErr)
	if refused && !mongox.IsDuplicateKey(insertErr) {
		return false, nil
	}
	oid, _ := mongox.ParseID(o.ID)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), decideTimeout)
	defer cancel()
	var (
		state orderState
		err   error
	)
	for wait := 50 * time.Millisecond; ; wait *= 2 {
		if refused {
			state, err = s.orderState(ctx, oid)
			if errors.Is(err, mongo.ErrNoDocuments) {
				return false, nil // the duplicate was on another index
			}
		} else {
			state, err = s.orderStatusOrPlaceholder(ctx, o.ID, o.Ticket.ID)
		}
		if err == nil || !mongox.IsUnavailable(err) || !sleep(ctx, wait) {
			break
		}
	}
	switch {
	case err != nil:
		return false, err
	case state.Status == events.StatusCancelled:
		// Our placeholder, the sweeper's, or the order itself cancelled in
		// the meantime: in every case nothing live holds the ticket.
		o.Events = nil
		return false, nil
	}
	stored, err := s.Get(ctx, o.ID)
	if err != nil {
		return false, err
	}
	// The insert landed, and its events with it.
	s.outbox.Queued()
	*o = stored
	return true, nil
}

// settleOwnHold looks at a hold placed for the buyer who asks again. If it is
// their live order they get it back (live). Otherwise — the order was
// cancelled, or was never stored (their earlier attempt died or answered 503)
// — the hold is settled as the sweeper would, at once, so the buyer need not
// wait for it. The order can leave created between the settling read and the
// read of the whole order (the buyer's own cancellation racing their retry);
// it is then settled again as what it has become, never answered as live.
func (s *Store) settleOwnHold(ctx context.Context, held order.ReplicaTicket) (o order.Order, live bool, err error) {
	state, err := s.settle(ctx, held.ID, held.OrderID)
	if err != nil || state.Status != events.StatusCreated {
		return order.Order{}, false, err
	}
	o, err = s.Get(ctx, held.OrderID)
	if err != nil {
		return order.Order{}, false, err
	}
	if o.Status != events.StatusCreated {
		_, err = s.settle(ctx, held.ID, held.OrderID)
		return order.Order{}, false, err
	}
	return o, true, nil
}

// isDomainError is a refusal with an answer for the buyer, as opposed to a
// database error.
func isDomainError(err error) bool {
	for _, e := range []error{order.ErrTicketNotFound, order.ErrTicketReserved, order.ErrTicketSold, order.ErrOwnTicket} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// releaseDetached releases a hold after a failed request: the request may be
// gone; the release must not go with it.
func (s *Store) releaseDetached(ctx context.Context, ticketID, orderID string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), decideTimeout)
	defer cancel()
	return s.release(ctx, ticketID, orderID)
}

// sleep waits d unless ctx ends first (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// orderTime is now at the precision MongoDB stores, so what Reserve returns
// equals what a later read returns.
func orderTime(now time.Time) time.Time { return now.UTC().Truncate(time.Millisecond) }

// Cancel cancels an order (check may refuse first, e.g. for a non-owner) and
// releases its hold on the ticket and its buyer's open-order slot. The
// releases run even when the order was cancelled already, so a retry (a
// redelivered expiration:complete, the lapse after it) heals a crash between
// the writes; each frees what it frees at most once.
func (s *Store) Cancel(ctx context.Context, id string, check func(order.Order) error) (order.Order, error) {
	o, err := s.Update(ctx, id, func(o *order.Order) error {
		if err := check(*o); err != nil {
			return err
		}
		return o.Cancel()
	})
	if err != nil {
		return o, err
	}
	if o.Status == events.StatusCancelled {
		if err := s.release(ctx, o.Ticket.ID, o.ID); err != nil {
			return o, err
		}
		if _, err := s.releaseSlot(ctx, o.UserID, o.ID); err != nil {
			return o, err
		}
	}
	return o, nil
}

// errHoldLost: a created order whose ticket is not held by it.
var errHoldLost = errors.New("the order does not hold its ticket")

// Complete completes a paid order and marks its ticket sold — only while the
// order holds its ticket. A cancelled order stays cancelled, and a created
// order whose hold is gone (whatever took it away) is cancelled now rather
// than completed: the ticket may be someone else's. Both return
// order.ErrCancelled, order:cancelled is (or was) published, and payments
// refunds the charge (DESIGN.md §5, late payment).
//
// The order of the steps is what makes this safe without a transaction.
// Every path that releases a hold does so only after the order left created
// (Cancel, the overdue lapse, the sweeper) or when the order is known never
// to exist (Reserve, the sweeper's placeholder). A created order is always
// at version 0, and Update writes "complete" only on the version it read. So
// the hold is checked after reading the order as created and before the
// write conditional on that read: if the order is still at that version when
// the write lands, nothing can have released its hold in between. Then the
// ticket is marked sold; a crash before that leaves a complete order with an
// unsold hold, which the sweeper finds and marks sold. Marking sold first
// instead would, on a crash or a cancellation racing in, leave a ticket sold
// to a cancelled order, which nothing looks for.
func (s *Store) Complete(ctx context.Context, id, paymentID string) (order.Order, error) {
	o, err := s.Update(ctx, id, func(o *order.Order) error {
		if o.Status == events.StatusCreated {
			if err := s.checkHold(ctx, o.Ticket.ID, o.ID); err != nil {
				return err
			}
		}
		return o.Complete(paymentID)
	})
	if errors.Is(err, errHoldLost) {
		cancelled, cerr := s.Cancel(ctx, id, func(order.Order) error { return nil })
		if cerr != nil {
			return cancelled, fmt.Errorf("cancelling order %s: %w", id, errors.Join(err, cerr))
		}
		return cancelled, fmt.Errorf("order %s: %w: %w", id, err, order.ErrCancelled)
	}
	if err != nil {
		return o, err
	}
	// The order is not open any more, whatever happens to the ticket: its
	// slot goes first, and again (a no-op) on a repeat of the payment.
	if _, err := s.releaseSlot(ctx, o.UserID, o.ID); err != nil {
		return o, err
	}
	if err := s.markSold(ctx, o.Ticket.ID, o.ID); err != nil {
		return o, err
	}
	return o, nil
}

// checkHold is errHoldLost unless orderID holds ticketID.
func (s *Store) checkHold(ctx context.Context, ticketID, orderID string) error {
	t, err := s.Ticket(ctx, ticketID)
	if errors.Is(err, order.ErrTicketNotFound) || err == nil && t.OrderID != orderID {
		return errHoldLost
	}
	return err
}
