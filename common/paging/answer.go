package paging

import (
	"encoding/json"
	"fmt"
)

// Answer is one page of a list as clients see it: the items under the list's
// name, then "next", the `after` of the following page — null on the last:
//
//	{"tickets": [...], "next": "…"}
type Answer[R any] struct {
	name  string
	Items []R
	Next  *string
}

// NewAnswer converts a page of items for the client under name, with next
// as Cut or Find returned it.
func NewAnswer[T, R any](name string, items []T, next string, convert func(T) R) Answer[R] {
	a := Answer[R]{name: name, Items: make([]R, len(items))}
	for i, item := range items {
		a.Items[i] = convert(item)
	}
	if next != "" {
		a.Next = &next
	}
	return a
}

// MarshalJSON writes the items under the list's name, then next.
func (a Answer[R]) MarshalJSON() ([]byte, error) {
	items, err := json.Marshal(a.Items)
	if err != nil {
		return nil, fmt.Errorf("paging: encoding %s: %w", a.name, err)
	}
	name, _ := json.Marshal(a.name)
	next, _ := json.Marshal(a.Next)
	return fmt.Appendf(nil, `{%s:%s,"next":%s}`, name, items, next), nil
}
