// Package events is the one place that defines every event of DESIGN.md §4:
// its subject and its payload. A payload type knows its subject, so a publisher
// cannot put a ticket on the order channel by mistake.
package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"ticketing.dev/common/money"
	"ticketing.dev/common/tracing"
)

// Subject is a NATS Streaming channel.
type Subject string

const (
	SubjectUserCreated        Subject = "user:created"
	SubjectTicketCreated      Subject = "ticket:created"
	SubjectTicketUpdated      Subject = "ticket:updated"
	SubjectOrderCreated       Subject = "order:created"
	SubjectOrderCancelled     Subject = "order:cancelled"
	SubjectOrderCompleted     Subject = "order:completed"
	SubjectExpirationComplete Subject = "expiration:complete"
	SubjectPaymentCreated     Subject = "payment:created"
	SubjectSessionRevoked     Subject = "session:revoked"
)

// Payload is the data of one kind of event.
type Payload interface {
	Subject() Subject
}

// Envelope is what travels on the wire: a unique id (consumers use it to
// recognise a redelivery), the subject, when it happened, and the payload.
// Trace is the W3C trace context of the span that published it (NATS
// Streaming has no headers), so the span that handles it joins the same
// trace (common/tracing); absent from envelopes written without tracing, and
// from those written before it existed, which decode as ever.
type Envelope struct {
	ID         string          `json:"id"`
	Subject    Subject         `json:"subject"`
	OccurredAt time.Time       `json:"occurredAt"`
	Data       json.RawMessage `json:"data"`
	Trace      tracing.Carrier `json:"trace,omitempty"`
}

// New wraps p in an envelope with a fresh id.
func New(p Payload) (Envelope, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return Envelope{}, fmt.Errorf("encoding %s: %w", p.Subject(), err)
	}
	return Envelope{ID: uuid.NewString(), Subject: p.Subject(), OccurredAt: time.Now().UTC(), Data: data}, nil
}

// Decode reads e's payload into a T, checking that e carries T's subject.
func Decode[T Payload](e Envelope) (T, error) {
	var p T
	if e.Subject != p.Subject() {
		return p, fmt.Errorf("event %s: subject %q, want %q", e.ID, e.Subject, p.Subject())
	}
	if err := json.Unmarshal(e.Data, &p); err != nil {
		return p, fmt.Errorf("event %s: decoding %s: %w", e.ID, e.Subject, err)
	}
	return p, nil
}

// OrderStatus is the lifecycle of an order.
type OrderStatus string

const (
	// StatusCreated: reserved, waiting for payment.
	StatusCreated OrderStatus = "created"
	// StatusCancelled: cancelled by the buyer or expired; the ticket is released.
	StatusCancelled OrderStatus = "cancelled"
	// StatusComplete: paid; the ticket is sold.
	StatusComplete OrderStatus = "complete"
)

type UserCreated struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

func (UserCreated) Subject() Subject { return SubjectUserCreated }

type TicketCreated struct {
	ID      string      `json:"id"`
	Version int64       `json:"version"`
	Title   string      `json:"title"`
	Price   money.Price `json:"price"`
	UserID  string      `json:"userId"`
}

func (TicketCreated) Subject() Subject { return SubjectTicketCreated }

type TicketUpdated struct {
	ID      string      `json:"id"`
	Version int64       `json:"version"`
	Title   string      `json:"title"`
	Price   money.Price `json:"price"`
	UserID  string      `json:"userId"`
	OrderID string      `json:"orderId,omitempty"`
	Sold    bool        `json:"sold,omitempty"`
}

func (TicketUpdated) Subject() Subject { return SubjectTicketUpdated }

type OrderTicket struct {
	ID    string      `json:"id"`
	Price money.Price `json:"price"`
}

type OrderCreated struct {
	ID        string      `json:"id"`
	Version   int64       `json:"version"`
	Status    OrderStatus `json:"status"`
	UserID    string      `json:"userId"`
	ExpiresAt time.Time   `json:"expiresAt"`
	Ticket    OrderTicket `json:"ticket"`
}

func (OrderCreated) Subject() Subject { return SubjectOrderCreated }

type TicketRef struct {
	ID string `json:"id"`
}

type OrderCancelled struct {
	ID      string    `json:"id"`
	Version int64     `json:"version"`
	Ticket  TicketRef `json:"ticket"`
}

func (OrderCancelled) Subject() Subject { return SubjectOrderCancelled }

type OrderCompleted struct {
	ID      string    `json:"id"`
	Version int64     `json:"version"`
	Ticket  TicketRef `json:"ticket"`
}

func (OrderCompleted) Subject() Subject { return SubjectOrderCompleted }

type ExpirationComplete struct {
	OrderID string `json:"orderId"`
}

func (ExpirationComplete) Subject() Subject { return SubjectExpirationComplete }

type PaymentCreated struct {
	ID       string `json:"id"`
	OrderID  string `json:"orderId"`
	StripeID string `json:"stripeId"`
}

func (PaymentCreated) Subject() Subject { return SubjectPaymentCreated }

// SessionRevoked ends sessions before their expiry: the one token ID (jti,
// signout) or, with RevokedBefore set, every token of UserID issued before
// it (signout-all). ExpiresAt is when the revoked token, or the last token
// RevokedBefore covers, would have expired; every JWT service keeps the
// revocation until then.
type SessionRevoked struct {
	ID            string    `json:"jti,omitempty"`
	UserID        string    `json:"userId"`
	ExpiresAt     time.Time `json:"expiresAt"`
	RevokedBefore time.Time `json:"revokedBefore,omitempty"`
}

func (SessionRevoked) Subject() Subject { return SubjectSessionRevoked }
