package paging_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/paging"
	"ticketing.dev/common/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestQueryParameters(t *testing.T) {
	cursor := paging.Cursor{CreatedAt: paging.Truncate(time.Now()), ID: primitive.NewObjectID()}
	cases := []struct {
		query  string
		limit  int
		after  *paging.Cursor
		fields []string
	}{
		{"", paging.DefaultLimit, nil, nil},
		{"limit=1", 1, nil, nil},
		{"limit=100", 100, nil, nil},
		{"after=" + cursor.Encode(), paging.DefaultLimit, &cursor, nil},
		{"limit=0", 0, nil, []string{"limit"}},
		{"limit=101", 0, nil, []string{"limit"}},
		{"limit=-1", 0, nil, []string{"limit"}},
		{"limit=ten", 0, nil, []string{"limit"}},
		{"limit=", 0, nil, []string{"limit"}},
		{"after=nope", 0, nil, []string{"after"}},
		{"after=", 0, nil, []string{"after"}},
		{"limit=x&after=y", 0, nil, []string{"limit", "after"}},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			require.NoError(t, err)
			p, err := paging.FromQuery(q)
			if tc.fields == nil {
				require.NoError(t, err)
				assert.Equal(t, tc.limit, p.Limit)
				assert.Equal(t, tc.after, p.After)
				return
			}
			var invalid *errs.RequestValidationError
			require.ErrorAs(t, err, &invalid)
			var fields []string
			for _, f := range invalid.Fields {
				fields = append(fields, f.Field)
			}
			assert.Equal(t, tc.fields, fields)
		})
	}
}

// Paging through a real collection visits every item once, newest first,
// including items that share a createdAt.
func TestPagesVisitEveryItemOnceNewestFirst(t *testing.T) {
	ctx := testenv.Context(t)
	coll := testenv.NewDatabase(t).Collection("items")
	base := paging.Truncate(time.Now())
	var want []primitive.ObjectID
	for i := range 7 {
		id := primitive.NewObjectID()
		// Pairs of items share a timestamp, so the _id tie-break matters.
		_, err := coll.InsertOne(ctx, bson.M{"_id": id, "createdAt": base.Add(time.Duration(i/2) * time.Millisecond), "kind": "listed"})
		require.NoError(t, err)
		want = append([]primitive.ObjectID{id}, want...)
	}
	_, err := coll.InsertOne(ctx, bson.M{"_id": primitive.NewObjectID(), "createdAt": base, "kind": "hidden"})
	require.NoError(t, err)

	type item struct {
		ID        primitive.ObjectID `bson:"_id"`
		CreatedAt time.Time          `bson:"createdAt"`
	}
	var got []primitive.ObjectID
	after := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10, "paging must end")
		q := url.Values{"limit": {"3"}}
		if after != "" {
			q.Set("after", after)
		}
		p, err := paging.FromQuery(q)
		require.NoError(t, err)
		items, next, err := paging.Find(ctx, coll, bson.M{"kind": "listed"}, nil, p,
			func(it item) paging.Cursor { return paging.Cursor{CreatedAt: it.CreatedAt, ID: it.ID} })
		require.NoError(t, err)
		for _, it := range items {
			got = append(got, it.ID)
		}
		if next == "" {
			break
		}
		after = next
	}
	// Newer first; within one millisecond the larger _id first (ids made in
	// one process increase).
	assert.Equal(t, want, got)
}

func TestAnAnswerNamesItsListAndTheNextPage(t *testing.T) {
	double := func(n int) int { return 2 * n }
	raw, err := json.Marshal(paging.NewAnswer("tickets", []int{1, 2}, "abc", double))
	require.NoError(t, err)
	assert.JSONEq(t, `{"tickets":[2,4],"next":"abc"}`, string(raw))
	assert.True(t, strings.HasPrefix(string(raw), `{"tickets":`), "the list comes first, as clients read it")

	raw, err = json.Marshal(paging.NewAnswer("orders", []int(nil), "", double))
	require.NoError(t, err)
	assert.Equal(t, `{"orders":[],"next":null}`, string(raw), "an empty list is [] and the last page's next is null")
}
