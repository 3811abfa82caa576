// Package order holds the rules about orders: how one is created from the
// ticket it reserved, who may see and cancel it, and how it moves from
// created to cancelled or complete, recording the event each change causes.
package order

import (
	"errors"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/common/money"
)

// DefaultExpirationWindow is how long a reservation holds a ticket.
const DefaultExpirationWindow = 15 * time.Minute

// DefaultMaxOpenOrders is how many created orders one buyer may hold at once
// (MAX_OPEN_ORDERS): enough for a group's seats at a few events, too few for
// a bot to hold a sale's inventory (DESIGN.md §9, OWASP OAT-021).
const DefaultMaxOpenOrders = 4

var (
	ErrNotFound = errors.New("order not found")
	ErrNotOwner = errors.New("not the buyer of this order")
	// ErrComplete: the order is paid; it cannot be cancelled.
	ErrComplete = errors.New("order is complete")
	// ErrCancelled: the order was cancelled (by its buyer or on expiry); it
	// cannot be completed. A late payment for it is refunded by payments.
	ErrCancelled = errors.New("order is cancelled")

	ErrTicketNotFound = errors.New("ticket not found")
	ErrTicketReserved = errors.New("ticket is reserved")
	ErrTicketSold     = errors.New("ticket is sold")
	ErrOwnTicket      = errors.New("you cannot buy your own ticket")
	// ErrTooManyOpenOrders: the buyer holds MAX_OPEN_ORDERS created orders.
	ErrTooManyOpenOrders = errors.New("too many open orders")
	// ErrReplicaBehind: a ticket:updated arrived before the versions under it.
	ErrReplicaBehind = errors.New("ticket replica is behind this version")
)

// Ticket is what an order keeps of the ticket it reserved: the title and the
// price of the version it reserved, whatever the seller does later.
type Ticket struct {
	ID    string
	Title string
	Price money.Price
}

// Order is one reservation.
type Order struct {
	ID        string
	UserID    string // the buyer
	Status    events.OrderStatus
	ExpiresAt time.Time
	Ticket    Ticket
	// TicketVersion is the replica version the reservation saw: Ticket's
	// title and price are that version's.
	TicketVersion int64
	// Version starts at 0 and grows by one with every change.
	Version   int64
	CreatedAt time.Time
	PaymentID string
	// Events are what the changes made so far caused; the store writes them
	// with the change.
	Events []events.Payload
}

// New is a fresh reservation of t (at version ticketVersion) by buyerID,
// expiring window after now.
func New(id, buyerID string, t Ticket, ticketVersion int64, now time.Time, window time.Duration) Order {
	o := Order{
		ID: id, UserID: buyerID, Status: events.StatusCreated, ExpiresAt: now.Add(window),
		Ticket: t, TicketVersion: ticketVersion, CreatedAt: now,
	}
	o.Events = append(o.Events, events.OrderCreated{
		ID: o.ID, Version: o.Version, Status: o.Status, UserID: o.UserID, ExpiresAt: o.ExpiresAt,
		Ticket: events.OrderTicket{ID: t.ID, Price: t.Price},
	})
	return o
}

// CheckOwner allows only the buyer.
func (o Order) CheckOwner(userID string) error {
	if o.UserID != userID {
		return ErrNotOwner
	}
	return nil
}

// Cancel moves a created order to cancelled. Cancelling a cancelled order
// changes nothing; a complete order cannot be cancelled.
func (o *Order) Cancel() error {
	switch o.Status {
	case events.StatusCancelled:
		return nil
	case events.StatusComplete:
		return ErrComplete
	}
	o.Status = events.StatusCancelled
	o.Version++
	o.Events = append(o.Events, events.OrderCancelled{ID: o.ID, Version: o.Version, Ticket: events.TicketRef{ID: o.Ticket.ID}})
	return nil
}

// Complete moves a created order to complete, paid by paymentID. A repeat
// changes nothing; a cancelled order cannot be completed.
func (o *Order) Complete(paymentID string) error {
	switch o.Status {
	case events.StatusComplete:
		return nil
	case events.StatusCancelled:
		return ErrCancelled
	}
	o.Status = events.StatusComplete
	o.PaymentID = paymentID
	o.Version++
	o.Events = append(o.Events, events.OrderCompleted{ID: o.ID, Version: o.Version, Ticket: events.TicketRef{ID: o.Ticket.ID}})
	return nil
}

// ReplicaTicket is orders' copy of a ticket, kept from tickets' events, plus
// the hold orders itself places on it.
type ReplicaTicket struct {
	ID       string
	Version  int64
	Title    string
	Price    money.Price
	SellerID string
	// OrderID is the order holding the ticket: orders' own truth, written
	// only by orders (reserve, release, sell), never from tickets' events.
	OrderID string
	// HeldBy is the buyer OrderID was placed for, known before the order
	// itself is stored: a buyer asking again finds their own hold by it.
	HeldBy string
	Sold   bool
}
