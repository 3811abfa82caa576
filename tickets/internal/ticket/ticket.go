// Package ticket holds the rules about listings: what a valid title and price
// are, who may change a ticket and when, and how the order events from the
// orders service reserve, release and sell it, in whatever order they arrive.
package ticket

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"ticketing.dev/common/money"
)

// MaxTitleLength bounds a title, in characters, after trimming.
const MaxTitleLength = 200

// Ticket is one listing.
type Ticket struct {
	ID     string
	UserID string // the seller
	Title  string
	Price  money.Price
	// Version starts at 0 and grows by one with every change; each change is
	// published as ticket:updated carrying it.
	Version int64
	// OrderID is the order that holds the ticket (reserved) or bought it
	// (sold); "" while it is for sale.
	OrderID   string
	Sold      bool
	CreatedAt time.Time
}

var (
	ErrNotFound = errors.New("ticket not found")
	ErrNotOwner = errors.New("only the seller may change a ticket")
	ErrReserved = errors.New("ticket is reserved")
	ErrSold     = errors.New("ticket is sold")
	// ErrHeldByAnotherOrder: order:created arrived while another order still
	// holds the ticket here. Orders lets only one order hold a ticket, so the
	// other order's order:cancelled is on its way (or this event is older than
	// it and its own order:cancelled is): either way, try again later.
	ErrHeldByAnotherOrder = errors.New("ticket is held by another order here; its release has not arrived yet")
	// ErrSoldToAnotherOrder: two orders completed for one ticket, which orders
	// never allows. It is a bug to report, not an event to retry.
	ErrSoldToAnotherOrder = errors.New("ticket is already sold to another order")

	ErrPriceTooLow  = fmt.Errorf("must be at least %s", MinPrice)
	ErrPriceTooHigh = fmt.Errorf("must be at most %s", money.MaxPrice)
)

// NormalizeTitle trims the surrounding space a form tends to add.
func NormalizeTitle(title string) string { return strings.TrimSpace(title) }

// MinPrice is the smallest price a listing may ask: Stripe will not charge a
// card less than 0.50 in the currency we charge (USD), so a cheaper ticket
// could be reserved but never paid for.
const MinPrice money.Price = 50

// ValidatePrice checks a price against the listing rules: at least MinPrice
// and at most money.MaxPrice. (money.Price itself refuses more than two decimals.)
func ValidatePrice(p money.Price) error {
	switch {
	case p < MinPrice:
		return ErrPriceTooLow
	case p > money.MaxPrice:
		return ErrPriceTooHigh
	}
	return nil
}

// New is a fresh listing at version 0, for sale.
func New(sellerID, title string, price money.Price, now time.Time) Ticket {
	return Ticket{UserID: sellerID, Title: title, Price: price, CreatedAt: now}
}

// Reserved reports whether an order holds the ticket and has not bought it.
func (t Ticket) Reserved() bool { return t.OrderID != "" && !t.Sold }

// ForSale reports whether a buyer could reserve the ticket.
func (t Ticket) ForSale() bool { return t.OrderID == "" && !t.Sold }

// Edit changes title and price for the seller, while nobody holds the ticket.
func (t *Ticket) Edit(userID, title string, price money.Price) error {
	switch {
	case t.UserID != userID:
		return ErrNotOwner
	case t.Sold:
		return ErrSold
	case t.OrderID != "":
		return ErrReserved
	}
	t.Title, t.Price = title, price
	t.Version++
	return nil
}

// Reserve applies order:created. A repeat and any order for a sold ticket
// change nothing.
//
// Events travel on separate channels, so an order's order:created may arrive
// after its order:cancelled; reserving then would lock the ticket forever.
// Which orders are closed is not kept on the ticket (it would grow by one
// entry per cancellation): the store remembers them apart and calls Reserve
// only for an order it does not know to be closed, then undoes the hold with
// Release if the order was closed meanwhile (store.Tickets.Reserve).
func (t *Ticket) Reserve(orderID string) error {
	switch {
	case t.OrderID == orderID, t.Sold:
		return nil
	case t.OrderID != "":
		return ErrHeldByAnotherOrder
	}
	t.OrderID = orderID
	t.Version++
	return nil
}

// Release applies order:cancelled: the ticket is for sale again only if this
// order holds it; otherwise nothing changes. (That the order is closed, so its
// order:created cannot reserve the ticket later, the store records before it
// calls Release.)
func (t *Ticket) Release(orderID string) {
	if t.Sold || orderID == "" || t.OrderID != orderID {
		return
	}
	t.OrderID = ""
	t.Version++
}

// MarkSold applies order:completed. Orders completes only the order that
// holds the ticket, and a completed order holds it for good, so the ticket is
// sold to that order even if its order:created, or another order's
// order:cancelled, has not arrived yet.
func (t *Ticket) MarkSold(orderID string) error {
	if t.Sold {
		if t.OrderID == orderID {
			return nil
		}
		return ErrSoldToAnotherOrder
	}
	t.OrderID, t.Sold = orderID, true
	t.Version++
	return nil
}
