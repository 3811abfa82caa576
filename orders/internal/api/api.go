// Package api serves the orders routes (DESIGN.md §2), all for signed-in users:
//
//	POST   /api/orders       {ticketId}      201 order (the ticket is reserved),
//	                                         200 the buyer's own live order for it,
//	                                         409 at MAX_OPEN_ORDERS open orders,
//	                                         429 over the reserving rate limits
//	GET    /api/orders       ?limit=&after=  200 the caller's orders, a page
//	GET    /api/orders/:id                   200 order                  the buyer
//	DELETE /api/orders/:id                   204 cancelled, released    the buyer
package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/middleware"
	"ticketing.dev/common/money"
	"ticketing.dev/common/paging"
	"ticketing.dev/common/ratelimit"
	"ticketing.dev/common/session"
	"ticketing.dev/orders/internal/order"
)

// Orders is the storage the routes need.
type Orders interface {
	// Reserve's fresh is false when the buyer's own live order already
	// holds the ticket: that order is returned.
	Reserve(ctx context.Context, buyerID, ticketID string, window time.Duration) (o order.Order, fresh bool, err error)
	Get(ctx context.Context, id string) (order.Order, error)
	ByBuyer(ctx context.Context, buyerID string, p paging.Page) ([]order.Order, string, error)
	Cancel(ctx context.Context, id string, check func(order.Order) error) (order.Order, error)
}

// Deps is what the handlers use.
type Deps struct {
	Orders Orders
	// ExpirationWindow is how long a reservation lasts (ORDER_EXPIRATION_WINDOW).
	ExpirationWindow time.Duration
	// MaxOpenOrders is the cap on a buyer's open orders (MAX_OPEN_ORDERS),
	// named in the refusal.
	MaxOpenOrders int
	// Reserving limits POST /api/orders per buyer and per address; nil
	// leaves it unlimited.
	Reserving *ratelimit.Guard
	// Metrics counts reservations won and refused; nil counts nothing.
	Metrics *metrics.Set
}

type handlers struct{ Deps }

// Mount adds the orders routes to r.
func Mount(r chi.Router, d Deps) {
	if d.ExpirationWindow == 0 {
		d.ExpirationWindow = order.DefaultExpirationWindow
	}
	if d.MaxOpenOrders == 0 {
		d.MaxOpenOrders = order.DefaultMaxOpenOrders
	}
	h := &handlers{d}
	r.Route("/api/orders", func(r chi.Router) {
		r.Use(middleware.RequireAuth)
		if d.Reserving != nil {
			r.With(d.Reserving.Limit).Post("/", httpx.Handle(h.create))
		} else {
			r.Post("/", httpx.Handle(h.create))
		}
		r.Get("/", httpx.Handle(h.list))
		r.Get("/{id}", httpx.Handle(h.show))
		r.Delete("/{id}", httpx.Handle(h.cancel))
	})
}

type createRequest struct {
	TicketID string `json:"ticketId" validate:"required,mongodb"`
}

type ticketResponse struct {
	ID    string      `json:"id"`
	Title string      `json:"title"`
	Price money.Price `json:"price"`
}

type orderResponse struct {
	ID        string             `json:"id"`
	UserID    string             `json:"userId"`
	Status    events.OrderStatus `json:"status"`
	ExpiresAt time.Time          `json:"expiresAt"`
	Ticket    ticketResponse     `json:"ticket"`
	Version   int64              `json:"version"`
	CreatedAt time.Time          `json:"createdAt"`
}

func toResponse(o order.Order) orderResponse {
	return orderResponse{
		ID: o.ID, UserID: o.UserID, Status: o.Status, ExpiresAt: o.ExpiresAt,
		Ticket:  ticketResponse{ID: o.Ticket.ID, Title: o.Ticket.Title, Price: o.Ticket.Price},
		Version: o.Version, CreatedAt: o.CreatedAt,
	}
}

func (h *handlers) create(w http.ResponseWriter, r *http.Request) error {
	user, _ := session.UserFrom(r.Context())
	var req createRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	o, fresh, err := h.Orders.Reserve(r.Context(), user.ID, req.TicketID, h.ExpirationWindow)
	h.Metrics.Reserved(err == nil && fresh, refusal(err))
	if errors.Is(err, order.ErrTooManyOpenOrders) {
		return errs.Conflict(fmt.Sprintf(
			"You already hold %d open orders, the most allowed: pay for or cancel one first", h.MaxOpenOrders))
	}
	if err != nil {
		return toHTTP(err)
	}
	if !fresh {
		// A retry (or a second tab) of a reservation the buyer holds: the
		// same order, nothing new created.
		httpx.WriteJSON(w, http.StatusOK, toResponse(o))
		return nil
	}
	httpx.WriteJSON(w, http.StatusCreated, toResponse(o))
	return nil
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request) error {
	user, _ := session.UserFrom(r.Context())
	p, err := paging.FromQuery(r.URL.Query())
	if err != nil {
		return err
	}
	list, next, err := h.Orders.ByBuyer(r.Context(), user.ID, p)
	if err != nil {
		return toHTTP(err)
	}
	httpx.WriteJSON(w, http.StatusOK, paging.NewAnswer("orders", list, next, toResponse))
	return nil
}

func (h *handlers) show(w http.ResponseWriter, r *http.Request) error {
	user, _ := session.UserFrom(r.Context())
	o, err := h.Orders.Get(r.Context(), chi.URLParam(r, "id"))
	if err == nil {
		err = o.CheckOwner(user.ID)
	}
	if err != nil {
		return toHTTP(err)
	}
	httpx.WriteJSON(w, http.StatusOK, toResponse(o))
	return nil
}

// cancel answers 204 also for an order cancelled already: DELETE is
// idempotent, and the buyer's intent (no reservation) holds.
func (h *handlers) cancel(w http.ResponseWriter, r *http.Request) error {
	user, _ := session.UserFrom(r.Context())
	_, err := h.Orders.Cancel(r.Context(), chi.URLParam(r, "id"), func(o order.Order) error {
		return o.CheckOwner(user.ID)
	})
	if err != nil {
		return toHTTP(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// toHTTP is the one place where order errors become HTTP errors; a database
// outage becomes 503 in httpx.WriteError.
var toHTTP = httpx.ErrorMap{
	{Err: order.ErrNotFound, Answer: errs.NotFound("Order not found")},
	{Err: order.ErrNotOwner, Answer: errs.Forbidden("This order belongs to someone else")},
	{Err: order.ErrComplete, Answer: errs.Conflict("Order is complete")},
	{Err: order.ErrTicketNotFound, Answer: errs.NotFound("Ticket not found")},
	{Err: order.ErrTicketReserved, Answer: errs.Conflict("Ticket is reserved")},
	{Err: order.ErrTicketSold, Answer: errs.Conflict("Ticket is sold")},
	{Err: order.ErrOwnTicket, Answer: errs.BadRequest("You cannot buy your own ticket")},
}.Map

// refusal names, for the metrics, why a reservation was refused; "" if it
// was not. An outage is no refusal: the buyer's retry may win.
func refusal(err error) string {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return ""
	case errors.Is(err, order.ErrTicketReserved):
		return metrics.RefusedReserved
	case errors.Is(err, order.ErrTicketSold):
		return metrics.RefusedSold
	case errors.Is(err, order.ErrTooManyOpenOrders):
		return metrics.RefusedTooManyOpen
	case errors.Is(err, order.ErrTicketNotFound):
		return metrics.RefusedNotFound
	case errors.Is(err, order.ErrOwnTicket):
		return metrics.RefusedOwnTicket
	}
	return ""
}
