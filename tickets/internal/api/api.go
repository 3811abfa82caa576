// Package api serves the tickets routes (DESIGN.md §2):
//
//	POST /api/tickets       {title,price}  201 ticket (version 0)           signed in
//	GET  /api/tickets       ?limit=&after= 200 tickets for sale, a page
//	GET  /api/tickets/mine  ?limit=&after= 200 the caller's tickets, any state  signed in
//	GET  /api/tickets/:id                  200 ticket
//	PUT  /api/tickets/:id   {title,price}  200 ticket, version+1            the seller
//
// The two public reads (the list for sale and one ticket) carry a strong
// ETag, answer a matching If-None-Match with 304, and say
// `Cache-Control: public, max-age=1` with their Age; everything else is
// no-store (common/middleware.CacheControl). See snapshots.go.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/httpx"
	"ticketing.dev/common/middleware"
	"ticketing.dev/common/money"
	"ticketing.dev/common/mongox"
	"ticketing.dev/common/paging"
	"ticketing.dev/common/session"
	"ticketing.dev/tickets/internal/ticket"
)

// Tickets is the storage the routes need.
type Tickets interface {
	Create(ctx context.Context, t *ticket.Ticket) error
	Get(ctx context.Context, id string) (ticket.Ticket, error)
	Update(ctx context.Context, id string, change func(*ticket.Ticket) error) (ticket.Ticket, error)
	ForSale(ctx context.Context, p paging.Page) ([]ticket.Ticket, string, error)
	BySeller(ctx context.Context, sellerID string, p paging.Page) ([]ticket.Ticket, string, error)
}

// Deps is what the handlers use.
type Deps struct {
	Tickets Tickets
	Now     func() time.Time
	// Snapshots answers the public reads from memory (snapshots.go); the
	// store must call its Changed after every write. Nil: Mount makes one,
	// for a store that never changes behind it.
	Snapshots *Snapshots
}

type handlers struct{ Deps }

// Mount adds the tickets routes to r.
func Mount(r chi.Router, d Deps) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Snapshots == nil {
		d.Snapshots = NewSnapshots(SnapshotLife, d.Now)
	}
	h := &handlers{d}
	r.Route("/api/tickets", func(r chi.Router) {
		r.Get("/", httpx.Handle(h.forSale))
		r.Get("/{id}", httpx.Handle(h.show))
		r.Group(func(r chi.Router) {
			r.Use(middleware.RequireAuth)
			r.Post("/", httpx.Handle(h.create))
			r.Get("/mine", httpx.Handle(h.mine))
			r.Put("/{id}", httpx.Handle(h.update))
		})
	})
}

// ticketInput is the body of create and update.
type ticketInput struct {
	Title string       `json:"title" validate:"required,max=200"`
	Price *money.Price `json:"price" validate:"required"`
}

func (in *ticketInput) Normalize() { in.Title = ticket.NormalizeTitle(in.Title) }

// decodeTicketInput reads and checks a body, reporting every bad field at once.
func decodeTicketInput(r *http.Request) (title string, price money.Price, err error) {
	var in ticketInput
	err = httpx.DecodeJSON(r, &in)
	invalid := &errs.RequestValidationError{}
	if err != nil && !errors.As(err, &invalid) {
		return "", 0, err
	}
	// A price the decoder refused is named already, and left a zero behind.
	if in.Price != nil && !names(invalid, "price") {
		if perr := ticket.ValidatePrice(*in.Price); perr != nil {
			invalid.Fields = append(invalid.Fields, errs.FieldError{Field: "price", Message: perr.Error()})
		}
	}
	if len(invalid.Fields) > 0 {
		return "", 0, invalid
	}
	return in.Title, *in.Price, nil
}

func names(invalid *errs.RequestValidationError, field string) bool {
	for _, f := range invalid.Fields {
		if f.Field == field {
			return true
		}
	}
	return false
}

// ticketResponse is a ticket as clients see it. Which order holds a ticket
// is the buyer's business: clients see only whether it is reserved or sold.
type ticketResponse struct {
	ID        string      `json:"id"`
	Title     string      `json:"title"`
	Price     money.Price `json:"price"`
	UserID    string      `json:"userId"`
	Version   int64       `json:"version"`
	Reserved  bool        `json:"reserved"`
	Sold      bool        `json:"sold"`
	CreatedAt time.Time   `json:"createdAt"`
}

func toResponse(t ticket.Ticket) ticketResponse {
	return ticketResponse{
		ID: t.ID, Title: t.Title, Price: t.Price, UserID: t.UserID, Version: t.Version,
		Reserved: t.Reserved(), Sold: t.Sold, CreatedAt: t.CreatedAt,
	}
}

func (h *handlers) create(w http.ResponseWriter, r *http.Request) error {
	user, _ := session.UserFrom(r.Context())
	title, price, err := decodeTicketInput(r)
	if err != nil {
		return err
	}
	t := ticket.New(user.ID, title, price, h.Now())
	if err := h.Tickets.Create(r.Context(), &t); err != nil {
		return toHTTP(err)
	}
	httpx.WriteJSON(w, http.StatusCreated, toResponse(t))
	return nil
}

// show and forSale are the public reads: the same for everyone, signed in
// or not, answered from this process's snapshot (snapshots.go).
func (h *handlers) show(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	snap, err := h.Snapshots.Get("ticket "+id, func() ([]byte, error) {
		t, err := h.Tickets.Get(shared(r), id)
		if err != nil {
			return nil, err
		}
		return encode(toResponse(t))
	})
	return h.writeSnapshot(w, r, snap, err)
}

func (h *handlers) update(w http.ResponseWriter, r *http.Request) error {
	user, _ := session.UserFrom(r.Context())
	id := chi.URLParam(r, "id")
	if _, ok := mongox.ParseID(id); !ok {
		return toHTTP(ticket.ErrNotFound)
	}
	title, price, err := decodeTicketInput(r)
	if err != nil {
		return err
	}
	t, err := h.Tickets.Update(r.Context(), id, func(t *ticket.Ticket) error {
		return t.Edit(user.ID, title, price)
	})
	if err != nil {
		return toHTTP(err)
	}
	httpx.WriteJSON(w, http.StatusOK, toResponse(t))
	return nil
}

func (h *handlers) forSale(w http.ResponseWriter, r *http.Request) error {
	p, err := paging.FromQuery(r.URL.Query())
	if err != nil {
		return err
	}
	key := "for sale " + strconv.Itoa(p.Limit)
	if p.After != nil {
		key += " after " + p.After.Encode()
	}
	snap, err := h.Snapshots.Get(key, func() ([]byte, error) {
		list, next, err := h.Tickets.ForSale(shared(r), p)
		if err != nil {
			return nil, err
		}
		return encode(paging.NewAnswer("tickets", list, next, toResponse))
	})
	return h.writeSnapshot(w, r, snap, err)
}

func (h *handlers) writeSnapshot(w http.ResponseWriter, r *http.Request, snap httpx.Snapshot, err error) error {
	if err != nil {
		return toHTTP(err)
	}
	httpx.WriteSnapshot(w, r, snap, MaxAge, h.Now())
	return nil
}

// shared is the context of a read other requests may wait for: the one
// that started it going away must not fail theirs.
func shared(r *http.Request) context.Context { return context.WithoutCancel(r.Context()) }

// encode is v as httpx.WriteJSON writes it.
func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(b, '\n'), err
}

func (h *handlers) mine(w http.ResponseWriter, r *http.Request) error {
	user, _ := session.UserFrom(r.Context())
	p, err := paging.FromQuery(r.URL.Query())
	if err != nil {
		return err
	}
	list, next, err := h.Tickets.BySeller(r.Context(), user.ID, p)
	return writeList(w, list, next, err)
}

func writeList(w http.ResponseWriter, list []ticket.Ticket, next string, err error) error {
	if err != nil {
		return toHTTP(err)
	}
	httpx.WriteJSON(w, http.StatusOK, paging.NewAnswer("tickets", list, next, toResponse))
	return nil
}

// toHTTP is the one place where ticket errors become HTTP errors; a database
// outage becomes 503 in httpx.WriteError.
var toHTTP = httpx.ErrorMap{
	{Err: ticket.ErrNotFound, Answer: errs.NotFound("Ticket not found")},
	{Err: ticket.ErrNotOwner, Answer: errs.Forbidden("Only the seller may change this ticket")},
	{Err: ticket.ErrReserved, Answer: errs.Conflict("Ticket is reserved")},
	{Err: ticket.ErrSold, Answer: errs.Conflict("Ticket is sold")},
}.Map
