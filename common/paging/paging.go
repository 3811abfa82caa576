// Package paging pages through a collection newest first with an opaque
// cursor: `?limit=&after=`. The order is (createdAt, _id) descending, a total
// order, so a page never repeats or skips an item however many are added while
// a client pages; new items simply appear on the first page.
//
// Stored createdAt values must be truncated to milliseconds (Truncate), the
// precision MongoDB keeps, so that a cursor compares equal to what was stored.
package paging

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"ticketing.dev/common/errs"
)

const (
	// DefaultLimit is the page size when the client names none.
	DefaultLimit = 20
	// MaxLimit bounds what one request may ask for.
	MaxLimit = 100
)

// Cursor is the position of the last item of a page.
type Cursor struct {
	CreatedAt time.Time
	ID        primitive.ObjectID
}

// Encode renders c as an opaque token for the `after` parameter.
func (c Cursor) Encode() string {
	raw := strconv.FormatInt(c.CreatedAt.UnixMilli(), 10) + ":" + c.ID.Hex()
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(s string) (Cursor, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, false
	}
	ms, hex, found := strings.Cut(string(raw), ":")
	if !found {
		return Cursor{}, false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return Cursor{}, false
	}
	id, err := primitive.ObjectIDFromHex(hex)
	if err != nil {
		return Cursor{}, false
	}
	return Cursor{CreatedAt: time.UnixMilli(n).UTC(), ID: id}, true
}

// Truncate gives t the precision MongoDB stores, for createdAt fields.
func Truncate(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// Page is one request's window.
type Page struct {
	Limit int
	After *Cursor
}

// FromQuery reads `limit` (1..MaxLimit, default DefaultLimit) and `after` (a
// cursor from a previous page). Each bad parameter is a 400 naming it.
func FromQuery(q url.Values) (Page, error) {
	p := Page{Limit: DefaultLimit}
	invalid := &errs.RequestValidationError{}
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			invalid.Fields = append(invalid.Fields, errs.FieldError{Field: "limit", Message: fmt.Sprintf("must be a whole number from 1 to %d", MaxLimit)})
		} else {
			p.Limit = n
		}
	}
	if v := q.Get("after"); v != "" || q.Has("after") {
		c, ok := decodeCursor(v)
		if !ok {
			invalid.Fields = append(invalid.Fields, errs.FieldError{Field: "after", Message: "must be the next cursor of a previous page"})
		} else {
			p.After = &c
		}
	}
	if len(invalid.Fields) > 0 {
		return Page{}, invalid
	}
	return p, nil
}

// Filter narrows base to the items after the cursor.
func (p Page) Filter(base bson.M) bson.M {
	if p.After == nil {
		return base
	}
	after := bson.M{"$or": bson.A{
		bson.M{"createdAt": bson.M{"$lt": p.After.CreatedAt}},
		bson.M{"createdAt": p.After.CreatedAt, "_id": bson.M{"$lt": p.After.ID}},
	}}
	if len(base) == 0 {
		return after
	}
	return bson.M{"$and": bson.A{base, after}}
}

// FindOptions sorts newest first and fetches one item more than the page, so
// Cut can tell whether another page follows.
func (p Page) FindOptions() *options.FindOptions {
	return options.Find().
		SetSort(bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}).
		SetLimit(int64(p.Limit) + 1)
}

// Cut trims what FindOptions fetched to the page and returns the cursor of
// the next page, or "" when this is the last.
func Cut[T any](items []T, p Page, cursorOf func(T) Cursor) ([]T, string) {
	if len(items) <= p.Limit {
		return items, ""
	}
	items = items[:p.Limit]
	return items, cursorOf(items[len(items)-1]).Encode()
}

// Find reads page p of the documents in coll that match filter, newest
// first, decoded as T (projection may leave fields out; nil keeps all), and
// returns them with the next page's cursor ("" on the last page).
func Find[T any](ctx context.Context, coll *mongo.Collection, filter bson.M, projection any, p Page, cursorOf func(T) Cursor) ([]T, string, error) {
	opts := p.FindOptions()
	if projection != nil {
		opts.SetProjection(projection)
	}
	cur, err := coll.Find(ctx, p.Filter(filter), opts)
	if err != nil {
		return nil, "", fmt.Errorf("listing %s: %w", coll.Name(), err)
	}
	var docs []T
	if err := cur.All(ctx, &docs); err != nil {
		return nil, "", fmt.Errorf("listing %s: %w", coll.Name(), err)
	}
	docs, next := Cut(docs, p, cursorOf)
	return docs, next, nil
}
