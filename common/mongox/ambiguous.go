package mongox

import (
	"errors"

	"go.mongodb.org/mongo-driver/mongo"
)

// IsRefused reports whether err is the server's definite refusal of a write
// to one document (a duplicate key, a failed validation): the server answered,
// and the write was not applied. Every other error from a write is ambiguous
// — a timeout, a dropped connection, a cancelled context, a write concern
// error — because the server may have applied the write before the answer
// was lost, and only reading (or inserting under the same _id) decides it.
func IsRefused(err error) bool {
	if err == nil || mongo.IsNetworkError(err) || mongo.IsTimeout(err) {
		return false
	}
	var we mongo.WriteException
	return errors.As(err, &we) && we.WriteConcernError == nil && len(we.WriteErrors) > 0
}
