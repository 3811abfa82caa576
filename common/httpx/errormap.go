package httpx

import (
	"errors"

	"ticketing.dev/common/errs"
)

// ErrorMap says which answer each of a domain's errors gets: a service's
// toHTTP is its table. Entries are tried in order (errors.Is), so a wrapped
// domain error still finds its answer.
type ErrorMap []Mapped

// Mapped is one entry of an ErrorMap.
type Mapped struct {
	Err    error
	Answer errs.CustomError
}

// Map returns the answer for err, or err itself when the table has none —
// for WriteError to answer (503 for a database outage, 500 otherwise).
func (m ErrorMap) Map(err error) error {
	if answer := m.Find(err); answer != nil {
		return answer
	}
	return err
}

// Find returns the answer for err, nil when the table has none.
func (m ErrorMap) Find(err error) errs.CustomError {
	for _, e := range m {
		if errors.Is(err, e.Err) {
			return e.Answer
		}
	}
	return nil
}
